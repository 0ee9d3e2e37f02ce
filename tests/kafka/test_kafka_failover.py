"""Kafka mode keeps state and loses nothing when a worker dies or the broker goes away."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import orjson
from aiokafka.partitioner import DefaultPartitioner

from deploy.kafka.broker import Broker, wait_ready
from detections.testkit import log_event, oie_push_accept, oie_push_deny, push_sent
from detector.stream.kafka_bus import Topics, read_topic
from tests.pipeline.conftest import Sim
from tests.pipeline.test_embedded_pipeline import ATTACKER, clears, inject_push_bombing

from .roles import Role, wait_for, write_config
from .support import group_lag, group_members

PARTITIONS = 3


def victims_on_every_partition(sim: Sim, per_partition: int = 2) -> list[dict]:
    """Users whose okta.events key lands on each partition, so each worker holds some victim's state."""
    partitioner, chosen, i = DefaultPartitioner(), {p: [] for p in range(PARTITIONS)}, 0
    while any(len(v) < per_partition for v in chosen.values()):
        user = sim.org.add_user(login=f"victim{i}@acme.com", first_name="V", last_name=str(i))
        part = partitioner(f"acme:{user['id']}".encode(), list(range(PARTITIONS)), list(range(PARTITIONS)))
        if len(chosen[part]) < per_partition:
            chosen[part].append(user)
        i += 1
    return [u for users in chosen.values() for u in users]


def who(user: dict) -> dict:
    return {"user": user["id"], "login": user["profile"]["login"], **ATTACKER}


def four_denials(sim: Sim, victims: list[dict], t0: float) -> dict[str, list[str]]:
    """The first part of each attack: a prompt and four denials, one short of a bombing finding. Returns the
    denials' uuids per victim."""
    denied: dict[str, list[str]] = {}
    for v in victims:
        raws = [push_sent(t0, **who(v))] + [oie_push_deny(t0 + 1 + k * 5, **who(v)) for k in range(4)]
        for raw in raws:
            sim.org.append(raw)
        denied[v["id"]] = [r["uuid"] for r in raws[1:]]
    return denied


def denial_and_accept(sim: Sim, victims: list[dict], t0: float) -> None:
    """The rest: both findings need the denials of ``four_denials`` as well."""
    for v in victims:
        sim.org.append(oie_push_deny(t0 + 30, **who(v)))
        sim.org.append(oie_push_accept(t0 + 40, **who(v)))


async def settle(bootstrap: str, group: str, roles: list[Role], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await group_lag(bootstrap, group, Topics(f"{group}.").events) != 0:
        await wait_for(lambda: time.monotonic() < deadline, 1, roles, "worker caught up")
        await asyncio.sleep(0.5)


async def test_a_killed_worker_hands_its_partitions_and_state_to_the_other(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path
):
    victims = victims_on_every_partition(sim)
    configs = {n: write_config(sim, tmp_path / n, kafka_bootstrap, app_id="failover") for n in ("a", "b")}
    poller = Role("poller", configs["a"], tmp_path / "poller.log")
    actions = Role("actions", configs["a"], tmp_path / "actions.log")
    workers = [Role("worker", configs[n], tmp_path / f"worker-{n}.log") for n in ("a", "b")]
    everyone = [poller, actions, *workers]
    for role in everyone:
        await role.start()
    try:
        deadline = time.monotonic() + 60
        while await group_members(kafka_bootstrap, "failover") != 2:
            await wait_for(lambda: time.monotonic() < deadline, 1, everyone, "two workers in the group")
            await asyncio.sleep(0.5)

        t0 = time.time() - 300
        before = four_denials(sim, victims, t0)
        await settle(kafka_bootstrap, "failover", everyone)
        assert clears(sim) == []

        await workers[0].kill()
        everyone.remove(workers[0])

        denial_and_accept(sim, victims, t0)
        await wait_for(lambda: len(clears(sim)) >= len(victims), 90, everyone, "a session clear per victim")
    finally:
        for role in everyone:
            await role.stop()

    findings = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, Topics("failover.").findings) if v]
    for v in victims:
        mine = {f["detection"]: f for f in findings if f["principal"] == v["id"]}
        assert set(mine) == {"mfa_push_bombing", "mfa_push_accepted"}, (v["id"], findings)
        assert set(before[v["id"]]) <= set(mine["mfa_push_bombing"]["event_uuids"])
    assert sorted(c.user_id for c in clears(sim)) == sorted(v["id"] for v in victims)


