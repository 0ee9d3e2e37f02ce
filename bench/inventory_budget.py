"""Figure 18: the real inventory sync of a large org on the tenant's one budget, while a push bombing is tailed
and answered: sync pace per bucket, log lag and action latency during the sync next to the floor without it.

One simulated org (`build_directory`, default 50 000 users and 2 000 groups) over loopback HTTP with Okta's
Workforce per-window counts (`RateLimits()`: users 600, groups 500, apps 100, logs 120 ...) in a window
compressed from 60 s to ``window_s``. The tenant's clients share one `RateBudget` as `OktaClients` builds
them: the `TenantPoller` (TAIL), the enforcer (its session clears ENFORCE), the `InventorySync` on a SYNC
client. A push bombing is appended to the log all the while (a push every 0.2 s on average); an action every
third of a window (the protected-group read, then the session clear, as in figure 12). First ``floor_windows``
windows without the sync (the floor), then the sync for at most ``sync_s`` seconds: if it has not finished,
the rest is extrapolated from the requests it still needs per bucket at the pace it was measured at.

`python -m bench.inventory_budget [--quick] [--window-s S] [--sync-s S] [--users N] [--groups N]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from bench.budget import Run, Tail, _act, _cancelled
from bench.common import SEED, Figure, jittered
from bench.latency import pct
from detector.ingest.poller import PollerSettings, TenantPoller
from detector.inventory.store import SqliteInventoryStore
from detector.inventory.sync import PAGE_LIMITS, InventorySync
from detector.okta import OktaClient, Priority, RateBudget, SswsAuth, SyncLimits
from detector.ops.metrics import Metrics
from detector.sim import RateLimits, SimOrg, make_app
from detector.sim.org_population import Furnished, build_directory
from detector.sim.ratelimit import bucket_for

TOKEN = "00benchINVBUDGETtoken0123456789abcdefABC"
OKTA_WINDOW_S = 60.0
PUSH_EVERY_S = 0.2
SHARE = 0.5  # the default poll.budget_share
FULL = (50_000, 2_000, 150.0)  # users, groups, seconds the sync may run
QUICK = (500, 20, 20.0)


@dataclass
class Counts:
    """Requests the org answered, per bucket, and its 429s (sync and everyone else alike)."""

    sent: Counter[str] = field(default_factory=Counter)
    limited: Counter[str] = field(default_factory=Counter)


@dataclass
class Phase:
    """The actions and tail events of one phase (floor, or during the sync)."""

    run: Run = field(default_factory=Run)
    appended: dict[str, float] = field(default_factory=dict)


def _counting(counts: Counts) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        bucket = bucket_for(request.method, request.path)
        resp = await handler(request)
        counts.sent[bucket] += 1
        counts.limited[bucket] += resp.status == 429
        return resp

    return count


def needed(org: SimOrg, made: Furnished) -> Counter[str]:
    """The requests a full sync makes in the buckets that set its pace (users, groups, apps), from the
    directory's sizes: the few in ``default`` (role assignees, tokens, IdPs, policies) are left out."""
    users = org.directory.users.values()
    deprov = sum(1 for u in users if u.status == "DEPROVISIONED")
    listed = len(org.directory.users) - deprov
    holders = len({uid for ids in made.admins.values() for uid in ids})
    groups, apps = org.directory.groups.values(), org.inventory.apps.by_id.values()
    return Counter(
        users=_pages(deprov, "users") + _pages(listed, "users") + listed + holders,  # factors each, holders' roles
        groups=_pages(len(groups), "groups") + sum(1 + _pages(len(g.members), "group_members") for g in groups),
        apps=_pages(len(apps), "apps") + sum(_pages(len(a.users), "app_users") + 2 for a in apps),  # groups, grants
    )


def _pages(n: int, page: str) -> int:
    """Pages of a list of ``n`` (an empty list is one page too)."""
    return max(1, math.ceil(n / PAGE_LIMITS[page]))


def sync_per_window(limit: int, sync: SyncLimits) -> float:
    """What the budget lets SYNC take of a bucket each window (detector/okta/budget.py `_may_spend`)."""
    allowance = SHARE * limit
    return max(0.0, min(math.ceil(sync.share * allowance), allowance - sync.reserve))


