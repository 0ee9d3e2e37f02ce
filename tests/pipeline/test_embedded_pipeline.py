"""The embedded pipeline end to end: simulator → tailer → detections → findings → session clear."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from pathlib import Path

import orjson
import pytest

from detections.testkit import oie_push_accept, oie_push_deny, push_sent
from detector.pipeline import EmbeddedPipeline
from detector.respond.ledger import Status
from detector.sim.receiver import WebhookReceiver

from .conftest import Sim, daemon_config

ATTACKER = {"ip": "185.220.101.4", "debug": {"behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE}"}}


def inject_push_bombing(sim: Sim, user: dict, t0: float, denials: int = 6) -> None:
    login = user["profile"]["login"]
    who = {"user": user["id"], "login": login}
    sim.org.append(push_sent(t0, **who, **ATTACKER))
    for i in range(denials):
        sim.org.append(oie_push_deny(t0 + 1 + i * 5, **who, **ATTACKER))
    sim.org.append(oie_push_accept(t0 + 2 + denials * 5, **who, **ATTACKER))


async def run_until(pipeline: EmbeddedPipeline, condition, timeout: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let the consumers commit
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def clears(sim: Sim) -> list:
    return [c for c in sim.org.calls if c.action == "clear_sessions"]


async def test_push_bombing_is_detected_and_sessions_cleared_once(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    bystander = sim.org.add_user(login="bob@acme.com", first_name="Bob", last_name="By")
    inject_push_bombing(sim, victim, time.time() - 120)
    for i in range(3):  # a bystander's ordinary denial never reaches the threshold
        sim.org.append(oie_push_deny(time.time() - 100 + i, user=bystander["id"], login="bob@acme.com"))
    config = daemon_config(sim, tmp_path, monkeypatch)

    seen: list[dict] = []
    pipeline = EmbeddedPipeline(config, on_finding=seen.append)
    await run_until(pipeline, lambda: clears(sim))

    (call,) = clears(sim)
    assert call.user_id == victim["id"]
    assert call.credential_id == sim.enforce_token_id  # the enforcement credential, not the reader
    detections = sorted(f["detection"] for f in seen)
    assert detections == ["mfa_push_accepted", "mfa_push_bombing"]
    lines = [orjson.loads(x) for x in config.findings_path.read_bytes().splitlines()]
    assert sorted(x["detection"] for x in lines) == detections
    accepted = next(x for x in lines if x["detection"] == "mfa_push_accepted")
    assert accepted["tier"] == "high-confidence" and accepted["principal"] == victim["id"]

    from detector.stream.embedded import run_sync

    incidents = [orjson.loads(v) for (v,) in run_sync(config.db_path, "SELECT value FROM incidents")]
    (incident,) = [i for i in incidents if i["entity"] == f"user:{victim['id']}"]  # one attack, one incident
    assert {f["detection"] for f in incident["findings"]} == set(detections)
    assert incident["severity"] == "high-confidence" and incident["login"] == "victim@acme.com"
    assert [(a["action"], a["status"]) for a in incident["actions"]] == [("clear_sessions", "done")]

    # Restart: the session.clear / session.end events our own call wrote are ignored, nothing repeats.
    pipeline2 = EmbeddedPipeline(config)
    await run_until(pipeline2, lambda: True, timeout=5)
    await asyncio.sleep(0)
    assert len(clears(sim)) == 1
    assert len(config.findings_path.read_bytes().splitlines()) == 2


async def test_dry_run_and_protected_users_never_call_okta(sim: Sim, tmp_path: Path, monkeypatch):
    alice = sim.org.add_user(login="alice@acme.com", first_name="Al", last_name="Ice")
    ceo = sim.org.add_user(login="ceo@acme.com", first_name="C", last_name="Eo")
    inject_push_bombing(sim, alice, time.time() - 200)
    inject_push_bombing(sim, ceo, time.time() - 100)
    config = daemon_config(sim, tmp_path, monkeypatch, response={"dry_run": True, "protected_users": ["ceo@acme.com"]})
    records = []
    pipeline = EmbeddedPipeline(config, on_action=records.append)
    await run_until(pipeline, lambda: len(records) >= 2)

    assert clears(sim) == []
    by_user = {r.principal_login: r for r in records}
    assert by_user["alice@acme.com"].status is Status.DRY_RUN
    assert by_user["ceo@acme.com"].status is Status.SKIPPED
    assert by_user["ceo@acme.com"].detail == "protected user"


async def test_service_accounts_in_the_tenant_context_get_no_mfa_findings(sim: Sim, tmp_path: Path, monkeypatch):
    svc = sim.org.add_user(login="svc-backup@acme.com", first_name="Svc", last_name="Backup")
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, svc, time.time() - 200)
    inject_push_bombing(sim, victim, time.time() - 100)
    config = daemon_config(sim, tmp_path, monkeypatch, context={"service_accounts": ["SVC-Backup@acme.com"]})
    seen: list[dict] = []
    pipeline = EmbeddedPipeline(config, on_finding=seen.append)
    await run_until(pipeline, lambda: clears(sim))

    assert {f["principal_login"] for f in seen} == {"victim@acme.com"}
    assert [c.user_id for c in clears(sim)] == [victim["id"]]


class ThreadNotingEvent(asyncio.Event):
    """An asyncio.Event that notes the thread of every ``set``: only the event loop's may set it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def set(self) -> None:
        self.threads.add(threading.get_ident())
        super().set()


