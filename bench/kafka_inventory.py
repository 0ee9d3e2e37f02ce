"""Figure 17: Kafka mode's inventory on a real local broker, at 50 000 users.

What the compacted ``itdr.inventory`` topic costs each role: the syncing role writes a full sync's records page
by page (each page and its checkpoint sent, acknowledged and read back: ``KafkaInventoryStore``), and reads the
topic whole when it starts; every detection worker and action worker reads it whole into ``InventoryFacts``
before it knows anything (``InventoryFollower``), then follows it: how long a change written by the syncing role
(a suspension from the System Log) takes to reach a worker's facts. The inventory is figure 16's synthetic one
(``bench.directory.inventory``: 50 000 users, 2 000 groups, 3 memberships and a push factor each).

.venv/bin/python -m bench.kafka_inventory            # 50 000 users, 2 000 groups
.venv/bin/python -m bench.kafka_inventory --quick    # 5 000 users, 200 groups
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import Figure
from bench.directory import TENANT, inventory
from deploy.kafka.broker import fetch_jars, run_broker
from detector.inventory.facts import InventoryFacts
from detector.inventory.kafka_store import InventoryFollower, KafkaInventoryStore
from detector.inventory.model import KIND_OF, Inventory
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics

SECTION = "17 kafka inventory"
WORKDIR = Path(__file__).resolve().parent.parent / "var" / "bench-kafka-inventory"
PAGE_USERS = 200  # Okta's users page: each page carries its users' factors and memberships with it
CHANGES = 50


def pages(inv: Inventory) -> list[list[tuple[str, Any]]]:
    """The records as a sync writes them: groups first, then pages of users with what hangs off each."""
    groups = [("groups", r) for kind in ("group", "role") for r in inv.of(kind).values()]
    users = list(inv.users().values())
    out = [groups]
    for start in range(0, len(users), PAGE_USERS):
        page: list[tuple[str, Any]] = []
        for user in users[start : start + PAGE_USERS]:
            page.append(("users", user))
            page += [("user_factors", f) for f in inv.factors_of(user.id)]
            page += [("group_members", m) for m in inv.by("membership", "user_id", user.id)]
        out.append(page)
    return out


async def measure(n_users: int, n_groups: int) -> list[Figure]:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    broker = await asyncio.to_thread(run_broker, WORKDIR / "broker", libs_dir=fetch_jars())
    try:
        return await _measure(broker.bootstrap, n_users, n_groups)
    finally:
        await asyncio.to_thread(broker.stop)


async def _measure(bootstrap: str, n_users: int, n_groups: int) -> list[Figure]:
    topics = Topics("bench.")
    await ensure_topics(bootstrap, TopicPlan(topics, 1))
    inv = inventory(n_users, n_groups)
    written = pages(inv)
    n_records = sum(len(p) for p in written)
    async with KafkaInventoryStore(bootstrap, topics.inventory) as store:
        checkpoint = await store.begin_sync(TENANT, time.time())
        t0 = time.perf_counter()
        for page in written:
            await store.write_page(TENANT, checkpoint, page)
        for part in ("groups", "users"):
            await store.finish_part(TENANT, checkpoint, part, ["user_factors", "group_members"])
        await store.end_sync(
            TENANT, {"state": "success", "generation": 1, "last_success": time.time()}, keep_checkpoint=False
        )
        write_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    async with KafkaInventoryStore(bootstrap, topics.inventory) as store:
        reopen_s = time.perf_counter() - t0
        facts = {TENANT: InventoryFacts()}
        follower = InventoryFollower(bootstrap, topics.inventory, facts)
        t0 = time.perf_counter()
        following = asyncio.create_task(follower.run())
        await follower.ready.wait()
        follow_s = time.perf_counter() - t0
        assert facts[TENANT].user("00u0") is not None, "the follower did not load the inventory"
        latencies = []
        for i in range(CHANGES):
            uid = f"00u{(i * 7919) % n_users}"
            user = dataclasses.replace(inv.users()[uid], status="SUSPENDED")
            t0 = time.perf_counter()
            await store.put(TENANT, "users", [user])
            while (found := facts[TENANT].user(uid)) is None or found.status != "SUSPENDED":
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - t0) * 1000)
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    kinds = sorted({KIND_OF[type(r)] for p in written for _, r in p})
    size = f"{n_users} users, {n_groups} groups, {n_records} records ({', '.join(kinds)})"
    q = statistics.quantiles(latencies, n=20)
    return [
        Figure(SECTION, "full sync written (pages + checkpoints)", write_s, "s", size),
        Figure(SECTION, "records written per second", n_records / write_s, "records/s", f"{PAGE_USERS} users a page"),
        Figure(SECTION, "store opened (topic read whole)", reopen_s, "s", "the syncing role at start"),
        Figure(SECTION, "worker facts loaded (topic read whole)", follow_s, "s", "InventoryFollower until ready"),
        Figure(
            SECTION,
            "a change to a worker's facts, median",
            statistics.median(latencies),
            "ms",
            f"{CHANGES} suspensions put, each awaited in the facts",
        ),
        Figure(SECTION, "a change to a worker's facts, p95", q[18], "ms", "put acknowledged + read back + followed"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_users, n_groups = (5_000, 200) if args.quick else (50_000, 2_000)
    for f in asyncio.run(measure(n_users, n_groups)):
        print(f"{f.name:45s} {f.value:12.3f} {f.unit:10s} {f.note}")


if __name__ == "__main__":
    main()
