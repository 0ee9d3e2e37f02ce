"""Figure 14: a full inventory sync against the simulator over real HTTP: its time, requests and records,
a second sync (what a 6-hourly sync costs, old generations swept), a sync killed half-way and resumed,
loading the store into memory, and the per-user lookups posture checks make.

`build_directory(org, users, groups)` (default 5 000 users, 300 groups; quick 500 / 40), a SimServer on
loopback with rate limits out of the way (this measures our work and the simulator's, not Okta's quotas)
and a client with the whole budget. From the requests counted per rate-limit bucket, the time the same
sync would need under Okta's published per-minute limits (`RateLimits()` defaults) at the default
`budget_share` of 0.5: the floor a real org's sync cannot beat, whatever this process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/inventory_sync.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from bench.common import SEED, Figure
from detector.inventory.interrupt import CancelAfterPages
from detector.inventory.store import SqliteInventoryStore
from detector.inventory.sync import InventorySync
from detector.okta import OktaClient, SswsAuth
from detector.sim import RateLimits, SimOrg, make_app
from detector.sim.org_population import build_directory
from detector.sim.ratelimit import bucket_for

UNLIMITED = RateLimits(logs=10**9, user_get=10**9, users=10**9, groups=10**9, apps=10**9, default=10**9)
TOKEN = "bench-inventory-token"
SHARE = 0.5  # the default poll.budget_share


class _Kill(CancelAfterPages, SqliteInventoryStore):
    """Cancels the sync right after its ``pages``-th page is stored."""


def _okta_minutes(buckets: Counter[str]) -> float:
    """Minutes the requests need at Okta's default per-minute limits, each bucket at SHARE of its limit (the
    buckets are independent, so the slowest one sets the floor)."""
    limits = RateLimits()
    return max((n / (getattr(limits, b) * SHARE) for b, n in buckets.items()), default=0.0)


async def measure(users: int, groups: int) -> list[Figure]:
    org = SimOrg(seed=SEED, rate_limits=UNLIMITED)
    made = build_directory(org, users=users, groups=groups, seed=SEED)
    org.add_api_token(TOKEN)
    buckets: Counter[str] = Counter()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        buckets[bucket_for(request.method, request.path)] += 1
        return await handler(request)

    app = make_app(org)
    app.middlewares.insert(0, count)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    sec = "14 inventory sync"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "itdr.sqlite"
            async with OktaClient(url, SswsAuth(TOKEN), budget_share=1.0, timeout=60) as client:
                async with SqliteInventoryStore(path) as store:
                    t0 = time.perf_counter()
                    first = await InventorySync("bench", client, store).run()
                    full_s = time.perf_counter() - t0
                    requests = sum(buckets.values())
                    okta = _okta_minutes(buckets)
                    per_bucket = ", ".join(f"{b} {n:,}" for b, n in sorted(buckets.items()))
                    buckets.clear()
                    t0 = time.perf_counter()
                    second = await InventorySync("bench", client, store).run()
                    again_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    inventory = await store.load("bench")
                    load_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    for uid in inventory.users():
                        inventory.roles_of_user(uid)
                        inventory.factors_of(uid)
                    lookups_us = (time.perf_counter() - t0) / max(1, len(inventory.users())) * 1e6
                assert first["state"] == second["state"] == "success", (first, second)
                records = sum(first["counts"].values())
                deprovisioned = sum(1 for u in org.directory.users.values() if u.status == "DEPROVISIONED")
                pages = -(-(users - deprovisioned) // 200)
                killing = _Kill(path)
                killing.pages = -(-deprovisioned // 200) + max(1, pages // 2)  # the deprovisioned part is first
                await killing.open()
                buckets.clear()
                t0 = time.perf_counter()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.create_task(InventorySync("bench", client, killing).run())
                killed_s = time.perf_counter() - t0
                await killing.close()
                async with SqliteInventoryStore(path) as store:
                    t0 = time.perf_counter()
                    resumed = await InventorySync("bench", client, store).run()
                    resume_s = time.perf_counter() - t0
                assert resumed["state"] == "success" and resumed["resumed"] == 1
                both = sum(buckets.values())
    finally:
        await runner.cleanup()
    size = f"{users:,} users, {groups:,} groups, {made.memberships:,} memberships, {made.apps} apps"
    return [
        Figure(sec, "full sync", full_s, "s", size),
        Figure(sec, "records stored per second", records / full_s, "records/s", f"{records:,} records"),
        Figure(sec, "requests", requests, "requests", per_bucket),
        Figure(sec, "same sync at Okta's default limits", okta, "min", f"floor at budget_share {SHARE}"),
        Figure(sec, "second sync (old generation swept)", again_s, "s", "nothing changed"),
        Figure(sec, "killed after half the user pages", killed_s, "s", f"{pages // 2} of {pages} pages"),
        Figure(sec, "resumed from the checkpoint", resume_s, "s", f"{both:,} requests killed + resumed"),
        Figure(sec, "load the store into memory", load_s, "s", f"{len(inventory.users()):,} users, indexed"),
        Figure(sec, "roles_of_user + factors_of", lookups_us, "µs/user", "every user once"),
    ]


def run(users: int, groups: int) -> list[Figure]:
    return asyncio.run(measure(users, groups))


if __name__ == "__main__":
    for fig in run(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000, 300):
        print(fig)
