"""Figure 15: directory context at 50 000 users: a lookup, a sign-in through every detection with and without
the inventory, and the store's load at start.

A lookup (``InventoryFacts.user``) reads the inventory's per-user indexes, so it must cost the user's own
groups and roles, not the org; the engine asks once per successful sign-in (``directory_signin``) and once
per finding of the detections that raise on an admin target. The store's load is what the embedded daemon
does in the background at start, before which nothing is known. Synthetic inventory: ``--users`` users in
``--groups`` groups (3 memberships each), one push factor each, a super admin role on 20 groups; testkit
sign-ins of distinct users from one place (events parsed beforehand, frozen out of GC, fresh state).

.venv/bin/python -m bench.directory            # 50 000 users, 2 000 groups, 20 000 sign-ins
.venv/bin/python -m bench.directory --quick    # 5 000 users, 200 groups, 4 000 sign-ins
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure
from detections.directory import DirectoryFacts
from detections.engine import Engine, TenantContext
from detections.event import Event, parse_event
from detections.registry import build_engine
from detections.testkit import sign_in
from detector.inventory.facts import InventoryFacts
from detector.inventory.model import Factor, Group, Inventory, Membership, RoleAssignment, User
from detector.inventory.store import SqliteInventoryStore

TENANT = "acme"
T0 = 1_700_000_000.0
DAY = 86_400.0


def inventory(n_users: int, n_groups: int) -> Inventory:
    inv = Inventory(TENANT, synced_at=T0)
    for g in range(n_groups):
        inv.put(Group(f"00g{g}", f"group {g}", "OKTA_GROUP"))
    for g in range(0, n_groups, max(1, n_groups // 20)):
        inv.put(RoleAssignment(f"ra{g}", "GROUP", f"00g{g}", "SUPER_ADMIN", "Super Administrator"))
    for i in range(n_users):
        inv.put(User(f"00u{i}", f"u{i}@acme.com", "ACTIVE", created=T0 - 400 * DAY, last_login=T0 - DAY))
        inv.put(Factor(f"f{i}", f"00u{i}", "push", "OKTA"))
        for j in range(3):
            inv.put(Membership(f"00g{(i * 7 + j * 13) % n_groups}", f"00u{i}"))
    return inv


def sign_ins(n: int, n_users: int) -> list[Event]:
    out = []
    for i in range(n):
        u = i % n_users
        who = {"id": f"00u{u}", "type": "User", "alternateId": f"u{u}@acme.com", "displayName": f"u{u}"}
        out.append(parse_event(sign_in(T0 + i * 0.1, "nyc", actor=who), TENANT))
    return out


def _timed_us(engine: Engine, events: list[Event]) -> float:
    states: dict[str, Any] = {}
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    for event in events:
        engine.run(event, states)
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed / len(events) * 1e6


def _lookup_us(facts: DirectoryFacts, n_users: int, n: int) -> float:
    ids = [f"00u{(i * 7919) % n_users}" for i in range(n)]
    start = time.perf_counter()
    for uid in ids:
        facts.user(uid)
    return (time.perf_counter() - start) / n * 1e6


async def _load_s(inv: Inventory) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteInventoryStore(Path(tmp) / "itdr.sqlite") as store:
            checkpoint = await store.begin_sync(TENANT, T0)
            parts = {"user": "users", "group": "groups", "role": "roles", "membership": "memberships"}
            parts["factor"] = "factors"
            for kind, part in parts.items():
                await store.write_page(TENANT, checkpoint, [(part, r) for r in inv.of(kind).values()])
            await store.end_sync(TENANT, {"state": "success", "last_success": T0}, keep_checkpoint=False)
            start = time.perf_counter()
            loaded = await store.load(TENANT)
            elapsed = time.perf_counter() - start
    assert len(loaded.users()) == len(inv.users())
    return elapsed


async def run(n_users: int, n_groups: int, n_signins: int) -> list[Figure]:
    inv = inventory(n_users, n_groups)
    facts = InventoryFacts(clock=lambda: T0)
    facts.load(inv)
    events = sign_ins(n_signins, n_users)
    section = "15 directory"
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):  # alternated, the best of each: the machine's noise is larger than the difference
        for given in (False, True):
            engine = build_engine(None, TenantContext(TENANT), directory=facts if given else None)
            runs[given].append(_timed_us(engine, events))
    without, with_facts = min(runs[False]), min(runs[True])
    records = sum(inv.counts().values())
    return [
        Figure(section, "lookup (InventoryFacts.user)", _lookup_us(facts, n_users, 50_000), "µs", f"{n_users} users"),
        Figure(section, "sign-in, no inventory", without, "µs", "every detection, best of 3"),
        Figure(section, "sign-in, with the inventory", with_facts, "µs", f"{n_users} users, {n_groups} groups"),
        Figure(section, "store load at start", await _load_s(inv), "s", f"{records} records"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int)
    p.add_argument("--groups", type=int)
    p.add_argument("--signins", type=int)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    users = args.users or (5_000 if args.quick else 50_000)
    groups = args.groups or (200 if args.quick else 2_000)
    signins = args.signins or (4_000 if args.quick else 20_000)
    for f in asyncio.run(run(users, groups, signins)):
        print(f"{f.section}\t{f.name}\t{f.value:.3g}\t{f.unit}\t{f.note}")


if __name__ == "__main__":
    main()
