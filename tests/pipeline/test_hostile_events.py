"""Poison pills through the real pipeline: no event, and no detection bug, may stop the stage or repeat."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from detections.impossible_travel import ImpossibleTravel
from detections.testkit import sign_in
from detector.pipeline import EmbeddedPipeline
from detector.stream.embedded import run_sync

from .conftest import Sim, daemon_config
from .test_embedded_pipeline import clears, inject_push_bombing, run_until


def _as(user: dict, raw: dict) -> dict:
    raw["actor"] = {"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}
    return raw


def _dead(config) -> dict[str, str]:
    return dict(run_sync(config.db_path, "SELECT json_extract(value, '$.uuid'), key FROM deadletter"))


async def test_poison_pills_are_neutralised_or_dead_lettered_and_detection_goes_on(
    sim: Sim, tmp_path: Path, monkeypatch
):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    now = time.time()
    for i, lat in enumerate(["inf", "-Infinity", 1000, "nan", True]):
        raw = _as(victim, sign_in(now - 300 + i, "london", uuid=f"poison-lat-{i}"))
        raw["client"]["geographicalContext"]["geolocation"]["lat"] = lat
        sim.org.append(raw)
    far_future = _as(victim, sign_in(now - 200, "nyc", uuid="poison-published"))
    far_future["published"] = "9999-12-31T23:59:59-23:59"
    sim.org.append(far_future)
    inject_push_bombing(sim, victim, now - 120)
    config = daemon_config(sim, tmp_path, monkeypatch)
    seen: list[dict] = []
    await run_until(EmbeddedPipeline(config, on_finding=seen.append), lambda: clears(sim))

    assert "impossible_travel" not in {f["detection"] for f in seen}  # no "20015 km apart"
    dead = _dead(config)
    assert set(dead) == {"poison-published"} and "outside 2000-01-01 .. now + 1 day" in dead["poison-published"]


async def test_a_detection_that_raises_dead_letters_the_event_and_a_restart_does_not_meet_it_again(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def explode(self, event, state, novelty, directory=None):  # the signature ImpossibleTravel.detect has
        raise ValueError("math domain error")

    monkeypatch.setattr(ImpossibleTravel, "detect", explode)
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.append(_as(victim, sign_in(time.time() - 300, "nyc", uuid="trips-the-bug")))
    inject_push_bombing(sim, victim, time.time() - 120)
    config = daemon_config(sim, tmp_path, monkeypatch)
    pipeline = EmbeddedPipeline(config)
    await run_until(pipeline, lambda: clears(sim))  # the other detections still ran: the attack was stopped

    dead = _dead(config)
    assert dead == {"trips-the-bug": "detection impossible_travel raised ValueError: math domain error"}
    metrics = generate_latest(pipeline.metrics.registry).decode()
    assert 'itdr_detection_errors_total{detection="impossible_travel",tenant="acme"} 1.0' in metrics

    await run_until(EmbeddedPipeline(config), lambda: True, timeout=5)  # the offset moved past it
    assert _dead(config) == dead and len(clears(sim)) == 1