async def _push_bombing(org: SimOrg, victim: str, phase: list[Phase], stop: asyncio.Event) -> None:
    """Pushes to the victim, now and then one denied, into the org's System Log."""
    rng, n = random.Random(SEED), 0
    while not stop.is_set():
        uuid = f"push-{n}"
        outcome = "FAILURE" if rng.random() < 0.2 else "SUCCESS"
        org.append(
            {
                "uuid": uuid,
                "eventType": "system.push.send_factor_verify_push",
                "actor": {"id": victim, "type": "User", "alternateId": "victim@acme.com"},
                "outcome": {"result": outcome},
            }
        )
        phase[0].appended[uuid] = time.monotonic()
        n += 1
        await asyncio.sleep(PUSH_EVERY_S * rng.uniform(0.5, 1.5))


async def measure(users: int, groups: int, window_s: float, sync_s: float, floor_windows: int = 6) -> list[Figure]:
    limits = RateLimits(window_seconds=window_s)
    sync = SyncLimits()  # the per-window counts are Okta's, so the default reserve stays as it is
    org = SimOrg(name="acme", seed=SEED, rate_limits=limits)
    t0 = time.perf_counter()
    made = build_directory(org, users=users, groups=groups, seed=SEED)
    build_s = time.perf_counter() - t0
    org.add_api_token(TOKEN, name="itdr")
    victim = org.add_user(login="victim@acme.com")["id"]
    need = needed(org, made)
    counts = Counts()
    app = make_app(org)
    app.middlewares.insert(0, _counting(counts))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    floor, during = Phase(), Phase()
    current = [floor]
    shared = RateBudget(SHARE, sync=sync)  # one per tenant, as OktaClients.budget builds it
    reader = OktaClient(url, SswsAuth(TOKEN), budget=shared)
    enforcer = OktaClient(url, SswsAuth(TOKEN), budget=shared)
    syncer = OktaClient(url, SswsAuth(TOKEN), budget=shared, priority=Priority.SYNC, timeout=120)
    tail, stop, pushing = Tail(), asyncio.Event(), asyncio.Event()
    poller = TenantPoller("acme", reader, tail, Metrics(), PollerSettings(interval_s=1.0))
    background = [
        asyncio.create_task(poller.run(stop)),
        asyncio.create_task(_push_bombing(org, victim, current, pushing)),
    ]
    actions: list[tuple[float, asyncio.Task[None]]] = []  # (when it starts, the action)

    def schedule(phase: Phase, span: float) -> None:
        started = time.monotonic()
        offsets = jittered(max(1, round(3 * span / window_s)), window_s / 3, seed=SEED)
        actions.extend(
            (started + at, asyncio.create_task(_act(enforcer, victim, started + at, phase.run)))
            for at in offsets
            if at < span
        )

    status: dict[str, Any] = {}
    try:
        await enforcer.get_user(victim)  # its connection open: the first action is no outlier
        floor_s = floor_windows * window_s
        schedule(floor, floor_s)
        await asyncio.sleep(floor_s)
        before = Counts(Counter(counts.sent), Counter(counts.limited))
        current[0] = during
        with tempfile.TemporaryDirectory() as tmp:
            async with SqliteInventoryStore(Path(tmp) / "itdr.sqlite") as store:
                started = time.monotonic()
                task = asyncio.create_task(InventorySync("acme", syncer, store).run())
                schedule(during, sync_s)
                done, _ = await asyncio.wait([task], timeout=sync_s)
                sync_elapsed = time.monotonic() - started
                if done:
                    status = task.result()
                else:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        ended = time.monotonic()
        after = Counts(Counter(counts.sent), Counter(counts.limited))
        current[0] = Phase()  # events appended from now on are not the sync's
        for at, action in actions:
            if at > ended:  # not begun while the sync ran (it finished early): not the sync's either
                action.cancel()
        pending = [action for _, action in actions]
        await asyncio.wait(pending, timeout=2 * window_s)
        for action in pending:
            if not action.done():
                action.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(3.0)  # the last events of the sync phase get their poll
    finally:
        pushing.set()
        stop.set()
        await _cancelled(background)
        for client in (reader, enforcer, syncer):
            await client.aclose()
        await runner.cleanup()
    for phase in (floor, during):
        for uuid, at in phase.appended.items():
            if uuid in tail.stored:
                phase.run.lags.append(tail.stored[uuid] - at)
            else:
                phase.run.unstored += 1
    sent = Counter({b: after.sent[b] - before.sent[b] for b in after.sent})
    limited = sum(counts.limited.values())
    finished = status.get("state") == "success"
    scale = OKTA_WINDOW_S / window_s
    # The sync's own requests in the users bucket: all of it but the actions' group reads and session clears.
    users_done = max(1, sent["users"] - 2 * len(during.run.actions))
    pace = users_done / (sync_elapsed / window_s)  # users-bucket requests a window, as measured
    if finished:
        full_scaled = sync_elapsed
        how = f"finished: {status['state']}"
    else:  # what is left of each bucket at the pace measured (users) or the budget's rule (groups, apps: later parts)
        left_users = max(0, need["users"] - users_done)
        rest = left_users / pace + sum(
            max(0, need[b] - sent[b]) / sync_per_window(getattr(limits, b), sync) for b in ("groups", "apps")
        )
        full_scaled = sync_elapsed + rest * window_s
        how = f"{users_done:,} of {need['users']:,} users-bucket requests in {sync_elapsed:.0f} s; extrapolated"
    sec = "18 inventory sync on the budget"
    size = f"{users:,} users, {groups:,} groups, built in {build_s:.0f} s"
    return [
        Figure(sec, "sync time, compressed windows", full_scaled, "s", f"{window_s:g} s windows; {how}"),
        Figure(sec, "sync time at 60 s windows", full_scaled * scale / 3600, "h", size),
        Figure(
            sec,
            "sync pace, users bucket",
            pace,
            "req/window",
            f"over the time the sync ran; the budget's rule: {sync_per_window(limits.users, sync):g}",
        ),
        Figure(sec, "requests during the sync", sum(sent.values()), "requests", _per_bucket(sent)),
        Figure(sec, "429s seen", limited, "429s", _per_bucket(counts.limited) or "none, in any bucket"),
        *_phase(sec, "floor (no sync)", floor.run),
        *_phase(sec, "during the sync", during.run),
    ]


