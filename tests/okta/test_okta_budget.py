"""Pure tests of the rate-limit budget: bucket mapping, SDK back-off maths, share enforcement."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from detector.okta.budget import BUCKETS, RateBudget, bucket_for, reset_wait


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
