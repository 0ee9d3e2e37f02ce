"""The forwards to itdr.events.rekeyed: what the first pass writes, the second reads back (without a broker)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
import orjson

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections
from detections.testkit import failed_sign_in
from detector.ops.metrics import Metrics
from detector.stream.faust_app import DetectionAgents
from detector.stream.kafka_bus import Topics

T0 = 1_700_000_000.0


@dataclass
class _Message:
    headers: Any


@dataclass
class _Record:
    key: bytes | None
    value: bytes
    message: _Message


def _agents(tmp_path: Any) -> tuple[DetectionAgents, list[dict[str, Any]]]:
    app = faust.App("forwards-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), autodiscover=False)
    agents = DetectionAgents(app, {"acme": Engine(build_detections(), TenantContext("acme"))}, Metrics(), Topics(""), 3)
    sent: list[dict[str, Any]] = []
    agents.rekeyed.send = lambda **kw: sent.append(kw) or kw  # type: ignore[method-assign]
    return agents, sent


def test_a_forward_is_the_event_as_it_arrived_with_its_detections_in_headers(tmp_path: Any) -> None:
    agents, sent = _agents(tmp_path)
    value = orjson.dumps(failed_sign_in(T0, "eve@acme.com"))
    assert agents._unpack_event(_Record(b"acme:00u1", value, _Message(())), []) is not None
    routes = agents.engines["acme"].routes(parse_event(orjson.loads(value), "acme"))
    assert routes and len(sent) == len(routes)
    for forward in sent:
        assert forward["value"] == value  # not re-encoded: decoded once by the second pass
        record = _Record(forward["key"], forward["value"], _Message(tuple(forward["headers"].items())))
        work = agents._unpack_rekeyed(record, [])
        assert work is not None and work.tenant == "acme" and work.value == value
        assert work.event.uuid == parse_event(orjson.loads(value), "acme").uuid
        assert work.only == frozenset(routes[forward["key"].decode().split("|", 1)[1]])


def test_a_forward_of_the_earlier_envelope_layout_is_still_read(tmp_path: Any) -> None:
    agents, _ = _agents(tmp_path)
    raw = failed_sign_in(T0, "eve@acme.com")
    envelope = orjson.dumps({"t": "acme", "d": ["password_spray"], "e": raw})
    work = agents._unpack_rekeyed(_Record(b"acme|x", envelope, _Message(())), [])
    assert work is not None and work.only == frozenset({"password_spray"})
    assert orjson.loads(work.value) == raw


def test_a_forward_for_a_tenant_no_longer_run_is_a_dead_letter(tmp_path: Any) -> None:
    agents, _ = _agents(tmp_path)
    agents.deadletter.send = lambda **kw: kw  # type: ignore[method-assign]
    headers = (("tenant", b"gone"), ("detections", b'["password_spray"]'))
    sends: list[Any] = []
    value = orjson.dumps(failed_sign_in(T0, "eve@acme.com"))
    assert agents._unpack_rekeyed(_Record(b"gone|x", value, _Message(headers)), sends) is None
    assert sends and sends[0]["headers"]["reason"] == b"unknown tenant"
