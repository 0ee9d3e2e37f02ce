"""Kafka mode's posture review on the real broker: after each sync the poller role raises what changed onto
itdr.findings and keeps the results beside the inventory (``acme|~posture|``); a restart with nothing changed
raises nothing again, a fixed check is resolved under the same dedup key, and the action worker folds the
findings into the check's incident like any detection's."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from detector.sim.directory import Factor as SimFactor
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics, read_topic
from tests.pipeline.conftest import Sim

from .roles import Role, write_config
from .test_kafka_inventory import status_of, topic_view, until


async def test_posture_findings_on_change_through_kafka(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    ann = sim.org.add_user("ann@acme.com", factors=("push",))
    sim.org.set_roles(ann["id"], ["SUPER_ADMIN"])
    sim.org.add_user("bob@acme.com", factors=())  # no MFA factor
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="posture", partitions=2, posture={"enabled": True})
    topics = Topics("posture.")
    await ensure_topics(kafka_bootstrap, TopicPlan(topics, 2))
    actions = await Role("actions", config, tmp_path / "actions.log").start()
    runs: list[Role] = []

    async def posture_at() -> float | None:
        raw = (await topic_view(kafka_bootstrap, topics.inventory)).get("acme|~posture|")
        return orjson.loads(raw)["at"] if raw else None

    async def sync_once(generation: int) -> None:
        """One poller run: its sync at start, reviewed (the results stored after the findings)."""
        before = await posture_at()
        poller = await Role("poller", config, tmp_path / f"poller-{generation}.log").start()
        runs.append(poller)

        async def reviewed() -> bool:
            status = status_of(await topic_view(kafka_bootstrap, topics.inventory))
            return status.get("generation") == generation and (await posture_at() or 0) != (before or 0)

        await until(reviewed, 90, [poller, actions], f"sync {generation} reviewed")
        await poller.stop()

    async def findings() -> list[dict]:
        return [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, topics.findings) if v]

    try:
        await sync_once(1)
        first = await findings()
        assert first and all(f["detection"].startswith("posture_") for f in first)  # the first sync: no changes
        bare = next(f for f in first if f["detection"] == "posture_users_without_mfa")
        assert bare["status"] == "open" and bare["revision"] == 0 and bare["entity"] == "posture:users_without_mfa"
        assert "bob@acme.com" in [e["label"] for e in bare["evidence"]]

        await sync_once(2)  # nothing changed: nothing raised again
        assert sorted(f["dedup_key"] for f in await findings()) == sorted(f["dedup_key"] for f in first)

        sim.org.directory.find("bob@acme.com").factors.append(SimFactor("opfBOBKEY", "webauthn", time.time()))
        await sync_once(3)
        seen = {(f["dedup_key"], f["revision"]) for f in first}  # itdr.findings has partitions: no order across
        (resolved,) = [f for f in await findings() if (f["dedup_key"], f["revision"]) not in seen]
        assert resolved["detection"] == bare["detection"] and resolved["dedup_key"] == bare["dedup_key"]
        assert resolved["status"] == "resolved" and resolved["revision"] == 1

        async def incident_resolved() -> bool:
            latest = {k: orjson.loads(v) for k, v in await read_topic(kafka_bootstrap, topics.incidents) if v}
            mine = [i for i in latest.values() if i["entity"] == "posture:users_without_mfa"]
            return bool(mine) and mine[0]["status"] == "resolved"

        await until(incident_resolved, 60, [actions], "the check's incident resolved by the action worker")
    finally:
        for role in [*runs, actions]:
            await role.stop()
