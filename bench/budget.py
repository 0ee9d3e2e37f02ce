"""Figure 12: a sync-like flood against one org's rate limits, and what it does to actions and the log tail.

Four runs on a fresh simulated org each, in one process over loopback HTTP: no flood (the floor); the flood on a
client with its own budget, as each client had one before the budget was shared; the flood on the tenant's one
budget as tail requests (no sync share, no reserve, no in-flight cap); the flood as SYNC requests (what the
inventory sync will be). Each run: the flood's tasks read users' factors (the `users` bucket) as fast as they are
let; an action every third of a window (a protected-group read, then a session clear: the `users` bucket too); the
System Log poller at the daemon's 1 s cadence, tailing events appended every 0.2 s.

`python -m bench.budget [--quick] [--window-s S] [--windows N]`
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.common import Figure, jittered
from bench.latency import pct
from detector.ingest.poller import PollerSettings, TenantPoller
from detector.okta import OktaApiError, OktaClient, Priority, RateBudget, SswsAuth, SyncLimits
from detector.ops.metrics import Metrics
from detector.sim import RateLimits, SimOrg, SimServer
from detector.stream.bus import Cursor, EventRecord

TOKEN = "00benchBUDGETtoken0123456789abcdefABCDEF"
OKTA_WINDOW_S = 60.0
OKTA = RateLimits()  # Okta's published per-minute limits, scaled to the bench's window
FACTORS_S = 0.2  # how long a factors read takes at the org
APPEND_EVERY_S = 0.2
MODES = {
    "quiet": "no flood (the floor)",
    "own": "flood on its own budget (before)",
    "tail": "flood on the one budget as tail",
    "sync": "flood on the one budget as sync",
}


def scaled_limits(window_s: float, concurrency: int) -> RateLimits:
    """Okta's per-minute limits for a window of ``window_s``: the same requests per second, sooner reset."""
    k = window_s / OKTA_WINDOW_S
    return RateLimits(
        logs=max(2, round(OKTA.logs * k)),
        user_get=max(2, round(OKTA.user_get * k)),
        users=max(2, round(OKTA.users * k)),
        default=max(2, round(OKTA.default * k)),
        window_seconds=window_s,
        concurrency=concurrency,
    )


def scaled_sync(window_s: float) -> SyncLimits:
    """The default sync limits, the reserve scaled with the window as the limits are."""
    default = SyncLimits()
    return SyncLimits(default.share, max(1, round(default.reserve * window_s / OKTA_WINDOW_S)), default.concurrency)


@dataclass
class Tail:
    """The poller's sink: when each event was stored."""

    stored: dict[str, float] = field(default_factory=dict)
    cursor: Cursor | None = None

    async def load_cursor(self, tenant: str) -> Cursor | None:
        return self.cursor

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        now = time.monotonic()
        new = [r.uuid for r in records if r.uuid not in self.stored]
        self.stored.update(dict.fromkeys(new, now))
        self.cursor = cursor
        return len(new)


@dataclass
class Run:
    actions: list[float] = field(default_factory=list)  # s, the whole action
    clears: list[float] = field(default_factory=list)  # s, the session clear alone (ENFORCE)
    failed: int = 0
    unfinished: int = 0  # actions still waiting at the end: counted in ``actions`` at the time they had waited
    synced: int = 0
    lags: list[float] = field(default_factory=list)  # s, appended to stored
    unstored: int = 0
    retried: int = 0  # the action's requests sent again (each a 429: nothing else fails at this org)
    seconds: float = 0.0


async def run_mode(mode: str, limits: RateLimits, sync: SyncLimits, windows: int, flood_tasks: int) -> Run:
    org = SimOrg(name="acme", seed=12, rate_limits=limits)
    org.add_api_token(TOKEN, name="itdr")
    users = [org.add_user(login=f"user{i}@acme.com")["id"] for i in range(200)]
    for uid in users:
        org.inject_fault("GET", f"/api/v1/users/{uid}/factors", "timeout", times=1_000_000, delay=FACTORS_S)
    victim = org.add_user(login="victim@acme.com")["id"]
    out, stop, appending, appended = Run(), asyncio.Event(), asyncio.Event(), {}

    async def retry_sleep(seconds: float) -> None:  # the enforcer's back-off before each retry
        out.retried += 1
        await asyncio.sleep(seconds)

    def budget() -> RateBudget | None:  # one for the tenant; before it was shared, one per client
        return None if mode == "own" else shared

    shared = RateBudget(0.5, sync=sync)
    async with SimServer(org) as server:
        reader = OktaClient(server.url, SswsAuth(TOKEN), budget=budget())
        enforcer = OktaClient(server.url, SswsAuth(TOKEN), budget=budget(), sleep=retry_sleep)
        own = OktaClient(server.url, SswsAuth(TOKEN))
        flooder = {"own": own, "tail": reader, "sync": reader.with_priority(Priority.SYNC)}.get(mode)
        tail = Tail()
        poller = TenantPoller("acme", reader, tail, Metrics(), PollerSettings(interval_s=1.0))
        span = windows * limits.window_seconds
        tasks = [asyncio.create_task(poller.run(stop)), asyncio.create_task(_append(org, appended, appending))]
        flood = [_flood(flooder, users, i, flood_tasks, out) for i in range(flood_tasks)] if flooder else []
        flooding = [asyncio.create_task(reader) for reader in flood]
        await enforcer.get_user(victim)  # its connection open, in another bucket: the first action is no outlier
        started = time.monotonic()
        offsets = jittered(round(3 * windows), limits.window_seconds / 3, seed=12)
        actions = [asyncio.create_task(_act(enforcer, victim, started + 1.0 + at, out)) for at in offsets if at < span]
        await asyncio.wait(actions, timeout=span + 2 * limits.window_seconds)
        for action in actions:
            if not action.done():
                action.cancel()
                out.unfinished += 1
        await asyncio.gather(*actions, return_exceptions=True)
        await asyncio.sleep(max(0.0, started + span - time.monotonic()))
        out.seconds = time.monotonic() - started
        await _cancelled(flooding)
        appending.set()
        await asyncio.sleep(3.0)  # the last appended events get their poll (an event 3 s old is behind)
        stop.set()
        await _cancelled(tasks)
        for client in (reader, enforcer, own):
            await client.aclose()
    for uuid, at in appended.items():
        if uuid in tail.stored:
            out.lags.append(tail.stored[uuid] - at)
        else:
            out.unstored += 1
    return out


