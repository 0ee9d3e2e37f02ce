"""Fixtures: a real simulated Okta org served over loopback HTTP, and clients pointed at it.

`Sim` serves `detector.sim.make_app(org)` with one extra outermost middleware that records what
the server received (method, path, retry headers, time), so tests can count requests per window
and check retry headers without mocking anything on the client side.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from okta_keys import rsa_key
from okta_support import CLIENT_ID, SCOPES, SSWS_TOKEN, Seen, Sim, SimFactory

from detector.okta import OktaClient, PrivateKeyJwtAuth, SswsAuth
from detector.sim import RateLimits, SimOrg, make_app


@pytest.fixture
async def start_sim() -> AsyncIterator[SimFactory]:
    runners: list[web.AppRunner] = []

    async def start(rate_limits: RateLimits | None = None) -> Sim:
        org = SimOrg(name="acme", seed=0, rate_limits=rate_limits)
        sim = Sim(org, "")

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            seen = Seen(
                request.method,
                request.path,
                time.monotonic(),
                request.headers.get("X-Okta-Retry-Count"),
                request.headers.get("X-Okta-Retry-For"),
                request.headers.get("Authorization", " ").split(" ")[0] or None,
            )
            sim.seen.append(seen)
            resp = await handler(request)
            seen.status = resp.status
            seen.request_id = resp.headers.get("X-Okta-Request-Id")
            if "X-Rate-Limit-Remaining" in resp.headers:
                seen.remaining = int(resp.headers["X-Rate-Limit-Remaining"])
            return resp

        app = make_app(org)
        app.middlewares.insert(0, record)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        sim.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        org.base_url = sim.url
        return sim

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def sim(start_sim: SimFactory) -> Sim:
    s = await start_sim()
    s.org.add_api_token(SSWS_TOKEN, name="reader")
    return s


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[OktaClient]:
    async with OktaClient(sim.url, SswsAuth(SSWS_TOKEN), timeout=5.0) as c:
        yield c


@pytest.fixture(scope="session")
def client_key() -> tuple[bytes, dict[str, Any]]:
    return rsa_key("itdr-key-1")


@pytest.fixture
def oauth_auth(sim: Sim, client_key: tuple[bytes, dict[str, Any]]) -> Callable[..., PrivateKeyJwtAuth]:
    """Register a service app on the org and build the matching auth object."""

    def make(require_dpop: bool = False, dpop: bool | None = None, **kw: Any) -> PrivateKeyJwtAuth:
        pem, jwk = client_key
        sim.org.add_service_app(client_id=CLIENT_ID, jwks={"keys": [jwk]}, scopes=SCOPES, require_dpop=require_dpop)
        return PrivateKeyJwtAuth(sim.url, CLIENT_ID, pem, "itdr-key-1", SCOPES, dpop=dpop, **kw)

    return make
