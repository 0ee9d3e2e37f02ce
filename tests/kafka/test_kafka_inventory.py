"""Kafka mode's directory inventory on the real broker: the poller role syncs the simulator's directory into the
compacted itdr.inventory topic, a detection worker in another process follows it and judges a suspended user's
sign-in (and, after a System Log deactivation the inventory consumer applied, a leaver's) as
``inactive_user_signin``; a record Okta no longer has is a tombstone after the next sync."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from detections.testkit import admin_event, sign_in
from detector.inventory.kafka_store import KafkaInventoryStore
from detector.inventory.topic import entry_of, split_key
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics, read_records, read_topic
from tests.pipeline.conftest import Sim
from tests.pipeline.test_embedded_pipeline import inject_push_bombing

from .roles import Role, wait_for, write_config
from .support import group_members


async def topic_view(bootstrap: str, topic: str) -> dict[str, bytes | None]:
    """The inventory topic folded by key (what compaction keeps), every key decoded."""
    return {r.key.decode(): r.value for r in await read_records(bootstrap, topic)}


def status_of(view: dict[str, bytes | None]) -> dict[str, Any]:
    raw = view.get("acme|~status|")
    return orjson.loads(raw) if raw else {}


async def until(condition, timeout: float, roles: list[Role], what: str) -> None:
    """Until the async ``condition`` holds (the roles still alive)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        await wait_for(lambda: time.monotonic() < deadline, 1, roles, what)
        await asyncio.sleep(0.5)


def signs_in(sim: Sim, user: dict, t: float) -> dict:
    actor = {"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}
    event = sign_in(t, "nyc", actor=actor)
    sim.org.append(event)
    return event


async def test_a_sync_in_kafka_mode_reaches_another_process_and_sweeps_with_tombstones(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path
):
    held = sim.org.add_user(login="held@acme.com", first_name="He", last_name="Ld", status="SUSPENDED")
    leaver = sim.org.add_user(login="leaver@acme.com", first_name="Le", last_name="Aver")
    other = sim.org.add_user(login="other@acme.com", first_name="Ot", last_name="Her", groups=["Everyone", "Temps"])
    temps = next(g for g in sim.org.directory.groups.values() if g.name == "Temps")
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="inventory", partitions=2)
    topics = Topics("inventory.")
    await ensure_topics(kafka_bootstrap, TopicPlan(topics, 2))  # what the roles create: read before they start
    poller = Role("poller", config, tmp_path / "poller.log")
    worker = Role("worker", config, tmp_path / "worker.log")
    everyone = [poller, worker]
    await worker.start()
    try:
        deadline = time.monotonic() + 60
        while await group_members(kafka_bootstrap, "inventory") != 1:  # the worker's tables are declared
            await wait_for(lambda: time.monotonic() < deadline, 1, [worker], "the worker in its group")
            await asyncio.sleep(0.5)
        await poller.start()

        async def synced(generation: int) -> bool:
            status = status_of(await topic_view(kafka_bootstrap, topics.inventory))
            return status.get("state") == "success" and status.get("generation") == generation

        await until(lambda: synced(1), 90, everyone, "the first sync on itdr.inventory")
        view = await topic_view(kafka_bootstrap, topics.inventory)
        stored = entry_of("user", view[f"acme|user|{held['id']}"])
        assert stored is not None and stored.record.status == "SUSPENDED" and stored.src == "sync"
        membership = f"acme|membership|{temps.id}:{other['id']}"
        assert view[membership] is not None
        assert "acme|~checkpoint|" in view and view["acme|~checkpoint|"] is None  # the finished sync dropped it

        async def findings() -> list[dict]:
            records = await read_topic(kafka_bootstrap, topics.findings)
            return [f for f in (orjson.loads(v) for _, v in records if v) if f["detection"] == "inactive_user_signin"]

        signs_in(sim, other, time.time())
        held_signin = signs_in(sim, held, time.time())
        await until(lambda: _has(findings, held["id"]), 120, everyone, "inactive_user_signin of the suspended user")

        # the leaver is deprovisioned after the sync: the inventory consumer writes it to the topic, the worker
        # follows it
        target = [{"id": leaver["id"], "type": "User", "alternateId": "leaver@acme.com", "displayName": "Le"}]
        sim.org.append(admin_event("user.lifecycle.deactivate", time.time(), targets=target))

        async def deprovisioned() -> bool:
            raw = (await topic_view(kafka_bootstrap, topics.inventory)).get(f"acme|user|{leaver['id']}")
            entry = entry_of("user", raw) if raw else None
            return entry is not None and entry.record.status == "DEPROVISIONED" and entry.src == "event"

        await until(deprovisioned, 60, everyone, "the deactivation applied to itdr.inventory")
        # the worker's follower reads it a moment later (however busy the machine): the leaver signs in again
        # every few seconds until a sign-in is judged against the deprovisioned record
        last_signin = [0.0]

        async def leaver_flagged() -> bool:
            if await _has(findings, leaver["id"]):
                return True
            if time.monotonic() - last_signin[0] > 3:
                last_signin[0] = time.monotonic()
                signs_in(sim, leaver, time.time())
            return False

        await until(leaver_flagged, 60, everyone, "inactive_user_signin of the leaver")

        # Okta no longer has the membership (no System Log event says so): the next sync sweeps it
        sim.org.directory.remove_member(temps, sim.org.directory.get(other["id"]), time.time())
        await poller.stop()
        poller = await Role("poller", config, tmp_path / "poller-2.log").start()
        everyone = [poller, worker]
        await until(lambda: synced(2), 90, everyone, "the second sync on itdr.inventory")
        found = await findings()
    finally:
        for role in everyone:
            await role.stop()

    principals = [f["principal"] for f in {f["dedup_key"]: f for f in found}.values()]
    assert principals.count(held["id"]) == 1 and set(principals) == {held["id"], leaver["id"]}
    hit = next(f for f in found if f["principal"] == held["id"])
    assert hit["event_uuids"] == [held_signin["uuid"]] and hit["tier"] == "high"
    records = await read_records(kafka_bootstrap, topics.inventory)
    mine = [r for r in records if r.key.decode() == membership]
    assert mine[0].value is not None and mine[-1].value is None  # written by the first sync, tombstoned by the second
    assert all(split_key(r.key) is not None for r in records)
    # the store reads the topic back as the sync left it
    async with KafkaInventoryStore(kafka_bootstrap, topics.inventory) as store:
        inventory = await store.load("acme")
        assert inventory.synced_at is not None
        assert temps.id not in inventory.groups_of(other["id"])
        assert inventory.users()[held["id"]].status == "SUSPENDED"
        assert await store.get("acme", "membership", f"{temps.id}:{other['id']}") is None
        assert (await store.sync_status("acme"))["acme"]["generation"] == 2


