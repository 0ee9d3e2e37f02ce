"""Kafka mode: an action worker killed mid-delivery hands its findings and its channels to the other.

Two `detector actions` processes share ``itdr.findings`` and each channel's consumer of
``itdr.incidents``. Push-bombing attacks on victims spread over every partition reach a slow, signed
webhook receiver; one action worker is killed with SIGKILL as the first deliveries arrive. The other
must then act on every victim exactly once, and the receiver must get every incident version the
topic holds, each under one webhook-id whose repeats (a delivery redone after the kill) carry the same
body, so dropping a repeated id loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.stream.kafka_bus import Topics, read_topic
from tests.pipeline.conftest import Sim
from tests.pipeline.test_embedded_pipeline import clears, inject_push_bombing
from tests.pipeline.test_kill9 import SIGNING_SECRET, slow_receiver

from .roles import Role, wait_for, write_config
from .support import group_lag, group_members
from .test_kafka_failover import victims_on_every_partition

APP = "respondover"


async def test_a_killed_action_worker_hands_over_without_loss_or_repeat(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
):
    bodies: dict[str, set[bytes]] = defaultdict(set)
    received: dict[str, int] = {}
    monkeypatch.setenv("ITDR_TEST_HOOK_URL", await slow_receiver(aiohttp_server, received, bodies))
    monkeypatch.setenv("ITDR_TEST_HOOK_SECRET", SIGNING_SECRET)
    hook = {"kind": "webhook", "name": "soar", "url": {"env": "ITDR_TEST_HOOK_URL"}}
    hook["secret"] = {"env": "ITDR_TEST_HOOK_SECRET"}
    victims = victims_on_every_partition(sim)
    configs = {n: write_config(sim, tmp_path / n, kafka_bootstrap, app_id=APP, channels=[hook]) for n in "ab"}
    poller = Role("poller", configs["a"], tmp_path / "poller.log")
    worker = Role("worker", configs["a"], tmp_path / "worker.log")
    actions = [Role("actions", configs[n], tmp_path / f"actions-{n}.log") for n in "ab"]
    everyone = [poller, worker, *actions]
    for role in everyone:
        await role.start()
    try:
        deadline = time.monotonic() + 60
        while await group_members(kafka_bootstrap, f"{APP}-actions") != 2:
            await wait_for(lambda: time.monotonic() < deadline, 1, everyone, "two action workers in the group")
            await asyncio.sleep(0.5)
        for victim in victims:
            inject_push_bombing(sim, victim, time.time() - 300)
        await wait_for(lambda: bool(received), 90, everyone, "a first delivery")
        await actions[0].kill()
        everyone.remove(actions[0])

        topic = Topics(f"{APP}.").incidents
        deliver_group = f"{APP}-deliver-acme.soar"

        async def published() -> set[str]:
            return {
                f"{(i := orjson.loads(v))['key']}.v{i['version']}" for _, v in await read_topic(kafka_bootstrap, topic)
            }

        deadline = time.monotonic() + 120
        while not (
            len(clears(sim)) >= len(victims)
            and await group_lag(kafka_bootstrap, deliver_group, topic) == 0
            and await published() <= set(received)
        ):
            await wait_for(lambda: time.monotonic() < deadline, 1, everyone, "every incident version delivered")
            await asyncio.sleep(0.5)
        await asyncio.sleep(3.0)  # a late repeat would show now
    finally:
        for role in everyone:
            await role.stop()

    versions = await published()
    assert sorted(c.user_id for c in clears(sim)) == sorted(v["id"] for v in victims), "Okta called twice or never"
    assert set(received) == versions, "an incident version lost (or one delivered that was never published)"
    assert {len({i.rsplit(".v", 1)[0] for i in versions})} == {len(victims)}, "one incident per attack"
    changed = {msg_id: len(seen) for msg_id, seen in bodies.items() if len(seen) > 1}
    assert changed == {}, "a redelivery under the same webhook-id with a different body"
    print(f"\nkafka respond failover: {len(versions)} versions, {sum(received.values())} posts received")
