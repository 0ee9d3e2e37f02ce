"""Retries, back-off and the rate-limit budget against the simulator's real limiter and faults."""

from __future__ import annotations

import asyncio
import time

import pytest
from okta_support import SSWS_TOKEN, Sim, SimFactory

from detector.okta import (
    OktaApiError,
    OktaAuthError,
    OktaBadResponse,
    OktaClient,
    OktaNotFound,
    OktaServerError,
    OktaTransportError,
    SswsAuth,
)
from detector.sim import RateLimits


def _client(sim: Sim, **kw: object) -> OktaClient:
    kw.setdefault("backoff_base", 0.05)
    return OktaClient(sim.url, SswsAuth(SSWS_TOKEN), **kw)  # type: ignore[arg-type]


async def _sim(start_sim: SimFactory, **limits: float) -> Sim:
    sim = await start_sim(RateLimits(**limits))  # type: ignore[arg-type]
    sim.org.add_api_token(SSWS_TOKEN)
    return sim


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried_with_retry_headers(sim: Sim, status: int) -> None:
    user = sim.org.add_user(login="alice@acme.com")
    sim.org.inject_fault("GET", "/api/v1/users/", "status", times=2, status=status)
    async with _client(sim) as client:
        got = await client.get_user(user["id"])
    assert got["id"] == user["id"]
    seen = sim.requests("/api/v1/users/")
    assert [s.status for s in seen] == [status, status, 200]
    assert [s.retry_count for s in seen] == [None, "1", "2"]
    # each retry names the X-Okta-Request-Id of the call it retries
    assert [s.retry_for for s in seen] == [None, seen[0].request_id, seen[1].request_id]


async def test_retries_give_up_after_max_retries(sim: Sim) -> None:
    sim.org.inject_fault("GET", "/api/v1/logs", "status", times=10, status=500)
    async with _client(sim, max_retries=2) as client:
        with pytest.raises(OktaServerError) as info:
            await client.fetch_log_page()
    assert info.value.error_code == "E0000009" and info.value.status == 500
    assert len(sim.requests()) == 3


async def test_timeout_is_retried(sim: Sim) -> None:
    sim.org.inject_fault("GET", "/api/v1/logs", "timeout", times=1, delay=1.0)
    async with _client(sim, timeout=0.3) as client:
        page = await client.fetch_log_page()
    assert page.next_url
    assert [s.retry_count for s in sim.requests()] == [None, "1"]


async def test_timeout_exhaustion_is_transport_error(sim: Sim) -> None:
    sim.org.inject_fault("GET", "/api/v1/logs", "timeout", times=5, delay=1.0)
    async with _client(sim, timeout=0.2, max_retries=1) as client:
        with pytest.raises(OktaTransportError) as info:
            await client.fetch_log_page()
    assert "timeout" in str(info.value) and info.value.path == "/api/v1/logs"


async def test_connection_reset_is_retried(sim: Sim) -> None:
    sim.org.inject_fault("GET", "/api/v1/logs", "reset", times=2)
    async with _client(sim) as client:
        page = await client.fetch_log_page()
    assert page.events == []
    assert len(sim.requests()) == 3


async def test_bad_json_raises_without_retry_loop(sim: Sim) -> None:
    sim.org.append({"eventType": "user.session.start"})
    sim.org.inject_fault("GET", "/api/v1/logs", "bad_json", times=10)
    async with _client(sim) as client:
        with pytest.raises(OktaBadResponse) as info:
            await client.fetch_log_page()
    assert info.value.status == 200 and info.value.request_id
    assert len(sim.requests()) == 1


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [(400, OktaApiError, "E0000001"), (403, OktaAuthError, "E0000006"), (404, OktaNotFound, "E0000007")],
)
async def test_client_errors_are_not_retried(sim: Sim, status: int, cls: type[OktaApiError], code: str) -> None:
    sim.org.inject_fault("GET", "/api/v1/logs", "status", times=3, status=status)
    async with _client(sim) as client:
        with pytest.raises(cls) as info:
            await client.fetch_log_page()
    assert (info.value.status, info.value.error_code) == (status, code)
    assert info.value.error_id  # Okta's errorId is kept for support
    assert len(sim.requests()) == 1


