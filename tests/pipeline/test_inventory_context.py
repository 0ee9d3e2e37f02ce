"""The embedded daemon hands each tenant's synced inventory to its engine: a sign-in the directory says cannot
happen is found, end to end (simulator → inventory sync → store → detections → findings)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from detections.directory import UserFacts
from detections.testkit import admin_event, sign_in
from detector.pipeline import EmbeddedPipeline

from .conftest import Sim, daemon_config


def signs_in(sim: Sim, user: dict, t: float) -> None:
    actor = {"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}
    sim.org.append(sign_in(t, "nyc", actor=actor))


async def test_inactive_users_signing_in_are_found_from_the_sync_and_from_the_log(
    sim: Sim, tmp_path: Path, monkeypatch
):
    suspended = sim.org.add_user(login="held@acme.com", first_name="He", last_name="Ld", status="SUSPENDED")
    leaver = sim.org.add_user(login="leaver@acme.com", first_name="Le", last_name="Aver")
    other = sim.org.add_user(login="other@acme.com", first_name="Ot", last_name="Her")
    config = daemon_config(sim, tmp_path, monkeypatch)
    seen: list[dict] = []
    pipeline = EmbeddedPipeline(config, on_finding=seen.append)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        # the daemon's own sync of the simulator's directory knows the suspended user
        await until(task, lambda: "acme" in pipeline.directories and pipeline.directories["acme"].synced_at)
        directory = pipeline.directories["acme"]
        signs_in(sim, other, time.time())
        signs_in(sim, suspended, time.time())
        await until(task, lambda: seen)
        # the leaver is deprovisioned after the sync: the System Log tells the inventory, the facts follow
        target = [{"id": leaver["id"], "type": "User", "alternateId": "leaver@acme.com", "displayName": "Le"}]
        sim.org.append(admin_event("user.lifecycle.deactivate", time.time(), targets=target))
        await until(task, lambda: (directory.user(leaver["id"]) or UserFacts("?")).status == "DEPROVISIONED")
        signs_in(sim, leaver, time.time())
        await until(task, lambda: len(seen) > 1)
        await asyncio.sleep(0.5)  # anything else it would find
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [(f["detection"], f["principal"], f["tier"]) for f in seen] == [
        ("inactive_user_signin", suspended["id"], "high"),
        ("inactive_user_signin", leaver["id"], "high"),
    ]


async def until(task: asyncio.Task, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
