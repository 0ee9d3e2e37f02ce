"""Pure tests of the rate-limit budget: bucket mapping, SDK back-off maths, share enforcement."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest
from structlog.testing import capture_logs

from detector.okta.budget import BUCKETS, Priority, RateBudget, SyncLimits, bucket_for, reset_wait


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        ("GET", "/api/v1/logs", "logs"),
        ("GET", "/api/v1/logs?since=x&after=1_1", "logs"),
        ("GET", "/api/v1/users/00u1", "user_get"),
        ("GET", "/api/v1/users/alice%40acme.com", "user_get"),
        ("POST", "/api/v1/users/00u1", "users"),
        ("GET", "/api/v1/users", "users"),
        ("GET", "/api/v1/users/00u1/groups", "users"),
        ("POST", "/api/v1/users/00u1/lifecycle/suspend", "users"),
        ("DELETE", "/api/v1/users/00u1/sessions", "users"),
        ("GET", "/api/v1/groups", "groups"),
        ("PUT", "/api/v1/groups/00g1/users/00u1", "groups"),
        ("GET", "/api/v1/apps/0oa1/grants", "apps"),
        ("GET", "/api/v1/appsX", "default"),
        ("GET", "/api/v1/policies", "default"),
        ("GET", "/api/v1/usersX", "default"),
    ],
)
def test_bucket_for(method: str, path: str, bucket: str) -> None:
    assert bucket_for(method, path) == bucket
    assert bucket in BUCKETS  # the metrics start a series for each


def _headers(limit: int, remaining: int, reset: float, date: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
        "Date": formatdate(date, usegmt=True),
    }


def test_reset_wait_sdk_semantics() -> None:
    assert reset_wait(_headers(10, 0, 1_700_000_030, 1_700_000_000)) == 31.0
    assert reset_wait({"X-Rate-Limit-Reset": "1700000030"}) is None  # no Date: no server hint
    assert reset_wait({}) is None
    # reset already passed: retry after 1 s, never a negative wait
    assert reset_wait(_headers(10, 0, 1_700_000_000, 1_700_000_005)) == 1.0
    # concurrency 429 reporting a relative estimate
    assert reset_wait({"X-Rate-Limit-Limit": "0", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "3"}) == 4.0


class FakeTime:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


async def test_budget_waits_for_reset_after_share_is_used() -> None:
    t = FakeTime()
    budget = RateBudget(0.5, jitter=0.0, clock=t.clock, sleep=t.sleep)
    assert await budget.acquire("logs") == 0.0  # unknown bucket: go
    budget.update("logs", _headers(10, 9, t.now + 60, t.now))
    for _ in range(4):  # used 1 of a 5-request share
        assert await budget.acquire("logs") == 0.0
    waited = await budget.acquire("logs")
    assert waited == pytest.approx(60.0)
    assert t.now >= 1_700_000_060
    snap = budget.snapshot()["logs"]
    assert snap["limit"] == 10 and snap["waits"] == 1
    assert snap["remaining"] == 9  # window rolled over, one reserved


async def test_budget_counts_other_clients_usage() -> None:
    t = FakeTime()
    budget = RateBudget(0.5, jitter=0.0, clock=t.clock, sleep=t.sleep)
    # the org bucket is already 60% used by someone else
    budget.update("users", _headers(600, 240, t.now + 30, t.now))
    assert await budget.acquire("users") == pytest.approx(30.0)


async def test_budget_ignores_stale_and_concurrency_headers() -> None:
    t = FakeTime()
    budget = RateBudget(0.5, clock=t.clock, sleep=t.sleep)
    budget.update("logs", _headers(10, 8, t.now + 60, t.now))
    budget.update("logs", _headers(0, 0, t.now + 2, t.now))  # concurrency 429: Limit 0
    budget.update("logs", _headers(10, 1, t.now - 1, t.now))  # late answer from an older window
    assert budget.snapshot()["logs"]["remaining"] == 8
    budget.update("logs", _headers(10, 9, t.now + 60, t.now))  # same window: keep the lower count
    assert budget.snapshot()["logs"]["remaining"] == 8


def test_budget_share_validation() -> None:
    with pytest.raises(ValueError):
        RateBudget(0)
    with pytest.raises(ValueError):
        RateBudget(1.5)


# -- one budget per org: priorities ---------------------------------------------------------------------------

SYNC_5_OF_10 = SyncLimits(share=0.5, reserve=2, concurrency=2)  # of a share of 10: sync <= 5, and used < 8


def _shared(t: FakeTime, sync: SyncLimits = SYNC_5_OF_10, **kw: object) -> RateBudget:
    """A budget with a share of 10 of the users bucket (limit 20), nothing used yet, the window ending in 2 s."""
    budget = RateBudget(0.5, sync=sync, jitter=0.0, clock=t.clock, sleep=t.sleep, **kw)  # type: ignore[arg-type]
    budget.update("users", _headers(20, 20, t.now + 2, t.now))
    return budget


async def _take(budget: RateBudget, priority: Priority, n: int, bucket: str = "users") -> list[float]:
    waits = []
    for _ in range(n):
        waits.append(await budget.acquire(bucket, priority))
        budget.release(priority)
    return waits


async def test_sync_takes_at_most_its_share_of_the_share_then_waits_for_the_window() -> None:
    t = FakeTime()
    budget = _shared(t)
    assert await _take(budget, Priority.SYNC, 5) == [0.0] * 5  # 0.5 × 10
    assert budget.snapshot()["users"]["sync_used"] == 5
    assert await budget.acquire("users", Priority.SYNC) == pytest.approx(2.0)  # the 6th waits for the reset
    budget.release(Priority.SYNC)
    snap = budget.snapshot()["users"]
    assert (snap["sync_used"], snap["remaining"], snap["waits"]) == (1, 19, 1)  # counted afresh in the new window


async def test_sync_leaves_the_reserve_the_tail_uses_the_rest_of_the_share() -> None:
    t = FakeTime()
    budget = _shared(t, SyncLimits(share=1.0, reserve=3, concurrency=2))
    assert await _take(budget, Priority.SYNC, 7) == [0.0] * 7  # share 10 − reserve 3
    assert await _take(budget, Priority.TAIL, 3) == [0.0] * 3  # the reserve is the tail's and enforcement's
    started = t.now
    assert await budget.acquire("users", Priority.TAIL) == pytest.approx(2.0)  # the share is spent: wait
    assert t.now - started == pytest.approx(2.0)


async def test_the_tail_never_waits_behind_sync() -> None:
    t = FakeTime()
    budget = _shared(t)
    gate = asyncio.Event()

    async def gated_sleep(seconds: float) -> None:  # a waiting request stays waiting until the gate opens
        await gate.wait()
        await t.sleep(seconds)

    budget._sleep = gated_sleep
    await _take(budget, Priority.SYNC, 5)
    held = [asyncio.create_task(_take(budget, Priority.SYNC, 1)) for _ in range(3)]  # the next window's
    await asyncio.sleep(0)
    started = t.now
    assert await _take(budget, Priority.TAIL, 5) == [0.0] * 5  # the rest of the share, at once
    assert await _take(budget, Priority.ENFORCE, 2) == [0.0] * 2
    assert t.now == started and not any(h.done() for h in held)
    gate.set()
    assert all(waited > 0 for [waited] in await asyncio.gather(*held))


async def test_others_usage_counts_against_sync_and_tail_alike() -> None:
    t = FakeTime()
    budget = RateBudget(0.5, sync=SYNC_5_OF_10, jitter=0.0, clock=t.clock, sleep=t.sleep)
    budget.update("users", _headers(20, 12, t.now + 2, t.now))  # another integration used 8 of the org's 20
    assert await budget.acquire("users", Priority.SYNC) == pytest.approx(2.0)  # 8 used: not below 10 − 2
    budget.release(Priority.SYNC)
    budget.update("users", _headers(20, 12, t.now + 2, t.now))  # the next window: 8 used again (sync's too)
    assert await _take(budget, Priority.TAIL, 2) == [0.0] * 2  # the tail may still spend the share's last 2
    assert await budget.acquire("users", Priority.TAIL) == pytest.approx(2.0)


async def test_enforce_ignores_the_share_and_waits_only_after_a_429() -> None:
    t = FakeTime()
    budget = _shared(t)
    assert await _take(budget, Priority.TAIL, 10) == [0.0] * 10  # the share is spent
    assert await _take(budget, Priority.ENFORCE, 3) == [0.0] * 3  # enforcement still goes
    budget.update("users", _headers(20, 0, t.now + 2, t.now), limited=True)  # a real 429
    assert budget.snapshot()["users"]["remaining"] <= 0
    started = t.now
    assert await budget.acquire("users", Priority.ENFORCE) == pytest.approx(2.0)  # now it waits for the reset
    assert t.now - started == pytest.approx(2.0)
    assert await budget.acquire("users", Priority.ENFORCE) == 0.0  # the new window: at once


async def test_a_429_spends_the_window_for_every_priority_even_if_the_headers_say_otherwise() -> None:
    t = FakeTime()
    budget = _shared(t)
    budget.update("users", _headers(20, 15, t.now + 2, t.now), limited=True)
    for priority in Priority:
        assert await budget.acquire("users", priority) > 0  # each waits out the spent window
        budget.release(priority)
        budget.update("users", _headers(20, 20, t.now + 2, t.now), limited=True)  # spent again


async def test_a_429_of_a_newer_window_is_learned_and_the_next_window_clears_it() -> None:
    t = FakeTime()
    budget = _shared(t)
    t.now += 2.5  # the window rolled over; a response from the new one says it is already spent
    budget.update("users", _headers(20, 0, t.now + 1, t.now), limited=True)
    assert budget.snapshot()["users"]["remaining"] == 0
    assert await budget.acquire("users", Priority.ENFORCE) == pytest.approx(1.0)
    budget.update("users", _headers(20, 19, t.now + 2, t.now))  # answered in the window after: quota back
    assert await budget.acquire("users", Priority.ENFORCE) == 0.0
    assert await _take(budget, Priority.SYNC, 1) == [0.0]


async def test_a_concurrency_429_teaches_no_window() -> None:
    t = FakeTime()
    budget = _shared(t)
    budget.update(
        "users", {"X-Rate-Limit-Limit": "0", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "1"}, limited=True
    )
    assert await budget.acquire("users", Priority.ENFORCE) == 0.0 and budget.snapshot()["users"]["remaining"] == 19


async def test_sync_in_flight_is_capped_org_wide_and_others_are_not() -> None:
    t = FakeTime()
    budget = _shared(t, SyncLimits(share=1.0, reserve=0, concurrency=2))
    budget.update("default", _headers(100, 100, t.now + 2, t.now))
    assert await budget.acquire("users", Priority.SYNC) == 0.0
    assert await budget.acquire("default", Priority.SYNC) == 0.0  # the cap is per org, over every bucket
    third = asyncio.create_task(budget.acquire("users", Priority.SYNC))
    await asyncio.sleep(0)
    assert not third.done()  # two in flight: the third waits for a slot
    assert await budget.acquire("users", Priority.TAIL) == 0.0  # the tail is not held by sync's slots
    assert await budget.acquire("users", Priority.ENFORCE) == 0.0
    budget.release(Priority.SYNC)
    assert await asyncio.wait_for(third, 1) == 0.0
    budget.release(Priority.SYNC)
    budget.release(Priority.SYNC)


async def test_a_sync_request_waiting_for_its_window_holds_no_slot() -> None:
    t = FakeTime()
    budget = _shared(t, SyncLimits(share=0.1, reserve=0, concurrency=1))  # one sync request per users window
    budget.update("default", _headers(100, 100, t.now + 60, t.now))
    await _take(budget, Priority.SYNC, 1)
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await gate.wait()
        await t.sleep(seconds)

    budget._sleep = slow_sleep  # the users sync request sleeps until we let it
    waiting = asyncio.create_task(budget.acquire("users", Priority.SYNC))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert await asyncio.wait_for(budget.acquire("default", Priority.SYNC), 1) == 0.0  # the slot was free
    budget.release(Priority.SYNC)
    gate.set()
    assert await waiting == pytest.approx(2.0)
    budget.release(Priority.SYNC)


async def test_each_request_held_back_is_told_once_with_every_second_it_waited() -> None:
    t = FakeTime()
    told: list[tuple[str, Priority, float, bool]] = []
    budget = RateBudget(
        0.5, jitter=0.0, unknown_reset_poll=0.5, clock=t.clock, sleep=t.sleep, on_wait=lambda *w: told.append(w)
    )
    budget.update("logs", _headers(4, 2, t.now + 1, t.now))  # the share (2 of 4) is spent
    t.now += 1  # rolled over: a fresh window whose reset no response has told yet
    await _take(budget, Priority.TAIL, 2, "logs")
    started = t.now
    waiting = asyncio.create_task(budget.acquire("logs", Priority.TAIL))  # polls every 0.5 s for a response
    for _ in range(3):
        await asyncio.sleep(0)
    budget.update("logs", _headers(4, 4, t.now + 5, t.now))  # the reset at last (the window is still spent)
    assert await waiting == pytest.approx(t.now - started) and t.now - started > 5
    assert [w[:2] for w in told] == [("logs", Priority.TAIL)] * len(told) and len(told) >= 2
    assert [w[3] for w in told] == [True] + [False] * (len(told) - 1)  # one request held back
    assert sum(w[2] for w in told) == pytest.approx(t.now - started)
    assert budget.snapshot()["logs"]["waits"] == 1


def test_sync_limits_validation() -> None:
    for bad in ({"share": 0}, {"share": 1.1}, {"reserve": -1}, {"concurrency": 0}):
        with pytest.raises(ValueError):
            SyncLimits(**bad)  # type: ignore[arg-type]


async def test_a_reserve_as_large_as_the_share_starves_sync_in_that_bucket_and_says_so_once() -> None:
    t = FakeTime()
    budget = _shared(t, SyncLimits(share=1.0, reserve=10, concurrency=1))  # the users share is 10
    budget.update("logs", _headers(100, 100, t.now + 2, t.now))
    with capture_logs() as logs:
        starving = asyncio.create_task(budget.acquire("users", Priority.SYNC))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not starving.done() and t.now > 1_700_000_002  # into the next window: still nothing
        starving.cancel()
        assert await _take(budget, Priority.SYNC, 1, "logs") == [0.0]  # a bucket with room still syncs
    starved = [e for e in logs if e["event"] == "okta.budget.sync_starved"]
    assert [(e["bucket"], e["limit"], e["reserve"]) for e in starved] == [("users", 20, 10)]
