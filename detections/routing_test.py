"""Routing by event type: a detection is offered only the event types it declares, and the declarations are
true (``state_key`` gives no key for any other type), over the corpus and the public samples."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from detections import corpus
from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, parse_event
from detections.finding import Finding
from detections.registry import build_detections
from detections.routing import ByEventType, event_types_of
from detections.samples_test import _samples
from detections.testkit import log_event

UNDECLARED = ("user.session.end", "policy.evaluate_sign_on", "app.oauth2.token.grant", "made.up.type")


def _shapes() -> list[dict[str, Any]]:
    """The corpus's and the samples' events, one of each shape (ids and times aside)."""
    raws = [e for case in corpus.cases() for e in case.events] + [raw for _, raw, _ in _samples()]
    shapes: dict[bytes, dict[str, Any]] = {}
    for raw in raws:
        if isinstance(raw, dict):
            rest = {k: v for k, v in raw.items() if k not in ("uuid", "published", "transaction")}
            shapes.setdefault(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS, default=str), raw)
    return list(shapes.values())


def test_no_detection_gives_a_key_to_an_event_type_it_does_not_declare():
    detections = build_detections(profile=corpus.PROFILE)
    declared = {d.id: t for d in detections if (t := event_types_of(d)) is not None}
    assert len(declared) == len(detections) - 1  # all but session_hijack (any event carrying a session)
    types = {t for ts in declared.values() for t in ts} | set(UNDECLARED)
    keyed: dict[str, set[str]] = {d: set() for d in declared}
    for shape in _shapes():
        own = shape.get("eventType") or shape.get("eventtype") or ""
        raw = {k: v for k, v in shape.items() if k != "eventtype"}  # lower-cased exports (Panther)
        for event_type in types | {own}:
            try:
                event = parse_event({**raw, "eventType": event_type}, corpus.TENANT, now=4e9)
            except MalformedEvent:
                continue
            for detection in detections:
                if detection.id in declared and detection.state_key(event) is not None:
                    assert event_type in declared[detection.id], (detection.id, event_type)
                    keyed[detection.id].add(event_type)
    # the check has teeth: every declaring detection gave keys to some events
    assert all(keyed.values()), {d for d, seen in keyed.items() if not seen}


class _Recorder:
    keyed_by_actor: ClassVar[bool] = False

    def __init__(self, id: str, event_types: frozenset[str] | None) -> None:
        self.id, self.event_types, self.asked = id, event_types, []

    def state_key(self, event: Any) -> str | None:
        self.asked.append(event.event_type)
        return "k"

    def new_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def detect(self, event: Any, state: Any) -> list[Finding]:
        return []


def test_the_engine_asks_a_detection_only_about_the_event_types_it_declares():
    sign_ins, anything = _Recorder("a", frozenset({"user.session.start"})), _Recorder("b", None)
    engine = Engine([sign_ins, anything], TenantContext("acme"))
    for i, event_type in enumerate(("user.session.start", "user.session.end", "made.up.type")):
        engine.process(parse_event(log_event(event_type, 1_700_000_000.0 + i), "acme"), {})
    assert sign_ins.asked == ["user.session.start"]
    assert anything.asked == ["user.session.start", "user.session.end", "made.up.type"]
    event = parse_event(log_event("user.session.end", 1_700_000_000.0), "acme")
    assert engine.routes(event) == {"k": ("b",)}


def test_steps_keep_their_order_and_unknown_types_reach_only_the_undeclared():
    one, two, three = (_Recorder(x, t) for x, t in (("1", frozenset({"a", "b"})), ("2", None), ("3", frozenset("b"))))
    routes = ByEventType([one, two, three])
    assert routes("a") == (one, two)
    assert routes("b") == (one, two, three)
    assert routes("c") == routes("") == (two,)
