"""The simulator's HTTP server: routing plus one middleware doing what every Okta response shares.

The middleware assigns the request id, enforces the concurrency cap and the bucket's rate limit,
applies injected faults, renders errors as Okta error objects (or RFC 6749 objects on /oauth2),
and stamps `Date`, `X-Okta-Request-Id` and `X-Rate-Limit-*` on every response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from detector.sim import routes_apps, routes_groups, routes_logs, routes_oauth, routes_security, routes_users
from detector.sim.context import ORG_KEY, REQUEST_ID
from detector.sim.errors import OAuthError, OktaError
from detector.sim.faults import Fault
from detector.sim.org import SimOrg
from detector.sim.ratelimit import Verdict, bucket_for
from detector.sim.timefmt import http_date

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAULT_CODES = {
    400: "E0000001",
    401: "E0000011",
    403: "E0000006",
    404: "E0000007",
    429: "E0000047",
    500: "E0000009",
    503: "E0000010",
}


def _okta_error(exc: OktaError, org: SimOrg) -> web.Response:
    return web.Response(
        body=orjson.dumps(exc.body(org.ids.error_id())),
        status=exc.status or 500,
        content_type="application/json",
        headers=exc.headers,
    )


def _oauth_error(exc: OAuthError) -> web.Response:
    return web.Response(
        body=orjson.dumps(exc.body()),
        status=exc.status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **exc.headers},
    )


def _route_error(request: web.Request) -> OktaError | None:
    exc = request.match_info.http_exception
    if exc is None:
        return None
    if exc.status == 405:
        return OktaError("E0000022")
    return OktaError("E0000007", f"Not found: Resource not found: {request.path} (Resource)")


async def _serve(request: web.Request, handler: Handler, org: SimOrg, fault: Fault | None) -> web.StreamResponse:
    """Run the handler (or the armed fault) and turn raised errors into responses."""
    try:
        if fault is not None and fault.kind == "status":
            raise OktaError(_FAULT_CODES.get(fault.status, "E0000009"), status=fault.status)
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
        route_error = _route_error(request)
        if route_error is not None:
            raise route_error
        resp = await handler(request)
        if fault is not None and fault.kind == "bad_json" and isinstance(resp, web.Response) and resp.body:
            body = bytes(resp.body)  # type: ignore[arg-type]
            resp.body = body[: max(1, len(body) // 2)]
        return resp
    except OktaError as exc:
        return _okta_error(exc, org)
    except OAuthError as exc:
        return _oauth_error(exc)
    except web.HTTPException as exc:
        code = {404: "E0000007", 405: "E0000022", 413: "E0000003"}.get(exc.status, "E0000001")
        return _okta_error(OktaError(code, status=exc.status), org)


@web.middleware
async def okta_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    org = request.app[ORG_KEY]
    request_id = org.ids.request_id()
    request[REQUEST_ID] = request_id
    busy = org.limiter.enter()
    verdict: Verdict
    if busy is not None:
        verdict = busy
        resp: web.StreamResponse = _okta_error(OktaError("E0000047"), org)
    else:
        try:
            verdict = org.limiter.admit(bucket_for(request.method, request.path))
            if not verdict.allowed:
                resp = _okta_error(OktaError("E0000047"), org)
            else:
                fault = org.faults.take(request.method, request.path)
                if fault is not None and fault.kind == "reset":
                    # Drop the socket without a response; the write of this dummy response is a no-op.
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=500)
                resp = await _serve(request, handler, org, fault)
        finally:
            org.limiter.leave()
    resp.headers.update(verdict.headers())
    resp.headers["Date"] = http_date(org.clock())
    resp.headers["X-Okta-Request-Id"] = request_id
    return resp


def make_app(org: SimOrg) -> web.Application:
    """An aiohttp application serving `org` (use with AppRunner, SimServer or pytest-aiohttp)."""
    app = web.Application(middlewares=[okta_middleware])
    app[ORG_KEY] = org
    routes_logs.add_routes(app.router)
    routes_users.add_routes(app.router)
    routes_groups.add_routes(app.router)
    routes_apps.add_routes(app.router)
    routes_security.add_routes(app.router)
    routes_oauth.add_routes(app.router)
    return app


class SimServer:
    """Runs `make_app(org)` on a loopback port; the org URL is `server.url` (plain HTTP)."""

    def __init__(self, org: SimOrg, host: str = "127.0.0.1", port: int = 0) -> None:
        self.org = org
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("SimServer is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.org), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.org.base_url = self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
