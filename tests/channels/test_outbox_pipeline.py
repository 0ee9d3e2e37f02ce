"""Incidents through the embedded daemon's durable outbox to real local receivers: a destination that is down
then back gets every update once, in order per incident, and holds up nobody else; Retry-After is honoured;
a permanent error is parked with its reason and the next version still goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detector.pipeline import EmbeddedPipeline
from detector.stream.embedded import run_sync
from tests.pipeline.conftest import Sim, daemon_config, sim  # noqa: F401  (the simulator fixture)
from tests.pipeline.test_embedded_pipeline import clears, inject_push_bombing

from .conftest import ROUTING_KEY, ROUTING_KEY_CRITICAL, SIGNING_SECRET, PagerDuty, Receiver, channel_dict

POLL = {"interval_s": 0.25, "lookback_minutes": 60}  # well inside the simulator's logs rate limit


def queued(db: Path, channel: str) -> dict[str, list[int]]:
    """Per incident, the versions the outbox queued for the channel (one per committed update), in order."""
    out: dict[str, list[int]] = {}
    for key, version in run_sync(db, "SELECT incident, version FROM outbox WHERE channel = ? ORDER BY id", (channel,)):
        out.setdefault(key, []).append(version)
    return out


def channels_env(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    monkeypatch.setenv("ITDR_TEST_CHANNEL_URL", receiver.url)
    monkeypatch.setenv("ITDR_TEST_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("ITDR_TEST_PD_KEY", ROUTING_KEY)
    monkeypatch.setenv("ITDR_TEST_PD_KEY_CRITICAL", ROUTING_KEY_CRITICAL)


def versions(receiver: Receiver) -> dict[str, list[int]]:
    """Per incident, the versions the receiver accepted, in the order it accepted them."""
    out: dict[str, list[int]] = {}
    for webhook_id in receiver.processed:
        key, version = webhook_id.rsplit(".v", 1)
        out.setdefault(key, []).append(int(version))
    return out


async def until(check: Callable[[], Any], task: asyncio.Task, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_a_destination_down_then_back_gets_every_update_once_in_order_and_holds_up_no_one(
    sim: Sim,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
    pagerduty: PagerDuty,
):
    channels_env(monkeypatch, receiver)
    hooks = [channel_dict("webhook", receiver.url), channel_dict("pagerduty", pagerduty.url)]
    config = daemon_config(sim, tmp_path, monkeypatch, channels=hooks, poll=POLL)
    for _ in range(500):  # down: every request answers 503, until the test clears them
        receiver.fail(503, "maintenance")
    victims = [sim.org.add_user(login=f"v{i}@acme.com", first_name="V", last_name=str(i)) for i in range(2)]
    for i, victim in enumerate(victims):
        inject_push_bombing(sim, victim, time.time() - 120 + i)
    pipeline = EmbeddedPipeline(config)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(lambda: len(clears(sim)) == 2, task)
        await until(lambda: len({key for _, key in pagerduty.alerts}) == 2, task)  # the other channel is not held up
        assert receiver.processed == {} and len(receiver.received) >= 2  # tried, refused, backing off
        await asyncio.sleep(3)  # the outage goes on a little
        receiver.failures.clear()  # back
        expected = queued(config.db_path, "acme/webhook")
        assert len(expected) == 2
        await until(lambda: versions(receiver) == expected, task)  # every queued update, once, in order
        depth = {"channel": "acme/webhook"}  # set once the loop has settled what the receiver just took
        await until(lambda: pipeline.metrics.registry.get_sample_value("itdr_outbox_depth", depth) == 0, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    registry = pipeline.metrics.registry
    channel = {"channel": "acme/webhook"}
    delivered = registry.get_sample_value("itdr_deliveries_total", {**channel, "outcome": "delivered"})
    assert delivered == sum(len(v) for v in expected.values())  # each queued update delivered once, never twice
    retried = registry.get_sample_value("itdr_deliveries_total", {**channel, "outcome": "retried"})
    assert registry.get_sample_value("itdr_outbox_depth", channel) == 0 and retried >= 2


async def test_retry_after_is_honoured_and_a_permanent_error_is_parked_with_its_reason(
    sim: Sim,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
):
    channels_env(monkeypatch, receiver)
    config = daemon_config(sim, tmp_path, monkeypatch, channels=[channel_dict("webhook", receiver.url)], poll=POLL)
    receiver.fail(429, "slow down", headers={"Retry-After": "2"})
    receiver.fail(400, "we do not take this")
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, victim, time.time() - 120)
    pipeline = EmbeddedPipeline(config)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(lambda: clears(sim) and receiver.failures == [] and len(receiver.received) >= 2, task)
        (incident,) = pipeline.incidents.open.values()
        await pipeline.resolve_incident(incident.key, "ana", "false positive")  # the next version
        await until(lambda: len(receiver.processed) == 1, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    first_id = receiver.received[0]["headers"]["webhook-id"]
    attempts = [r for r in receiver.received if r["headers"]["webhook-id"] == first_id]
    gap = int(attempts[1]["headers"]["webhook-timestamp"]) - int(attempts[0]["headers"]["webhook-timestamp"])
    assert len(attempts) == 2 and gap >= 2  # 429 then 400: the same version, the second after Retry-After
    parked = run_sync(config.db_path, "SELECT version, state, reason FROM outbox WHERE state = 'parked'")
    assert [(f"{receiver.processed and ''}{v}", state) for v, state, _ in parked] == [
        (first_id.rsplit(".v")[1], "parked")
    ]
    assert "400" in parked[0][2] and receiver.url not in parked[0][2]
    (resolved,) = receiver.processed.values()
    assert first_id not in receiver.processed and resolved["type"] == "incident.resolved"
    registry = pipeline.metrics.registry
    assert registry.get_sample_value("itdr_deliveries_total", {"channel": "acme/webhook", "outcome": "parked"}) == 1
