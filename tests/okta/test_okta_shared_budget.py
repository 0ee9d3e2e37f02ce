"""One budget per org over real HTTP: a flood of sync reads in the `users` bucket (the factors of each user, as the
inventory sync reads them) against the simulator's own limiter, while an action (the protected-group read, a
suspend, a session clear: the same bucket) is made and the System Log poller tails the log.

The simulator allows 20 `users` requests per 2 s window and 4 in flight; each factors read takes 0.15 s, so a
flood without an in-flight cap holds every slot. The action starts just after the sync has spent what it may of a
window, the worst moment for it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from okta_support import SSWS_TOKEN, Sim, SimFactory

from detector.ingest.poller import PollerSettings, TenantPoller
from detector.okta import OktaClient, OktaRateLimited, Priority, RateBudget, SswsAuth, SyncLimits
from detector.ops.metrics import Metrics
from detector.sim import RateLimits
from detector.stream.bus import Cursor, EventRecord

LIMITS = RateLimits(users=20, window_seconds=2.0, concurrency=4)
SYNC = SyncLimits(share=0.5, reserve=2, concurrency=2)  # of a share of 10: at most 5 a window, used kept below 8
FLOOD_TASKS = 16
FACTORS_DELAY_S = 0.15


@dataclass
class StoredAt:
    """The poller's sink: when each event uuid was stored."""

    at: dict[str, float] = field(default_factory=dict)
    cursor: Cursor | None = None

    async def load_cursor(self, tenant: str) -> Cursor | None:
        return self.cursor

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        new = [r.uuid for r in records if r.uuid not in self.at]
        self.at.update(dict.fromkeys(new, time.monotonic()))
        self.cursor = cursor
        return len(new)


@dataclass
class Flood:
    """Sync-like reads of every user's factors from many tasks, until stopped."""

    client: OktaClient
    users: list[str]
    done: list[float] = field(default_factory=list)  # monotonic time of each completed read

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._reader(i, stop) for i in range(FLOOD_TASKS)))

    async def _reader(self, i: int, stop: asyncio.Event) -> None:
        n = i
        while not stop.is_set():
            await self.client.request_json("GET", f"/api/v1/users/{self.users[n % len(self.users)]}/factors")
            self.done.append(time.monotonic())
            n += FLOOD_TASKS


@dataclass
class Org:
    sim: Sim
    users: list[str]
    victim: str


@pytest.fixture
async def org(start_sim: SimFactory) -> Org:
    sim = await start_sim(LIMITS)
    sim.org.add_api_token(SSWS_TOKEN, name="itdr")
    users = [sim.org.add_user(login=f"user{i}@acme.com")["id"] for i in range(12)]
    for uid in users:  # each factors read holds one of the org's in-flight slots for a while
        sim.org.inject_fault("GET", f"/api/v1/users/{uid}/factors", "timeout", times=10_000, delay=FACTORS_DELAY_S)
    victim = sim.org.add_user(login="victim@acme.com")["id"]
    sim.org.open_session(victim)
    return Org(sim, users, victim)


def _client(sim: Sim, budget: RateBudget | None = None) -> OktaClient:
    return OktaClient(sim.url, SswsAuth(SSWS_TOKEN), budget=budget, max_wait=5.0)


async def _act(enforcer: OktaClient, victim: str) -> float:
    """An action as the worker makes it: the protected-group read (a user read for responding), then the calls."""
    started = time.monotonic()
    await enforcer.list_user_groups(victim)
    await enforcer.lifecycle(victim, "suspend")
    await enforcer.clear_user_sessions(victim)
    return time.monotonic() - started


async def _when_spent(budget: RateBudget, spent: Callable[[dict[str, Any]], bool]) -> None:
    """Wait for a window of the `users` bucket that is ``spent`` with at least 0.5 s of it left (Okta's reset is
    the window's end rounded up to the second): the worst moment for an action."""
    deadline = time.monotonic() + 20
    while True:
        users = budget.snapshot().get("users")
        if users and users["reset"] and users["reset"] - time.time() >= 1.5 and spent(users):
            return
        assert time.monotonic() < deadline, f"no spent window came: {users}"
        await asyncio.sleep(0.005)


async def _stopped(tasks: list[asyncio.Task[None]]) -> None:
    """The poller stops at once; flood readers waiting out a window are cancelled rather than waited for."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def stop() -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()


async def test_an_action_during_a_sync_flood_is_prompt_sync_goes_on_and_the_tail_keeps_up(
    org: Org, stop: asyncio.Event
) -> None:
    waited: list[tuple[str, Priority]] = []
    budget = RateBudget(0.5, sync=SYNC, on_wait=lambda bucket, priority, *_: waited.append((bucket, priority)))
    sink, metrics = StoredAt(), Metrics()
    async with _client(org.sim, budget) as reader, _client(org.sim, budget) as enforcer:
        poller = TenantPoller("acme", reader, sink, metrics, PollerSettings(interval_s=0.2))
        flood = Flood(reader.with_priority(Priority.SYNC), org.users)
        tasks = [asyncio.create_task(poller.run(stop)), asyncio.create_task(flood.run(stop))]
        await _when_spent(budget, lambda users: users["sync_used"] >= SYNC.share * 10)

        org.sim.org.append({"eventType": "user.session.start", "uuid": "e-during-action"})
        appended = time.monotonic()
        took = await _act(enforcer, org.victim)
        synced_before = len(flood.done)
        await asyncio.sleep(2 * LIMITS.window_seconds)
        stop.set()
        await _stopped(tasks)

    assert took < 0.5, f"the action took {took:.2f} s during the flood"
    assert org.sim.org.users[org.victim].status == "SUSPENDED"
    assert [s.status for s in org.sim.requests() if s.method != "GET"] == [200, 204]
    assert not [s for s in org.sim.requests() if s.status == 429]  # no one was rate limited, nor held off a slot
    factors = [s for s in org.sim.requests() if s.path.endswith("/factors")]
    assert min(s.remaining for s in factors if s.remaining is not None) >= 20 - 8  # sync left the reserve
    assert len(flood.done) - synced_before >= 5  # at least a window's share after the action: sync goes on
    assert sink.at["e-during-action"] - appended < 1.0  # the tail stored it within an interval and a poll
    assert waited and set(waited) == {("users", Priority.SYNC)}  # the flood was held back, and only the flood
    logs = [s for s in org.sim.requests("/api/v1/logs")]
    assert len(logs) >= 10 and all(s.status == 200 for s in logs)


async def test_the_same_flood_as_tail_requests_holds_the_action_back(org: Org, stop: asyncio.Event) -> None:
    """The floor: the flood without sync's limits (no share of the share, no reserve, no in-flight cap) spends the
    share and the org's slots, and the action waits. What the first test shows is the priorities' doing."""
    budget = RateBudget(0.5, sync=SYNC)
    async with _client(org.sim, budget) as syncer, _client(org.sim, budget) as enforcer:
        flood = Flood(syncer, org.users)
        task = asyncio.create_task(flood.run(stop))
        await _when_spent(budget, lambda users: users["remaining"] <= 10)  # the flood spent the share (10)
        try:
            took = await _act(enforcer, org.victim)
        except OktaRateLimited:  # 429s (the org's slots held by the flood) outlasted the client's retries
            took = math.inf
        stop.set()
        await _stopped([task])
    assert took >= 0.3, f"the action took {took:.2f} s"
