"""A simulated org over loopback HTTP that records what it was asked, and a client and store for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from detector.inventory.store import SqliteInventoryStore
from detector.okta import OktaClient, SswsAuth
from detector.sim import RateLimits, SimOrg, make_app

TOKEN = "00inventorySECRETtoken0123456789abcdef"


@dataclass
class Sim:
    org: SimOrg
    url: str = ""
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # (path, query, status)

    def asked(self, path_prefix: str) -> list[tuple[str, str, int]]:
        return [s for s in self.seen if s[0].startswith(path_prefix)]


StartSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    runners: list[web.AppRunner] = []

    async def start(rate_limits: RateLimits | None = None, roles: tuple[str, ...] = ("SUPER_ADMIN",)) -> Sim:
        org = SimOrg(name="acme", seed=3, rate_limits=rate_limits)
        org.add_api_token(TOKEN, name="inventory", roles=roles)
        sim = Sim(org)

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            resp = await handler(request)
            sim.seen.append((request.path, request.query_string, resp.status))
            return resp

        app = make_app(org)
        app.middlewares.insert(0, record)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        sim.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        org.base_url = sim.url
        return sim

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def sim(start_sim: StartSim) -> Sim:
    return await start_sim()


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[OktaClient]:
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0, backoff_base=0.05) as c:
        yield c


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteInventoryStore]:
    async with SqliteInventoryStore(tmp_path / "itdr.sqlite") as s:
        yield s