def _per_bucket(counts: Counter[str]) -> str:
    return ", ".join(f"{b} {n:,}" for b, n in sorted(counts.items()) if n)


def _phase(sec: str, label: str, r: Run) -> list[Figure]:
    note = f"{len(r.actions)} actions, {r.failed} failed"
    return [
        Figure(sec, f"{label}: action p50", pct(r.actions, 0.5) * 1000, "ms", note),
        Figure(sec, f"{label}: action p95", pct(r.actions, 0.95) * 1000, "ms", "group read (tail) + session clear"),
        Figure(sec, f"{label}: action max", max(r.actions, default=float("nan")) * 1000, "ms"),
        Figure(sec, f"{label}: log lag p50", pct(r.lags, 0.5), "s", "published to stored, poll every 1 s"),
        Figure(sec, f"{label}: log lag p99", pct(r.lags, 0.99), "s", f"{len(r.lags)} events, {r.unstored} unstored"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.inventory_budget", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK[0]:,} users, {QUICK[1]} groups, 2 s windows, {QUICK[2]:g} s of sync",
    )
    p.add_argument("--window-s", type=float, help="the compressed rate-limit window (default 5 s, quick 2 s)")
    p.add_argument("--sync-s", type=float, help="how long the sync may run (default 150 s, quick 20 s)")
    p.add_argument("--users", type=int)
    p.add_argument("--groups", type=int)
    args = p.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    users, groups, sync_s = QUICK if args.quick else FULL
    window = args.window_s or (2.0 if args.quick else 5.0)
    sync_s = args.sync_s or sync_s
    for f in asyncio.run(measure(args.users or users, args.groups or groups, window, sync_s)):
        print(f"[{f.section}] {f.name}: {f.value:.4g} {f.unit}" + (f" ({f.note})" if f.note else ""))


if __name__ == "__main__":
    main()