async def test_incident_updates_reach_a_webhook_woken_from_the_event_loop(sim: Sim, tmp_path: Path, monkeypatch):
    """Each update of the attack's incident reaches the tenant's webhook, verified; the outbox rows a findings
    batch queues wake the deliverer from the event loop once committed, never from the SQLite thread that
    wrote them (an asyncio.Event set there wakes nobody until the loop happens to run, and in asyncio's
    debug mode raises inside the transaction)."""
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    receiver = WebhookReceiver(secret)
    monkeypatch.setenv("ITDR_TEST_WEBHOOK_URL", await receiver.start())
    monkeypatch.setenv("ITDR_TEST_WEBHOOK_SECRET", secret)
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, victim, time.time() - 120)
    channel = {"kind": "webhook", "name": "soc", "url": {"env": "ITDR_TEST_WEBHOOK_URL"}}
    channel["secret"] = {"env": "ITDR_TEST_WEBHOOK_SECRET"}
    pipeline = EmbeddedPipeline(daemon_config(sim, tmp_path, monkeypatch, channels=[channel]))
    wake = pipeline._wake_deliveries = ThreadNotingEvent()

    def cleared() -> bool:
        actions = [a for d in receiver.deliveries for a in d.incident["actions"]]
        return any(a["action"] == "clear_sessions" and a["status"] == "done" for a in actions)

    try:
        await run_until(pipeline, cleared)
    finally:
        await receiver.stop()
    assert wake.threads == {threading.get_ident()}
    assert {d.incident["key"] for d in receiver.deliveries} == {receiver.deliveries[0].incident["key"]}
    versions = [d.incident["version"] for d in receiver.deliveries]
    assert versions == sorted(set(versions)) and receiver.rejected == 0


@pytest.mark.parametrize("kind", ["bad_json", "status"])
async def test_okta_errors_while_tailing_lose_nothing(sim: Sim, tmp_path: Path, monkeypatch, kind: str):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.inject_fault("GET", "/api/v1/logs", kind, times=3, status=500)
    inject_push_bombing(sim, victim, time.time() - 120)
    config = daemon_config(sim, tmp_path, monkeypatch, poll={"interval_s": 0.05, "lookback_minutes": 60})
    pipeline = EmbeddedPipeline(config)
    await run_until(pipeline, lambda: clears(sim), timeout=40)
    assert len(clears(sim)) == 1


async def test_malformed_events_go_to_dead_letter_and_the_stream_goes_on(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.append({"uuid": "bad-1", "eventType": None, "actor": "not-an-object"})
    sim.org.append({"uuid": "bad-2", "published": "2026-11-23T10:00:00.000Z"})  # no eventType
    inject_push_bombing(sim, victim, time.time() - 60)
    config = daemon_config(sim, tmp_path, monkeypatch)
    await run_until(EmbeddedPipeline(config), lambda: clears(sim))

    from detector.stream.embedded import run_sync

    dead = dict(run_sync(config.db_path, "SELECT json_extract(value, '$.uuid'), key FROM deadletter"))
    assert dead == {
        "bad-1": "malformed event: missing eventType",
        "bad-2": "malformed event: missing eventType",
    }
