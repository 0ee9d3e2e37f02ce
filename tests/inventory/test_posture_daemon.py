"""Embedded mode: after each inventory sync against the simulator the posture checks run, and what changed flows
as findings through findings.jsonl and incidents like any detection's; a restart (a sync at start) raises only
what changed while it was down, and ``detector posture`` reads the same store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import yaml

from detector.cli import main
from detector.config import parse_config
from detector.pipeline import EmbeddedPipeline
from detector.sim.directory import Factor as SimFactor

from .conftest import TOKEN, Sim
from .test_daemon import until


async def run_until_synced(pipeline: EmbeddedPipeline) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(lambda: (pipeline.status.view()[0]["inventory"] or {}).get("state") == "success")
        await asyncio.sleep(1.0)  # the review after the sync, then findings.jsonl and the incidents
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_posture_findings_on_change_across_restarts(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    ann = sim.org.add_user("ann@acme.com", factors=("push",))
    sim.org.set_roles(ann["id"], ["SUPER_ADMIN"])
    sim.org.add_user("bob@acme.com", factors=())  # no MFA factor
    monkeypatch.setenv("ITDR_TEST_INVENTORY_TOKEN", TOKEN)
    raw = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [
            {
                "name": "acme",
                "org_url": sim.url,
                "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_INVENTORY_TOKEN"}},
                "poll": {"interval_s": 0.05, "lookback_minutes": 60},
            }
        ],
    }
    config = parse_config(raw)
    pipeline = EmbeddedPipeline(config)
    await run_until_synced(pipeline)
    sample = pipeline.metrics.registry.get_sample_value
    counted = {"tenant": "acme", "detection": "posture_users_without_mfa", "tier": "medium"}
    assert sample("itdr_findings_total", counted) == 1  # counted like a detection's, every series from 0
    assert sample("itdr_findings_total", {**counted, "detection": "inventory_api_token_new"}) == 0
    first = {f["detection"]: f for f in lines(config.findings_path)}
    bare = first["posture_users_without_mfa"]
    assert bare["status"] == "open" and bare["revision"] == 0 and bare["entity"] == "posture:users_without_mfa"
    assert "bob@acme.com" in [e["label"] for e in bare["evidence"]]
    assert all(f["detection"].startswith("posture_") for f in first.values())  # the first sync: no "changes"

    # a restart with nothing changed: the sync at start raises nothing new
    await run_until_synced(EmbeddedPipeline(config))
    assert [f["detection"] for f in lines(config.findings_path)] == list(first)

    # while the daemon is down bob enrols a factor, and ann creates an API token usable from anywhere
    sim.org.directory.find("bob@acme.com").factors.append(SimFactor("opfBOBKEY", "webauthn", time.time()))
    sim.org.inventory.create_api_token("backdoor", "ann@acme.com", network="ANYWHERE")
    await run_until_synced(EmbeddedPipeline(config))
    later = lines(config.findings_path)[len(first) :]
    (resolved,) = [f for f in later if f["detection"] == bare["detection"]]
    assert resolved["status"] == "resolved" and resolved["dedup_key"] == bare["dedup_key"]
    assert resolved["revision"] == 1
    # the token: raised once, from the System Log event (read late, after the restart), not by the sync too
    await until(lambda: "api_token_created" in [f["detection"] for f in lines(config.findings_path)])
    detections = [f["detection"] for f in lines(config.findings_path)]
    assert detections.count("api_token_created") == 1 and "inventory_api_token_new" not in detections

    path = tmp_path / "itdr.yaml"
    path.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["incidents", "--config", str(path), "--output", "jsonl", "list"]) == 0
    incidents = {i["entity"]: i for i in map(orjson.loads, capsys.readouterr().out.splitlines())}
    assert incidents["posture:users_without_mfa"]["status"] == "resolved"
    await asyncio.to_thread(main, ["posture", "--config", str(path), "--output", "json"])
    (report,) = orjson.loads(capsys.readouterr().out)["tenants"]
    assert {c["id"]: c["status"] for c in report["checks"]}["users_without_mfa"] == "pass"
