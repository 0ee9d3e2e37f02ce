"""The Kafka-mode inventory store on the real broker against the SQLite one: the same syncs of the simulator and
the same System Log events leave the same inventory, stale marks and counts in both; a sync killed mid-way
resumes from the checkpoint on the topic in another store (another process), in the same generation."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from detections.event import parse_event
from detections.testkit import admin_event
from detector.inventory.events import InventoryUpdater
from detector.inventory.interrupt import CancelAfterPages
from detector.inventory.kafka_store import KafkaInventoryStore
from detector.inventory.model import ApiToken
from detector.inventory.store import InventoryStore, SqliteInventoryStore
from detector.inventory.sync import InventorySync
from detector.okta import OktaClient, SswsAuth
from detector.sim import RateLimits
from detector.sim.org_population import build_directory
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics
from tests.inventory.conftest import TOKEN, StartSim, start_sim  # noqa: F401  (the fixture)


async def kafka_store(bootstrap: str, prefix: str) -> KafkaInventoryStore:
    topics = Topics(prefix)
    await ensure_topics(bootstrap, TopicPlan(topics, 1))
    return await KafkaInventoryStore(bootstrap, topics.inventory).open()


def comparable(record: Any) -> Any:
    """The sync's own token is used by each sync (Okta moves its last use and so its expiry): not compared."""
    if isinstance(record, ApiToken) and record.name == "inventory":
        return dataclasses.replace(record, last_used=None, expires=None)
    return record


async def agree(a: InventoryStore, b: InventoryStore) -> None:
    left, right = await a.load("acme"), await b.load("acme")
    for kind in left.KINDS:
        mine = {rid: comparable(r) for rid, r in left.of(kind).items()}
        assert mine == {rid: comparable(r) for rid, r in right.of(kind).items()}, kind
    assert await a.counts("acme") == await b.counts("acme")
    assert await a.stale("acme") == await b.stale("acme")  # type: ignore[attr-defined]
    assert (await a.sync_status("acme"))["acme"]["generation"] == (await b.sync_status("acme"))["acme"]["generation"]


async def test_the_kafka_store_and_the_sqlite_store_agree(
    start_sim: StartSim,  # noqa: F811
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    sim = await start_sim(RateLimits(apps=2000, groups=2000))
    build_directory(sim.org, 10, 6, seed=2)
    inv_sim = sim.org.inventory
    kafka = await kafka_store(kafka_bootstrap, "store.")
    sqlite = await SqliteInventoryStore(tmp_path / "itdr.sqlite").open()
    stores: tuple[InventoryStore, InventoryStore] = (sqlite, kafka)
    try:
        async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0) as client:
            for store in stores:
                assert (await InventorySync("acme", client, store).run())["state"] == "success"
            await agree(*stores)
            first = await kafka.load("acme")
            assert first.synced_at is not None and len(first.users()) >= 10

            page = await client.fetch_log_page(since=None)
            new = inv_sim.create_user("new.admin@acme.com")
            group = sim.org.add_group("Incident Responders")
            inv_sim.add_member(group["id"], new["id"])
            inv_sim.grant_role(new["id"], "SUPER_ADMIN")
            inv_sim.create_api_token("break glass", "new.admin@acme.com", network="ANYWHERE")
            inv_sim.enroll_factor(new["id"], "webauthn")
            leaver = next(u for u in first.users().values() if not first.roles_of_user(u.id))
            target = [sim.org.directory.get(leaver.id).target()]  # deleted: the user and what hangs off it go
            sim.org.append(admin_event("user.lifecycle.delete.initiated", time.time(), targets=target))
            events = [*page.events, *(await client.fetch_log_page(page.next_url)).events]
            for store in stores:
                updater = InventoryUpdater(store)
                outcomes = [await updater.apply(parse_event(raw, "acme")) for raw in events]
                assert "removed" in outcomes and "updated" in outcomes
            await agree(*stores)
            changed = await kafka.load("acme")
            assert group["id"] in changed.groups_of(new["id"]) and leaver.id not in changed.users()
            assert changed.factors_of(leaver.id) == [] and ("factor", f"user:{new['id']}") in {
                (k, i) for k, i, _ in await kafka.stale("acme")
            }

            for store in stores:  # the next full sync replaces what the events approximated, clears the marks
                assert (await InventorySync("acme", client, store).run())["state"] == "success"
            await agree(*stores)
            assert await kafka.stale("acme") == []
            assert not [r for r in (await kafka.load("acme")).of("role") if r.startswith("evt.")]
    finally:
        await kafka.close()
        await sqlite.close()


class KillAfter(CancelAfterPages, KafkaInventoryStore):
    """Cancels the sync's task right after its ``pages``-th page is on the topic (as a SIGTERM or crash would)."""

    pages = 3  # the deprovisioned users' page, two of the others


async def test_a_killed_sync_resumes_from_the_checkpoint_on_the_topic(
    start_sim: StartSim,  # noqa: F811
    kafka_bootstrap: str,
) -> None:
    sim = await start_sim()
    for i in range(12):
        sim.org.add_user(f"user{i}@acme.com", factors=("push",))
    topics = Topics("resume.")
    await ensure_topics(kafka_bootstrap, TopicPlan(topics, 1))
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0, backoff_base=0.05) as client:
        killing = await KillAfter(kafka_bootstrap, topics.inventory).open()
        try:
            with pytest.raises(asyncio.CancelledError):
                await asyncio.create_task(InventorySync("acme", client, killing, page_limits={"users": 5}).run())
            checkpoint = await killing.checkpoint("acme")
        finally:
            await killing.close()
        assert checkpoint is not None and checkpoint.part == "users" and "after=" in (checkpoint.next_url or "")
        first_run = len(sim.seen)
        async with KafkaInventoryStore(kafka_bootstrap, topics.inventory) as store:  # another process's store
            assert (await store.sync_status("acme"))["acme"]["state"] == "in_progress"
            status = await InventorySync("acme", client, store, page_limits={"users": 5}).run()
            assert status["state"] == "success" and status["resumed"] == 1
            assert status["generation"] == checkpoint.generation
            listing = [q for p, q, _ in sim.seen[first_run:] if p == "/api/v1/users" and "search=" not in q]
            assert listing == [checkpoint.next_url.split("?", 1)[1]]  # only the third page, from the stored cursor
            inventory = await store.load("acme")
            assert len(inventory.users()) == 12 and len(inventory.of("factor")) == 12
            assert await store.checkpoint("acme") is None
