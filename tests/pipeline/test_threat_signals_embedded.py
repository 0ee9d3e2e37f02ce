"""Embedded mode keeps the threat-signal book in the detection state table: a spray flagged before a restart
implicates a sprayed user's sign-in after it, and the session is cleared."""

from __future__ import annotations

import time
from pathlib import Path

from detections.testkit import failed_sign_in, sign_in
from detector.pipeline import EmbeddedPipeline
from detector.stream.embedded import run_sync

from .conftest import Sim, daemon_config
from .test_embedded_pipeline import clears, run_until

SPRAYER = "45.135.232.10"
STARK = {"asNumber": 44477, "asOrg": "stark industries solutions ltd", "isp": "stark industries", "isProxy": False}


async def test_a_spray_flagged_before_a_restart_implicates_a_sign_in_after_it(sim: Sim, tmp_path: Path, monkeypatch):
    users = [sim.org.add_user(login=f"user{i}@acme.com", first_name="U", last_name=str(i)) for i in range(12)]
    t0 = time.time() - 900
    for i, user in enumerate(users):  # each sprayed user fails once
        sim.org.append(
            failed_sign_in(t0 + i * 10, f"user{i}@acme.com", user=user["id"], ip=SPRAYER, securityContext=STARK)
        )
    config = daemon_config(sim, tmp_path, monkeypatch)
    seen: list[dict] = []
    await run_until(
        EmbeddedPipeline(config, on_finding=seen.append), lambda: any(f["detection"] == "password_spray" for f in seen)
    )
    stored = [k for (k,) in run_sync(config.db_path, "SELECT key FROM detection_state WHERE key LIKE '~signals|%'")]
    assert f"~signals|acme|ip:{SPRAYER}" in stored and "~signals|acme|asn:44477" in stored

    victim = users[4]
    who = {"id": victim["id"], "type": "User", "alternateId": "user4@acme.com", "displayName": "U 4"}
    success = sign_in(
        time.time() - 60, "moscow", ip=SPRAYER, actor=who, behaviors="{New Device=POSITIVE, New IP=POSITIVE}"
    )
    success["securityContext"] = dict(STARK)
    sim.org.append(success)
    after: list[dict] = []
    await run_until(EmbeddedPipeline(config, on_finding=after.append), lambda: clears(sim))

    (hit,) = [f for f in after if f["detection"] == "success_from_flagged_source"]
    assert hit["principal"] == victim["id"] and hit["tier"] == "high-confidence"
    assert hit["actions"] == ["clear_sessions", "expire_password"]
    assert [c.user_id for c in clears(sim)] == [victim["id"]]  # the tenant allows clear_sessions (the default)
