"""Kafka mode end to end: simulator → poller → Kafka → Faust detections → findings → action worker → Okta."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from detector.stream.kafka_bus import Topics, read_topic
from tests.pipeline.conftest import Sim
from tests.pipeline.test_embedded_pipeline import clears, inject_push_bombing

from .roles import Role, wait_for, write_config


async def test_push_bombing_through_kafka_clears_the_session_once(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.add_user(login="bob@acme.com", first_name="Bob", last_name="By")
    inject_push_bombing(sim, victim, time.time() - 120)
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="e2e")
    role = await Role("run", config, tmp_path / "run.log", "--kafka", kafka_bootstrap).start()
    try:
        await wait_for(lambda: len(clears(sim)) >= 1, 90, [role], "a session clear in the simulator")
    finally:
        code = await role.stop()
    assert code == 0, role.tail()

    assert [c.user_id for c in clears(sim)] == [victim["id"]]
    findings = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, Topics("e2e.").findings) if v]
    mine = {f["detection"] for f in findings if f["principal"] == victim["id"]}
    assert {"mfa_push_bombing", "mfa_push_accepted"} <= mine, findings
    audit = [orjson.loads(v) for _, v in await read_topic(kafka_bootstrap, Topics("e2e.").actions) if v]
    assert [a["status"] for a in audit if a["action"] == "clear_sessions"] == ["pending", "done"]
