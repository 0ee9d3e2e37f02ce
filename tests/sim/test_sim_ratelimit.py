"""Rate limits, concurrency limit, common headers and injected faults, over real HTTP."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp
import pytest

from detector.sim import RateLimits, SimOrg, SimServer

HEADERS = ("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "Date", "X-Okta-Request-Id")


@pytest.fixture
def org(clock: Any) -> SimOrg:
    return SimOrg(
        name="acme",
        seed=1,
        clock=clock,
        rate_limits=RateLimits(logs=3, user_get=5, users=4, default=6, window_seconds=10.0, concurrency=2),
    )


async def test_headers_on_every_response(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    uid = org.add_user(login="alice@acme.com", first_name="A", last_name="N")["id"]
    cases = [
        ("GET", "/api/v1/logs", 200),
        ("GET", f"/api/v1/users/{uid}", 200),
        ("GET", "/api/v1/users/nobody", 404),
        ("GET", "/api/v1/nothing-here", 404),
        ("PATCH", "/api/v1/logs", 405),
        ("GET", "/api/v1/logs?limit=5000", 400),
        ("POST", f"/api/v1/users/{uid}/lifecycle/unsuspend", 400),
    ]
    for method, path, expected in cases:
        async with http.request(method, server.url + path) as resp:
            assert resp.status == expected, (method, path)
            for name in HEADERS:
                assert name in resp.headers, (method, path, name)
            if expected >= 400:
                body = await resp.json()
                assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    clock.advance(10)  # fresh windows: the logs bucket allows only 3 per window here
    async with aiohttp.ClientSession() as anon, anon.get(server.url + "/api/v1/logs") as resp:
        assert resp.status == 403 and (await resp.json())["errorCode"] == "E0000005"
        assert all(name in resp.headers for name in HEADERS)
    async with (
        aiohttp.ClientSession(headers={"Authorization": "SSWS wrong"}) as bad,
        bad.get(server.url + "/api/v1/logs") as resp,
    ):
        assert resp.status == 401 and (await resp.json())["errorCode"] == "E0000011"
        assert all(name in resp.headers for name in HEADERS)


async def test_bucket_limit_429_and_reset(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    uid = org.add_user(login="bob@acme.com", first_name="B", last_name="K")["id"]
    reset = str(math.ceil(clock() + 10))
    remaining = []
    for _ in range(3):
        async with http.get(f"{server.url}/api/v1/logs") as resp:
            assert resp.status == 200
            assert resp.headers["X-Rate-Limit-Limit"] == "3"
            assert resp.headers["X-Rate-Limit-Reset"] == reset
            remaining.append(resp.headers["X-Rate-Limit-Remaining"])
    assert remaining == ["2", "1", "0"]
    async with http.get(f"{server.url}/api/v1/logs") as resp:
        assert resp.status == 429
        assert resp.headers["X-Rate-Limit-Remaining"] == "0"
        assert resp.headers["X-Rate-Limit-Limit"] == "3"
        assert resp.headers["X-Rate-Limit-Reset"] == reset
        body = await resp.json()
        assert body["errorCode"] == "E0000047" and body["errorLink"] == "E0000047"
        assert body["errorSummary"] == "API call exceeded rate limit due to too many requests."
        assert body["errorCauses"] == []
    # Other buckets are counted separately.
    async with http.get(f"{server.url}/api/v1/users/{uid}") as resp:
        assert resp.status == 200 and resp.headers["X-Rate-Limit-Limit"] == "5"
    async with http.delete(f"{server.url}/api/v1/users/{uid}/sessions") as resp:
        assert resp.status == 204 and resp.headers["X-Rate-Limit-Limit"] == "4"
    clock.advance(10)
    async with http.get(f"{server.url}/api/v1/logs") as resp:
        assert resp.status == 200 and resp.headers["X-Rate-Limit-Remaining"] == "2"


async def test_concurrency_limit(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    org.inject_fault("GET", "/api/v1/logs", "timeout", times=2, delay=0.3)

    async def slow() -> int:
        async with http.get(f"{server.url}/api/v1/logs") as resp:
            return resp.status

    tasks = [asyncio.create_task(slow()) for _ in range(2)]
    await asyncio.sleep(0.1)
    async with http.get(f"{server.url}/api/v1/logs") as resp:
        assert resp.status == 429
        assert resp.headers["X-Rate-Limit-Limit"] == "0"
        assert resp.headers["X-Rate-Limit-Remaining"] == "0"
        assert int(resp.headers["X-Rate-Limit-Reset"]) >= int(org.clock())
        assert (await resp.json())["errorCode"] == "E0000047"
    assert await asyncio.gather(*tasks) == [200, 200]
    assert org.limiter.in_flight == 0


async def test_faults(server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any) -> None:
    org.inject_fault("GET", "/api/v1/logs", "status", status=503)
    async with http.get(f"{server.url}/api/v1/logs") as resp:
        assert resp.status == 503 and (await resp.json())["errorCode"] == "E0000010"
        assert "X-Rate-Limit-Reset" in resp.headers
    org.append({"eventType": "user.session.start"})
    org.inject_fault("GET", "/api/v1/logs", "bad_json")
    async with http.get(f"{server.url}/api/v1/logs") as resp:
        assert resp.status == 200
        with pytest.raises(ValueError):
            await resp.json()
    # aiohttp retries an idempotent GET once after a disconnect, so show the reset with a POST.
    org.inject_fault("*", "/api/v1/logs", "reset")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(f"{server.url}/api/v1/logs") as resp:
            await resp.read()
    clock.advance(10)
    async with http.get(f"{server.url}/api/v1/logs") as resp:  # faults are used up
        assert resp.status == 200 and len(await resp.json()) == 1