async def test_broker_stopped_and_restarted_mid_stream_loses_nothing(sim: Sim, kafka_broker: Broker, tmp_path: Path):
    bootstrap = kafka_broker.bootstrap
    rng = random.Random(7)
    users = [sim.org.add_user(login=f"user{i}@acme.com", first_name="U", last_name=str(i)) for i in range(20)]
    victims = users[:2]
    config = write_config(sim, tmp_path, bootstrap, app_id="outage")
    run = await Role("run", config, tmp_path / "run.log").start()

    async def traffic(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(10):
                u = rng.choice(users[2:])
                sim.org.append(
                    log_event("user.authentication.sso", time.time(), user=u["id"], login=u["profile"]["login"])
                )
            await asyncio.sleep(0.05)

    try:
        inject_push_bombing(sim, victims[0], time.time() - 60)
        await traffic(2)
        # mid-stream: the roles are up and acting (a busy machine can take longer than the traffic to start them)
        await wait_for(lambda: len(clears(sim)) >= 1, 120, [run], "the first victim's session clear")
        await traffic(2)
        await asyncio.to_thread(kafka_broker.stop, remove=False)
        inject_push_bombing(sim, victims[1], time.time() - 60)  # stored in Okta while Kafka is down
        await traffic(8)
        kafka_broker.start_again()  # not in a thread: the broker dies with the thread that started it
        await wait_ready(bootstrap, 90, broker=kafka_broker)
        await traffic(4)
        await asyncio.sleep(1)
        expected = {e["uuid"] for e in sim.org.events_visible()}
        await wait_for(lambda: len(clears(sim)) >= 2, 120, [run], "a session clear per victim")
        await settle(bootstrap, "outage", [run], timeout=90)
    finally:
        code = await run.stop()
    assert code == 0, run.tail()

    produced = {orjson.loads(v)["uuid"] for _, v in await read_topic(bootstrap, Topics("outage.").events) if v}
    assert expected - produced == set(), f"{len(expected - produced)} events lost over the outage"
    findings = [orjson.loads(v) for _, v in await read_topic(bootstrap, Topics("outage.").findings) if v]
    for v in victims:
        assert {f["detection"] for f in findings if f["principal"] == v["id"]} == {
            "mfa_push_bombing",
            "mfa_push_accepted",
        }
    assert sorted(c.user_id for c in clears(sim)) == sorted(v["id"] for v in victims)


async def test_rocksdb_store_keeps_state_across_a_sigkilled_worker(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    victims = victims_on_every_partition(sim, per_partition=1)
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="rocks", kafka={"store": "rocksdb://"})
    poller = Role("poller", config, tmp_path / "poller.log")
    actions = Role("actions", config, tmp_path / "actions.log")
    worker = Role("worker", config, tmp_path / "worker.log")
    everyone = [poller, actions, worker]
    for role in everyone:
        await role.start()
    try:
        t0 = time.time() - 300
        four_denials(sim, victims, t0)
        await settle(kafka_bootstrap, "rocks", everyone)
        await worker.kill()
        assert any((tmp_path / "data" / "faust").rglob("*.sst")) or any((tmp_path / "data" / "faust").rglob("CURRENT"))
        await worker.start()
        denial_and_accept(sim, victims, t0)
        await wait_for(lambda: len(clears(sim)) >= len(victims), 90, everyone, "a session clear per victim")
    finally:
        for role in everyone:
            await role.stop()
    assert sorted(c.user_id for c in clears(sim)) == sorted(v["id"] for v in victims)
