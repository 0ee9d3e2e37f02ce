"""Crash safety: `detector run` killed with SIGKILL at random points loses nothing and repeats nothing.

The simulator runs in the test process and keeps storing events (background
sign-ins plus two push-bombing attacks) while the daemon, a real subprocess,
is killed over and over, also while it delivers incidents to a (slow) webhook
receiver. At the end every event the org stored is in the bus exactly once,
each attack produced exactly its findings, the findings file has no repeated
line, Okta received exactly one session clear per victim, and the receiver got
every incident update the outbox queued, each under one webhook-id (a delivery
repeated after a kill carries the id it had, so the receiver drops it).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from detections.testkit import log_event
from detector.stream.embedded import run_sync

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict
from .test_embedded_pipeline import inject_push_bombing

KILLS = 12
SIGNING_SECRET = "whsec_" + base64.b64encode(b"kill9-signing-key-0123456789abcdef").decode()


async def background(sim: Sim, users: list[dict], stop: asyncio.Event, rng: random.Random) -> None:
    while not stop.is_set():
        for _ in range(20):
            user = rng.choice(users)
            event = log_event(
                "user.authentication.sso",
                time.time() - rng.random() * 5,
                user=user["id"],
                login=user["profile"]["login"],
            )
            sim.org.append(event, persist_delay=rng.choice([0, 0, 0, 0.5]))
        await asyncio.sleep(0.02)


async def start_daemon(config_path: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "ITDR_TEST_READ_TOKEN": READ_TOKEN, "ITDR_TEST_ENFORCE_TOKEN": ENFORCE_TOKEN}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "detector.cli", "run", "--config", str(config_path), stdout=out, stderr=out, env=env
        )


async def slow_receiver(
    aiohttp_server: Any, processed: dict[str, int], bodies: dict[str, set[bytes]] | None = None
) -> str:
    """A Standard Webhooks receiver that takes its time (so kills land mid-delivery), counts each id and
    keeps each id's distinct bodies in ``bodies``."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(0.15)
        Webhook(SIGNING_SECRET).verify(body, dict(request.headers))
        msg_id = request.headers["webhook-id"]
        processed[msg_id] = processed.get(msg_id, 0) + 1
        if bodies is not None:
            bodies.setdefault(msg_id, set()).add(body)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    return str((await aiohttp_server(app)).make_url("/hook"))


async def test_sigkill_at_random_points_loses_and_repeats_nothing(
    sim: Sim, tmp_path: Path, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
):
    rng = random.Random(int(os.environ.get("ITDR_KILL_SEED", "20261123")))
    users = [sim.org.add_user(login=f"user{i}@acme.com", first_name="U", last_name=str(i)) for i in range(30)]
    victims = users[:2]
    received: dict[str, int] = {}
    monkeypatch.setenv("ITDR_TEST_HOOK_URL", await slow_receiver(aiohttp_server, received))
    monkeypatch.setenv("ITDR_TEST_HOOK_SECRET", SIGNING_SECRET)
    cfg = config_dict(sim, tmp_path / "data")
    cfg["tenants"][0]["poll"] = {"interval_s": 0.05, "lookback_minutes": 60, "page_limit": 200}
    cfg["tenants"][0]["channels"] = [
        {
            "kind": "webhook",
            "name": "soar",
            "url": {"env": "ITDR_TEST_HOOK_URL"},
            "secret": {"env": "ITDR_TEST_HOOK_SECRET"},
        }
    ]
    config_path = tmp_path / "itdr.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    db = tmp_path / "data" / "itdr.sqlite"
    log = tmp_path / "daemon.log"

    stop = asyncio.Event()
    traffic = asyncio.create_task(background(sim, users[2:], stop, rng))
    try:
        for i in range(KILLS):
            if i == 3:
                inject_push_bombing(sim, victims[0], time.time() - 60)
            if i == 7:
                inject_push_bombing(sim, victims[1], time.time() - 60)
            proc = await start_daemon(config_path, log)
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        stop.set()
        await traffic

    expected = {e["uuid"] for e in sim.org.events_visible()}
    await asyncio.sleep(1.0)  # let delayed events become visible
    expected = {e["uuid"] for e in sim.org.events_visible()}
    proc = await start_daemon(config_path, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            stored = run_sync(db, "SELECT uuid FROM events") if db.exists() else []
            done = len(stored) >= len(expected) and len([c for c in sim.org.calls if c.action == "clear_sessions"]) >= 2
            pending = run_sync(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")[0][0] if done else 1
            if (done and pending == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)

    uuids = [row[0] for row in run_sync(db, "SELECT uuid FROM events")]
    own = {e["uuid"] for e in sim.org.events_visible() if e["eventType"] in ("user.session.clear", "user.session.end")}
    assert len(uuids) == len(set(uuids)), "duplicate events on the bus"
    assert expected - set(uuids) == set(), f"{len(expected - set(uuids))} events lost"
    assert set(uuids) - expected <= own

    findings = [orjson.loads(v) for (v,) in run_sync(db, "SELECT value FROM findings")]
    per_victim = {v["id"]: sorted(f["detection"] for f in findings if f["principal"] == v["id"]) for v in victims}
    assert per_victim == {v["id"]: ["mfa_push_accepted", "mfa_push_bombing"] for v in victims}
    assert len(findings) == 4

    lines = [orjson.loads(x) for x in (tmp_path / "data" / "findings.jsonl").read_bytes().splitlines()]
    assert sorted(x["dedup_key"] for x in lines) == sorted(f["dedup_key"] for f in findings), "findings file repeats"

    clears = sorted(c.user_id for c in sim.org.calls if c.action == "clear_sessions")
    assert clears == sorted(v["id"] for v in victims), "Okta called twice (or never) for a victim"

    queued = {f"{key}.v{version}" for key, version in run_sync(db, "SELECT incident, version FROM outbox")}
    assert run_sync(db, "SELECT DISTINCT state FROM outbox") == [("delivered",)]
    assert set(received) == queued, "an incident update lost"  # a repeat after a kill has the same id
    incidents = {key for (key,) in run_sync(db, "SELECT key FROM incidents")}
    assert len(incidents) == 2 and {q.rsplit(".v", 1)[0] for q in queued} == incidents  # one per attack
