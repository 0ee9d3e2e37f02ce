"""Kafka mode end to end: simulator → poller → Kafka → Faust detections → findings → action worker → Okta."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from detections.testkit import failed_sign_in, oie_push_deny, push_sent, sign_in
from detector.stream.kafka_bus import Topics, read_records, read_topic
from tests.pipeline.conftest import Sim
from tests.pipeline.test_embedded_pipeline import clears, inject_push_bombing

from .roles import Role, wait_for, write_config


async def test_push_bombing_through_kafka_clears_the_session_once(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.add_user(login="bob@acme.com", first_name="Bob", last_name="By")
    poisoned = sign_in(time.time() - 200, "london", uuid="poison-lat", actor=_actor(victim))
    poisoned["client"]["geographicalContext"]["geolocation"]["lat"] = "inf"  # neutralised, no crash
    far_future = failed_sign_in(time.time() - 190, "victim@acme.com", uuid="poison-published")
    far_future["published"] = "9999-12-31T23:59:59-23:59"  # refused: a dead letter with the reason
    huge = failed_sign_in(time.time() - 180, "victim@acme.com", uuid="poison-huge")  # forwarded per login and IP
    huge["client"]["userAgent"] = {"rawUserAgent": "A" * 1_010_000}  # a forward Faust's producer would refuse
    sim.org.append(poisoned)
    sim.org.append(far_future)
    sim.org.append(huge)
    inject_push_bombing(sim, victim, time.time() - 120)
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="e2e")
    role = await Role("run", config, tmp_path / "run.log", "--kafka", kafka_bootstrap).start()
    try:
        await wait_for(lambda: len(clears(sim)) >= 1, 90, [role], "a session clear in the simulator")
        deadline = time.monotonic() + 30
        while not await _incident_shows_the_clear(kafka_bootstrap, victim):  # published after the Okta call
            seen = await _victims_incidents(kafka_bootstrap, victim)
            assert time.monotonic() < deadline and role.alive(), f"{seen}\n{role.tail()}"
            await asyncio.sleep(0.5)
    finally:
        code = await role.stop()
    assert code == 0, role.tail()

    assert [c.user_id for c in clears(sim)] == [victim["id"]]
    findings = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, Topics("e2e.").findings) if v]
    mine = {f["detection"] for f in findings if f["principal"] == victim["id"]}
    assert {"mfa_push_bombing", "mfa_push_accepted"} <= mine, findings
    audit = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, Topics("e2e.").actions) if v]
    assert [a["status"] for a in audit if a["action"] == "clear_sessions"] == ["pending", "done"]
    latest = {k: orjson.loads(v) for k, v in await read_topic(kafka_bootstrap, Topics("e2e.").incidents) if v}
    (incident,) = [i for i in latest.values() if i["entity"] == f"user:{victim['id']}"]  # one attack, one incident
    assert {f["detection"] for f in incident["findings"]} >= {"mfa_push_bombing", "mfa_push_accepted"}
    assert incident["severity"] == "high-confidence"
    assert [(a["action"], a["status"]) for a in incident["actions"]] == [("clear_sessions", "done")]
    dead = {
        dict(r.headers)["reason"].decode(): r.value
        for r in await read_records(kafka_bootstrap, Topics("e2e.").deadletter)
    }
    (published,) = [reason for reason in dead if reason.startswith("malformed event: published '9999-12-31T23:59:59")]
    assert orjson.loads(dead.pop(published))["uuid"] == "poison-published"
    (huge_reason, cut) = dead.popitem()  # refused before any detection or forward, and kept cut to the limit
    assert huge_reason.startswith("event of 1,01") and "over the 262,144-byte limit" in huge_reason, huge_reason
    assert len(cut) == 262_144 and b'"poison-huge"' in cut and not dead


async def _victims_incidents(bootstrap: str, victim: dict) -> list[dict]:
    latest = {k: orjson.loads(v) for k, v in await read_topic(bootstrap, Topics("e2e.").incidents) if v}
    return [i for i in latest.values() if i["entity"] == f"user:{victim['id']}"]


async def _incident_shows_the_clear(bootstrap: str, victim: dict) -> bool:
    return any(a["status"] == "done" for i in await _victims_incidents(bootstrap, victim) for a in i["actions"])


def _actor(user: dict) -> dict:
    return {"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}


async def test_state_lands_in_the_changelog_partition_of_its_events(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    """A batch spans partitions: each state key must still be written where its events live, or a worker
    taking over that partition would recover without it."""
    users = [sim.org.add_user(login=f"u{i}@acme.com", first_name="U", last_name=str(i)) for i in range(8)]
    for i, user in enumerate(users):  # 8: under the default circuit breaker of 10 actions an hour
        inject_push_bombing(sim, user, time.time() - 300 + i)
        for k in range(3):  # per-login and per-IP state: the re-keyed table
            sim.org.append(failed_sign_in(time.time() - 200 + k, f"u{i}@acme.com", ip=f"203.0.113.{k}"))
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="placement")
    role = await Role("run", config, tmp_path / "run.log", "--kafka", kafka_bootstrap).start()
    try:
        await wait_for(lambda: len(clears(sim)) >= len(users), 90, [role], "a session clear per user")
    finally:
        await role.stop()

    partitioner, parts = DefaultPartitioner(), list(range(3))
    for table, route_key in (("actor-states", "{tenant}:{key}"), ("keyed-states", "{tenant}|{key}")):
        records = await read_records(kafka_bootstrap, f"placement-{table}-changelog")
        assert records, table
        for record in records:
            tenant, _detection, state_key = record.key.decode().split("|", 2)
            expected = partitioner(route_key.format(tenant=tenant, key=state_key).encode(), parts, parts)
            assert record.partition == expected, (table, record.key, record.partition, expected)


async def test_dead_state_is_swept_from_the_tables_with_a_tombstone_in_its_partition(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path
):
    """State whose horizon the watermark has passed is deleted from the Faust tables: the changelog gets a
    tombstone in the partition the key's writes went to (a rebuilt table no longer holds it); live state stays.
    The dead keys were written by a worker that stopped: the next one finds them in the table it rebuilt."""
    old_user = sim.org.add_user(login="old@acme.com", first_name="Old", last_name="User")
    live_user = sim.org.add_user(login="live@acme.com", first_name="Live", last_name="User")
    long_ago = time.time() - 3 * 86_400
    for k in range(2):  # two denied pushes (no finding): hours of state, keyed by actor
        sim.org.append(push_sent(long_ago + k * 20, **_who(old_user)))
        sim.org.append(oie_push_deny(long_ago + k * 20 + 1, **_who(old_user)))
    sim.org.append(failed_sign_in(long_ago + 60, "old@acme.com", ip="198.51.100.77"))  # per login and IP: re-keyed
    poll = {"interval_s": 0.25, "lookback_minutes": 5 * 24 * 60}
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="sweep", poll=poll)
    dead = {f"acme|actor|{old_user['id']}", "acme|brute_force|old@acme.com", "acme|password_spray|198.51.100.77"}
    changelogs: dict[str, list] = {}

    async def changelog() -> list:
        for table in ("actor-states", "keyed-states"):
            try:
                changelogs[table] = await read_records(kafka_bootstrap, f"sweep-{table}-changelog")
            except AssertionError:  # the worker has not created its changelog yet
                changelogs[table] = []
        return [r for records in changelogs.values() for r in records]

    async def until(done: Any, role: Role, what: str) -> list:
        deadline = time.monotonic() + 150
        while not done(records := await changelog()):
            assert role.alive() and time.monotonic() < deadline, f"{what}\n{role.tail()}"
            await asyncio.sleep(1)
        return records

    role = await Role("run", config, tmp_path / "run.log", "--kafka", kafka_bootstrap).start()
    try:  # the newest events are the old ones: nothing is dead yet
        await until(lambda rs: dead <= {r.key.decode() for r in rs}, role, "the old state written")
    finally:
        await role.stop()
    sim.org.append(sign_in(time.time() - 30, "nyc", actor=_actor(live_user)))  # the watermark, and live state
    role = await Role("run", config, tmp_path / "run2.log", "--kafka", kafka_bootstrap).start()
    try:
        records = await until(
            lambda rs: dead <= {r.key.decode() for r in rs if r.value is None}, role, "tombstones of the old state"
        )
    finally:
        await role.stop()
    for key in dead:  # written, then deleted, in one partition
        assert len({r.partition for r in records if r.key.decode() == key}) == 1, key
        assert [r.value is None for r in records if r.key.decode() == key][-1], key
    live = f"acme|actor|{live_user['id']}"
    assert any(r.key.decode() == live for r in records)
    assert not any(r.key.decode() == live and r.value is None for r in records)


def _who(user: dict) -> dict:
    return {"user": user["id"], "login": user["profile"]["login"]}
