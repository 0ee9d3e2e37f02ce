"""The embedded daemon hands each tenant's stored inventory to its engine: a sign-in the directory says cannot
happen is found, end to end (simulator → tailer → detections → findings)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from detections.testkit import sign_in
from detector.inventory.model import User
from detector.inventory.store import SqliteInventoryStore
from detector.pipeline import EmbeddedPipeline

from .conftest import Sim, daemon_config


async def test_a_deprovisioned_user_signing_in_is_found_from_the_stored_inventory(
    sim: Sim, tmp_path: Path, monkeypatch
):
    gone = sim.org.add_user(login="gone@acme.com", first_name="Go", last_name="Ne")
    other = sim.org.add_user(login="other@acme.com", first_name="Ot", last_name="Her")
    config = daemon_config(sim, tmp_path, monkeypatch)
    now = time.time()
    async with SqliteInventoryStore(config.db_path) as store:  # what a sync left
        checkpoint = await store.begin_sync("acme", now - 600)
        users = [
            User(gone["id"], "gone@acme.com", "DEPROVISIONED", status_changed=now - 30 * 86400),
            User(other["id"], "other@acme.com", "ACTIVE", last_login=now - 86400),
        ]
        await store.write_page("acme", checkpoint, "users", users)
        await store.finish_part("acme", checkpoint, "users")
        await store.end_sync("acme", {"state": "success", "last_success": now - 300}, keep_checkpoint=False)
    seen: list[dict] = []
    pipeline = EmbeddedPipeline(config, on_finding=seen.append)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(task, lambda: "acme" in pipeline.directories and pipeline.directories["acme"].synced_at)
        for user, t in ((other, now - 90), (gone, now - 60)):  # after the load: before it, nothing is known
            actor = {"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}
            sim.org.append(sign_in(t, "nyc", actor=actor))
        await until(task, lambda: seen)
        await asyncio.sleep(0.5)  # anything else it would find
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [(f["detection"], f["principal"], f["tier"]) for f in seen] == [("inactive_user_signin", gone["id"], "high")]


async def until(task: asyncio.Task, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