async def test_budget_keeps_to_share_and_waits_for_reset(start_sim: SimFactory) -> None:
    sim = await _sim(start_sim, logs=4, window_seconds=1.0)
    async with _client(sim, budget_share=0.5) as client:
        started = time.monotonic()
        for _ in range(5):
            await client.fetch_log_page()
        elapsed = time.monotonic() - started
    seen = sim.requests("/api/v1/logs")
    assert [s.status for s in seen] == [200] * 5  # never rate limited
    # the server's own per-window count: never more than share × limit (2 of 4) used in a window
    assert min(s.remaining or 0 for s in seen) >= 2
    assert client.budget.snapshot()["logs"]["waits"] >= 2
    assert elapsed >= 1.0  # at least one full window was waited out


async def test_budget_counts_concurrent_requests(start_sim: SimFactory) -> None:
    sim = await _sim(start_sim, logs=6, window_seconds=1.0)
    async with _client(sim, budget_share=0.5) as client:
        await client.fetch_log_page()  # learn the bucket
        await asyncio.gather(*(client.fetch_log_page() for _ in range(4)))
    seen = sim.requests("/api/v1/logs")
    assert all(s.status == 200 for s in seen)
    assert min(s.remaining or 0 for s in seen) >= 3


async def test_429_waits_until_reset_then_succeeds(start_sim: SimFactory) -> None:
    sim = await _sim(start_sim, logs=2, window_seconds=1.0)
    async with _client(sim, budget_share=1.0) as other:  # someone else drains the bucket
        await other.fetch_log_page()
        await other.fetch_log_page()
    async with _client(sim) as client:
        started = time.monotonic()
        page = await client.fetch_log_page()
        elapsed = time.monotonic() - started
    assert page.next_url
    seen = sim.requests("/api/v1/logs")[2:]
    assert [s.status for s in seen] == [429, 200]
    assert seen[1].retry_for == seen[0].request_id and seen[1].retry_count == "1"
    assert elapsed >= 1.0  # X-Rate-Limit-Reset − Date + 1 s


async def test_the_rate_observer_hears_each_response_remaining_quota_and_429(start_sim: SimFactory) -> None:
    sim = await _sim(start_sim, logs=2, window_seconds=1.0)
    async with _client(sim, budget_share=1.0) as other:  # someone else drains the bucket
        await other.fetch_log_page()
        await other.fetch_log_page()
    told: list[tuple[str, int | None, bool]] = []
    async with _client(sim, rate_observer=lambda *heard: told.append(heard)) as client:
        await client.fetch_log_page()
        await client.get_user(sim.org.add_user(login="alice@acme.com")["id"])
    assert told == [("logs", 0, True), ("logs", 1, False), ("user_get", 1999, False)]


async def test_concurrency_429_is_retried(start_sim: SimFactory) -> None:
    sim = await _sim(start_sim, concurrency=1)
    sim.org.inject_fault("GET", "/api/v1/logs", "timeout", times=1, delay=0.4)  # holds the only slot
    told: list[tuple[str, int | None, bool]] = []
    async with _client(sim, max_wait=1.5, rate_observer=lambda *heard: told.append(heard)) as client:
        slow = asyncio.create_task(client.fetch_log_page())
        await asyncio.sleep(0.1)
        fast = await client.fetch_log_page()
        await slow
    assert fast.next_url
    statuses = [s.status for s in sim.requests("/api/v1/logs")]
    assert 429 in statuses and statuses.count(200) == 2
    assert client.budget.snapshot()["logs"]["limit"] == 120  # Limit 0 of the 429 not taken as the bucket
    assert ("logs", None, True) in told  # a concurrency 429 says nothing of the bucket's quota
