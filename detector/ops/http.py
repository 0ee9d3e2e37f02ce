"""The one HTTP server of a process: ``/metrics``, ``/healthz``, ``/readyz`` and the admin API.

Every role serves its own (``detector run``, ``poller``, ``worker``, ``actions``); several roles on one
host need one port each (``--metrics-port``). ``/metrics`` serves only the daemon's own registry (labels
are tenant, detection, tier, action, outcome, error code: never a secret or an identity); ``/healthz``
says the process and its loop answer; ``/readyz`` answers 503 with the reasons until the role's own
readiness check passes. Routes under ``/api/`` need ``Authorization: Bearer <http.token>`` (compared in
constant time; without a configured token they answer 401), except the ``public`` ones, which verify
their callers themselves (a Slack signature, a signed one-time link). Which API routes a process has is
up to its role (``Api``).

Whoever can reach the port can hold connections open: a client that has not sent its request head
within REQUEST_TIMEOUT_S is closed, and past MAX_CONNECTIONS a new connection is closed on accept, so
slow clients cannot keep Prometheus (or a /healthz probe) out for longer than the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from detector.config import HttpSettings

log = structlog.get_logger(__name__)

# A client gets this long from connecting (or from its last response) to send a whole request head:
# aiohttp 3.14 arms its keep-alive timer at connect and closes a connection still waiting for one. The
# same bound is how long an unread request body is drained after the response (its lingering time).
REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 32  # Prometheus needs one or two; more are refused at once, not queued
SHUTDOWN_TIMEOUT_S = 2.0  # a stuck client must not hold up the process's exit


BEARER = web.RequestKey("bearer_ok", bool)  # on a public route: did the request carry the bearer token too


class OpsHttpError(RuntimeError):
    """The server could not start (e.g. its port is taken); the message says where and why."""


class NotStarted(RuntimeError):
    """A route's data is not open yet (the process is starting): answered 503, not 500."""


Readiness = Callable[[], Awaitable[list[str]] | list[str]]  # the reasons the role is not ready; [] = ready


@dataclass(frozen=True)
class Api:
    """What a role serves beyond metrics and health."""

    routes: Sequence[web.RouteDef] = ()  # under /api/: the bearer token is required
    public: Sequence[web.RouteDef] = ()  # under /api/ too, but they verify their callers themselves
    readiness: Readiness | None = None


class OpsHttpServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        role: str,
        settings: HttpSettings,
        *,
        api: Api | None = None,
        token: str | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.registry, self.role, self.settings = registry, role, settings
        self.api = api or Api()
        self._token = token.encode() if token else None
        self.request_timeout_s, self.max_connections = request_timeout_s, max_connections
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host = self.settings.bind
        return f"http://{f'[{host}]' if ':' in host else host}:{self.settings.port}"

    async def start(self) -> OpsHttpServer:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_routes(self.api.routes)
        app.router.add_routes(self.api.public)
        self._public = {(r.method, r.path) for r in self.api.public if isinstance(r, web.RouteDef)}
        runner = web.AppRunner(
            app,
            access_log=None,  # a scrape every 15 s is not news
            handle_signals=False,
            keepalive_timeout=self.request_timeout_s,
            lingering_time=self.request_timeout_s,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        assert runner.server is not None
        connections = _Slots(runner.server, self.max_connections)
        try:  # no web.TCPSite: it takes aiohttp's protocol factory as is, with no connection limit
            listener = await asyncio.get_running_loop().create_server(
                connections, self.settings.bind, self.settings.port
            )
        except OSError as exc:
            await runner.cleanup()
            raise OpsHttpError(f"cannot serve /metrics on {self.url}: {exc.strerror or exc}") from None
        self._runner, self._listener = runner, listener
        log.info("ops.http_serving", role=self.role, url=self.url)
        return self

    async def stop(self) -> None:
        runner, listener = self._runner, self._listener
        self._runner = self._listener = None
        if runner is not None and listener is not None:
            listener.close()
            await runner.cleanup()  # closes the open connections
            await listener.wait_closed()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": self.role})

    async def _readyz(self, _request: web.Request) -> web.Response:
        reasons: list[str] = []
        if self.api.readiness is not None:
            answer = self.api.readiness()
            reasons = await answer if inspect.isawaitable(answer) else answer
        if reasons:
            return web.json_response({"status": "not ready", "role": self.role, "reasons": reasons}, status=503)
        return web.json_response({"status": "ready", "role": self.role})

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Everything under /api/ but the public routes needs the bearer token. A public route that also
        takes the token (an approval by the API or by a signed link) reads ``request[BEARER]``."""
        if request.path.startswith("/api/"):
            if self._is_public(request):
                request[BEARER] = self._bearer_ok(request)
            elif self._token is None:
                return unauthorized("the admin API is off: set http.token in the config")
            elif not self._bearer_ok(request):
                return unauthorized("a valid bearer token is required")
        try:
            return await handler(request)
        except NotStarted as exc:
            return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "1"})

    def _bearer_ok(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return (
            self._token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), self._token)
        )

    def _is_public(self, request: web.Request) -> bool:
        route = request.match_info.route.resource
        return route is not None and (request.method, route.canonical) in self._public


def unauthorized(why: str) -> web.Response:
    return web.json_response({"error": why}, status=401, headers={"WWW-Authenticate": 'Bearer realm="okta-itdr"'})


class _Slots:
    """aiohttp's protocol factory with at most ``limit`` connections open: one more is closed as it is
    accepted, before aiohttp reads from it. Counted at connect and disconnect, which asyncio pairs."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server, self.limit, self.open = server, limit, 0

    def __call__(self) -> _Connection:
        return _Connection(self)


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler behind it if a slot was free, else closed at once."""

    def __init__(self, slots: _Slots) -> None:
        self._slots = slots
        self._handler: RequestHandler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._slots.open >= self._slots.limit:
            transport.abort()
            return
        self._slots.open += 1
        self._handler = self._slots.server()
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handler is not None:
            self._slots.open -= 1
            self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()


def build_server(
    registry: CollectorRegistry, role: str, settings: HttpSettings, api: Api | None = None
) -> OpsHttpServer:
    """The server of ``settings``, its bearer token read from its secret reference."""
    token = settings.token.resolve().get_secret_value() if settings.token else None
    return OpsHttpServer(registry, role, settings, api=api, token=token)


@contextlib.asynccontextmanager
async def serving(
    registry: CollectorRegistry, role: str, settings: HttpSettings | None, api: Api | None = None
) -> AsyncIterator[OpsHttpServer | None]:
    """Serve for the duration of the block; ``settings`` None: nothing is served."""
    if settings is None:
        yield None
        return
    server = await build_server(registry, role, settings, api).start()
    try:
        yield server
    finally:
        await server.stop()
