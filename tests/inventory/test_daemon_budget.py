"""Embedded mode: the daemon's inventory sync runs at SYNC priority on the tenant's one rate budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from detector.pipeline import EmbeddedPipeline
from detector.sim import RateLimits

from .conftest import StartSim
from .test_daemon import daemon_config, sample, until


async def test_the_sync_waits_as_sync_and_is_never_rate_limited(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_sim(RateLimits(users=20, window_seconds=2.0))  # a share of 10 a window, sync 5 of it
    for i in range(4):  # the list, then each user's factors and roles: more than one window of sync
        sim.org.add_user(f"user{i}@acme.com")
    poll = {"interval_s": 0.05, "lookback_minutes": 60, "sync_reserve": 2}
    pipeline = EmbeddedPipeline(daemon_config(sim, tmp_path / "data", monkeypatch, poll=poll))
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(lambda: (pipeline.status.view()[0]["inventory"] or {}).get("state") == "success", timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    users = {"tenant": "acme", "bucket": "users"}
    assert (sample(pipeline, "itdr_rate_budget_waits_total", **users, priority="sync") or 0) >= 1
    assert sample(pipeline, "itdr_rate_budget_waits_total", **users, priority="tail") == 0
    assert not [s for s in sim.seen if s[2] == 429]
