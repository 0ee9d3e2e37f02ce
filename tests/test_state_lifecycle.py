"""State with a lifecycle: every store deletes a key once the tenant's watermark (newest event time, never ahead
of the wall clock, minus ``LATENESS_S``) has passed its horizon, and keeps live keys.

The Faust tables are swept on the real broker: tests/kafka/test_kafka_pipeline.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from detections.actor_record import ActorRecord
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.expiring import ExpiringStates
from detections.lifecycle import LATENESS_S, ExpiryIndex
from detections.registry import build_detections
from detections.testkit import failed_sign_in, push_bombing, sign_in
from detector.ops.metrics import Metrics
from detector.stream.bus import Cursor, EventRecord
from detector.stream.detect_stage import DetectionStage
from detector.stream.embedded import EmbeddedBus

T0 = 1_700_000_000.0
DAY = 86_400.0
BOB = {"id": "00ubob", "type": "User", "alternateId": "bob@acme.com"}
CAROL = {"id": "00ucarol", "type": "User", "alternateId": "carol@acme.com"}


def test_the_index_returns_keys_once_their_horizon_is_passed_and_bounds_its_work():
    index = ExpiryIndex()
    index.note("a", 10.0)
    index.note("b", 20.0)
    index.note("never", None)
    index.note("b", 30.0)  # written again: later horizon
    assert index.due(15.0) == ["a"]
    assert index.due(25.0) == []  # b moved on
    assert index.due(31.0) == ["b"] and len(index) == 0
    for i in range(1000):
        index.note(f"k{i}", float(i))
    assert len(index.due(2000.0, limit=100)) == 100  # at most ``limit`` entries per call
    index.forget("k500")
    assert "k500" not in set(index.due(2000.0, limit=10_000)) and len(index) == 0


def _old_and_live() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """alice: pushes denied at T0 (state for hours); bob: a sign-in at T0 (travel baseline: 90 days);
    carol@acme.com: failed passwords at T0 (per login, per IP: hours); then, two days later, a sign-in by carol.
    (alice's pushes were requested in a session: that lives a session lifetime, a day.)"""
    old = [*push_bombing(T0, 2, accept=False), sign_in(T0, "nyc", actor=BOB)]
    old += [failed_sign_in(T0 + i, "carol@acme.com", ip="198.51.100.7") for i in range(3)]
    return old, [sign_in(T0 + 2 * DAY, "nyc", actor=CAROL)]


def _run(engine: Engine, raws: list[dict[str, Any]], states: Any) -> None:
    for raw in raws:
        engine.process(parse_event(raw, "acme"), states)


def test_the_dict_store_sweeps_dead_keys_and_keeps_live_ones():
    engine = Engine(build_detections(), TenantContext("acme"))
    states = ExpiringStates(engine)
    old, later = _old_and_live()
    _run(engine, old, states)
    assert {"actor|00u1alice", "actor|00ubob", "brute_force|carol@acme.com", "password_spray|198.51.100.7"} <= set(
        states
    )
    assert states.sweep() == []  # nothing is dead while those are the newest events
    _run(engine, later, states)
    dead = set(states.sweep())
    assert {"actor|00u1alice", "brute_force|carol@acme.com", "password_spray|198.51.100.7"} <= dead
    assert "actor|00ubob" in states and "actor|00ucarol" in states  # the travel baselines live on
    assert not dead & set(states)


def test_a_key_lives_until_the_watermark_passes_its_horizon_by_the_lateness_margin():
    engine = Engine(build_detections(), TenantContext("acme"))
    states = ExpiringStates(engine)
    _run(engine, push_bombing(T0, 2, accept=False), states)
    at = engine.expires_at("actor|00u1alice", states["actor|00u1alice"])
    assert at is not None and T0 < at <= T0 + DAY + 60
    engine.newest = at + LATENESS_S - 1
    assert states.sweep() == []
    engine.newest = at + LATENESS_S + 1
    assert states.sweep() == ["actor|00u1alice"]


def test_an_event_from_the_future_cannot_sweep_live_state():
    """``published`` is the adversary's to write (up to a day ahead): the watermark never passes the wall clock."""
    engine = Engine(build_detections(), TenantContext("acme"))
    engine.clock = lambda: T0 + 60  # "now"
    states = ExpiringStates(engine)
    _run(engine, push_bombing(T0, 2, accept=False), states)
    _run(engine, [sign_in(T0 + 2 * DAY, "nyc", actor=CAROL)], states)  # forged: ahead of now
    assert states.sweep() == [] and "actor|00u1alice" in states


def test_dead_parts_leave_a_live_actor_record():
    engine = Engine(build_detections(), TenantContext("acme"))
    states = ExpiringStates(engine)
    _run(engine, [*push_bombing(T0, 2, accept=False, user="00ubob", login="bob@acme.com")], states)
    _run(engine, [sign_in(T0 + 60, "nyc", actor=BOB)], states)
    parts = {part for part, _ in states["actor|00ubob"].items()}
    assert {"mfa_fatigue", "impossible_travel"} <= parts
    _run(engine, [sign_in(T0 + 2 * DAY, "nyc", actor=BOB)], states)  # the pushes are two days old
    assert states.sweep() == []  # indexing the record drops its dead parts; the record lives
    parts = {part for part, _ in states["actor|00ubob"].items()}
    assert "impossible_travel" in parts and "mfa_fatigue" not in parts and "push_requester_mismatch" not in parts


async def _stage(db: Path) -> tuple[EmbeddedBus, DetectionStage]:
    bus = await EmbeddedBus(db).open()
    stage = DetectionStage(bus, {"acme": Engine(build_detections(), TenantContext("acme"))}, Metrics())
    await stage.start()
    return bus, stage


async def _feed(bus: EmbeddedBus, raws: list[dict[str, Any]]) -> None:
    records = [EventRecord.from_raw("acme", raw, orjson.dumps(raw)) for raw in raws]
    await bus.commit_page("acme", records, Cursor("next", None))


async def test_the_embedded_store_deletes_dead_rows_and_keeps_live_ones(tmp_path: Path):
    db = tmp_path / "bus.sqlite"
    bus, stage = await _stage(db)
    old, later = _old_and_live()
    try:
        await _feed(bus, old)
        await stage.step()
        rows = set(await bus.load_states("acme|"))
        assert {"acme|actor|00u1alice", "acme|actor|00ubob", "acme|brute_force|carol@acme.com"} <= rows
    finally:
        await bus.close()
    # a restart: the rows read back are indexed, so they are swept without being written again
    bus, stage = await _stage(db)
    try:
        await _feed(bus, later)
        await stage.step()
        rows = set(await bus.load_states("acme|"))
        assert "acme|actor|00u1alice" not in rows and "acme|brute_force|carol@acme.com" not in rows
        assert {"acme|actor|00ubob", "acme|actor|00ucarol"} <= rows
        assert "actor|00u1alice" not in stage.states["acme"]
        record = Engine(build_detections(), TenantContext("acme")).decode_state(
            "actor|00ubob", (await bus.load_states("acme|actor|00ubob"))["acme|actor|00ubob"]
        )
        assert isinstance(record, ActorRecord) and ("impossible_travel", "00ubob") in set(record.items())
    finally:
        await bus.close()


async def test_the_embedded_store_moves_first_encoding_rows_into_the_actor_record(tmp_path: Path):
    """A row of the previous layout (``acme|mfa_fatigue|00u1alice``, positional rows) is read, goes on counting,
    and its row is deleted when the actor's record is written."""
    engine = Engine(build_detections(), TenantContext("acme"))
    v1: dict[str, Any] = {}
    engine_v1 = Engine(build_detections(), TenantContext("acme"))
    _run(engine_v1, push_bombing(T0, 3, accept=False), v1)
    part = engine_v1.state_of(v1, "mfa_fatigue", "00u1alice")
    data = part.to_dict()
    data["w"] = [[[e.time, e.key, e.ip, e.signals, e.authn] for e in w] for w in part.windows()]  # positional
    bus = await EmbeddedBus(tmp_path / "bus.sqlite").open()
    try:
        await bus.commit("detections", 0, [], {"acme|mfa_fatigue|00u1alice": orjson.dumps(data)})
        stage = DetectionStage(bus, {"acme": engine}, Metrics())
        await stage.start()
        await _feed(bus, push_bombing(T0 + 200, 3, accept=False))
        await stage.step()
        rows = await bus.load_states("acme|")
        assert "acme|mfa_fatigue|00u1alice" not in rows
        record = engine.decode_state("actor|00u1alice", rows["acme|actor|00u1alice"])
        pushes = record.get("mfa_fatigue", "00u1alice", engine._by_id["mfa_fatigue"].load_state)
        assert len(pushes.pressure) == 6  # three read from the old row, three new
    finally:
        await bus.close()