async def _cancelled(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _flood(client: OktaClient, users: list[str], i: int, every: int, out: Run) -> None:
    """One of the flood's readers: the factors of every ``every``-th user, round and round, until cancelled."""
    n = i
    while True:
        try:
            await client.request_json("GET", f"/api/v1/users/{users[n % len(users)]}/factors")
            out.synced += 1
        except OktaApiError:
            pass  # retries spent on 429s: the next read
        n += every


async def _act(client: OktaClient, victim: str, at: float, out: Run) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    started = time.monotonic()
    try:
        await client.list_user_groups(victim)
        clear = time.monotonic()
        await client.clear_user_sessions(victim)
        out.clears.append(time.monotonic() - clear)
    except OktaApiError:
        out.failed += 1
    finally:  # cancelled too: an action still waiting at the end counts what it had waited
        out.actions.append(time.monotonic() - started)


async def _append(org: SimOrg, appended: dict[str, float], stop: asyncio.Event) -> None:
    rng, n = random.Random(12), 0
    while not stop.is_set():
        uuid = f"tail-{n}"
        org.append({"eventType": "user.session.start", "uuid": uuid})
        appended[uuid] = time.monotonic()
        n += 1
        await asyncio.sleep(APPEND_EVERY_S * rng.uniform(0.5, 1.5))


async def run(window_s: float, windows: int, concurrency: int = 20, flood_tasks: int = 50) -> list[Figure]:
    limits, sync = scaled_limits(window_s, concurrency), scaled_sync(window_s)
    figures: list[Figure] = []
    share = 0.5 * limits.users / window_s
    flood_note = f"the share of users: {share:.1f}/s, sync's part of it: {share * sync.share:.1f}/s"
    for mode, label in MODES.items():
        r = await run_mode(mode, limits, sync, windows, flood_tasks)
        section = f"12 {mode}"
        figures += [
            Figure(section, f"{label}: action p50", _ms(pct(r.actions, 0.5)), "ms", _note(r)),
            Figure(section, "action p95", _ms(pct(r.actions, 0.95)), "ms", "group read (tail) + session clear"),
            Figure(section, "action max", _ms(max(r.actions, default=float("nan"))), "ms"),
            Figure(section, "session clear p95", _ms(pct(r.clears, 0.95)), "ms", "the enforce call alone"),
            Figure(section, "log wait p50", pct(r.lags, 0.5), "s", "appended to stored, poll every 1 s"),
            Figure(section, "log wait p99", pct(r.lags, 0.99), "s", f"{r.unstored} not stored by the end"),
            Figure(section, "flood reads", r.synced / r.seconds, "/s", flood_note),
        ]
    return figures


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _note(r: Run) -> str:
    return (
        f"{len(r.actions)} actions, {r.failed} failed, {r.unfinished} unfinished,"
        f" {r.retried} of their requests retried after a 429"
    )


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.budget", description=__doc__)
    p.add_argument("--quick", action="store_true", help="2 s windows, 3 of them per run")
    p.add_argument("--window-s", type=float, help="the org's rate-limit window (default 10 s, quick 2 s)")
    p.add_argument("--windows", type=int, help="windows per run (default 3, quick 3)")
    args = p.parse_args()
    window = args.window_s or (2.0 if args.quick else 10.0)
    windows = args.windows or 3
    for f in asyncio.run(run(window, windows)):
        print(f"[{f.section}] {f.name}: {f.value:.4g} {f.unit}" + (f" ({f.note})" if f.note else ""))


if __name__ == "__main__":
    main()