async def _has(findings, principal: str) -> bool:
    return any(f["principal"] == principal for f in await findings())


async def test_the_action_worker_reads_the_targets_admin_roles_from_the_topic(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path
):
    """An approval for a super administrator needs two approvers, known from itdr.inventory (not from Okta)."""
    victim = sim.org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")
    sim.org.set_roles(victim["id"], ["SUPER_ADMIN"])
    response = {"modes": {"clear_sessions": "approve"}}
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="invact", partitions=1, response=response)
    topics = Topics("invact.")
    await ensure_topics(kafka_bootstrap, TopicPlan(topics, 1))
    role = await Role("run", config, tmp_path / "run.log", "--kafka", kafka_bootstrap).start()
    try:

        async def synced() -> bool:
            return status_of(await topic_view(kafka_bootstrap, topics.inventory)).get("state") == "success"

        await until(synced, 90, [role], "the sync on itdr.inventory")
        await asyncio.sleep(2.0)  # the action worker's follower reads it
        inject_push_bombing(sim, victim, time.time() - 60)

        async def asked() -> list[dict]:
            rows = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, topics.actions) if v]
            return [r for r in rows if r["status"] == "awaiting_approval" and r["principal"] == victim["id"]]

        async def any_asked() -> bool:
            return bool(await asked())

        await until(any_asked, 120, [role], "the clear_sessions approval request")
        (row,) = await asked()
    finally:
        await role.stop()
    assert row["approval"]["approvers_needed"] == 2
    assert "SUPER_ADMIN, per the directory inventory" in row["detail"]
