"""Fixtures for the simulator tests: a controllable clock, an org, and a running server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from openapi_core import OpenAPI

from detector.sim import RateLimits, SimOrg, SimServer
from tests.sim.openapi_wire import load_openapi

START = 1_780_000_000.0  # 2026-05-28T20:26:40Z


class FakeClock:
    """The org clock under test control: time moves only when a test advances it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def org(clock: FakeClock) -> SimOrg:
    return SimOrg(name="acme", seed=0, rate_limits=RateLimits(), clock=clock)


@pytest.fixture
async def server(org: SimOrg) -> AsyncIterator[SimServer]:
    srv = SimServer(org)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def ssws(org: SimOrg) -> str:
    """An SSWS token value registered in the org."""
    org.add_api_token("ssws-test-token", name="itdr-test")
    return "ssws-test-token"


@pytest.fixture
async def http(ssws: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session authenticated with the SSWS token."""
    async with aiohttp.ClientSession(headers={"Authorization": f"SSWS {ssws}"}) as session:
        yield session


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    """Okta's Management API description, loaded once (a few seconds even with the C loader)."""
    return load_openapi()
