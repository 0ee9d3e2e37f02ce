"""Kafka mode: a spray flagged in one worker's partition implicates a sign-in handled in the other's, through
the compacted itdr.signals topic every worker follows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiokafka.partitioner import DefaultPartitioner

from detections.testkit import failed_sign_in, sign_in
from detector.stream.kafka_bus import Topics, read_records, read_topic
from tests.pipeline.conftest import Sim

from .roles import Role, wait_for, write_config
from .support import group_members

PARTS = [0, 1]
STARK = {"asNumber": 44477, "asOrg": "stark industries solutions ltd", "isp": "stark industries", "isProxy": False}


def partition(key: str) -> int:
    return DefaultPartitioner()(key.encode(), PARTS, PARTS)


async def test_a_spray_on_one_worker_implicates_a_success_on_the_other(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    success_partition = partition(f"acme:{victim['id']}")  # okta.events: where detect-by-actor sees the sign-in
    # password_spray's state (itdr.events.rekeyed, keyed by IP) on the other partition: the other worker
    sprayer = next(ip for n in range(1, 255) if partition(f"acme|{(ip := f'45.135.232.{n}')}") != success_partition)
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="signals", partitions=2)
    workers = [Role("worker", config, tmp_path / f"worker-{n}.log") for n in "ab"]
    poller = Role("poller", config, tmp_path / "poller.log")
    everyone = [*workers, poller]
    for role in everyone:
        await role.start()
    topics = Topics("signals.")
    try:
        deadline = time.monotonic() + 60
        while await group_members(kafka_bootstrap, "signals") != 2:  # one partition each
            await wait_for(lambda: time.monotonic() < deadline, 1, everyone, "two workers in the group")
            await asyncio.sleep(0.5)
        t0 = time.time() - 600
        for i in range(12):  # twelve users, one wrong password each
            sim.org.append(failed_sign_in(t0 + i * 5, f"user{i}@acme.com", ip=sprayer, securityContext=dict(STARK)))
        who = {"id": victim["id"], "type": "User", "alternateId": "victim@acme.com", "displayName": "Vic Tim"}
        success = sign_in(t0 + 120, "moscow", ip=sprayer, actor=who, behaviors="{New Device=POSITIVE, New IP=POSITIVE}")
        success["securityContext"] = dict(STARK)
        sim.org.append(success)

        found: list[dict] = []

        async def hits() -> list[dict]:
            records = await read_topic(kafka_bootstrap, topics.findings)
            return [
                f for f in (orjson.loads(v) for _, v in records if v) if f["detection"] == "success_from_flagged_source"
            ]

        deadline = time.monotonic() + 90
        while not found:
            await wait_for(lambda: time.monotonic() < deadline, 1, everyone, "success_from_flagged_source")
            found = await hits()
            await asyncio.sleep(0.5)
    finally:
        for role in everyone:
            await role.stop()

    (hit,) = {f["dedup_key"]: f for f in found}.values()
    assert hit["principal"] == victim["id"] and hit["tier"] == "high-confidence"
    assert hit["event_uuids"] == [success["uuid"]]
    assert f"ip:{sprayer} flagged by password_spray" in hit["evidence"][0]["label"]
    signals = {r.key.decode(): orjson.loads(r.value) for r in await read_records(kafka_bootstrap, topics.signals)}
    assert signals[f"acme:ip:{sprayer}"]["detection"] == "password_spray"
    assert signals["acme:asn:44477"]["users"] >= 10
