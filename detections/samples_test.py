"""Every public sample event goes through parse_event and every detection without an exception."""

from __future__ import annotations

import orjson
import pytest

from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, parse_event
from detections.registry import build_detections
from detections.testkit import panther_fixture
from tests.conftest import DATA

SAMPLES = DATA / "okta-samples"


# Okta's own docs example carries the impossible date 2017-09-31: rejecting it (dead letter) is correct.
KNOWN_INVALID = {"okta_docs_logevent_examples.jsonl:5": "unparseable published"}


def _lines(name: str) -> list[dict]:
    path = SAMPLES / name
    assert path.is_file(), f"sample file missing: {path}"  # fail, never skip
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _samples() -> list[tuple[str, dict, bool]]:
    """(label, raw event, may_be_malformed)."""
    out = [(f"elastic:{i}", e, False) for i, e in enumerate(_lines("elastic_okta_events.jsonl"))]
    for name in ("okta_docs_logevent_examples.jsonl", "panther_okta_test_scenarios.jsonl"):
        out += [(f"{name}:{i}", row["event"], False) for i, row in enumerate(_lines(name))]
    out = [(label, e, label in KNOWN_INVALID) for label, e, _ in out]
    for i, row in enumerate(_lines("panther_okta_rule_tests.jsonl")):
        event = panther_fixture(row["event"], i)
        out.append((f"panther:{i}", event, not (event.get("eventType") or event.get("eventtype"))))
    api = SAMPLES / "elastic_okta_api_response_example.json"
    assert api.is_file(), f"sample file missing: {api}"
    out += [(f"api:{i}", e, False) for i, e in enumerate(orjson.loads(api.read_bytes()))]
    return out


def test_sample_directory_exists():
    assert SAMPLES.is_dir(), f"expected the sample events at {SAMPLES}"


def test_every_sample_parses_and_runs_through_every_detection():
    samples = _samples()
    assert len(samples) > 150
    engine = Engine(build_detections(), TenantContext("acme"))
    states: dict = {}
    parsed = 0
    for label, raw, may_be_malformed in samples:
        try:
            event = parse_event(raw, "acme")
        except MalformedEvent as exc:
            if may_be_malformed:
                assert label not in KNOWN_INVALID or KNOWN_INVALID[label] in str(exc)
                continue
            pytest.fail(f"{label} did not parse: {exc}")
        parsed += 1
        for finding in engine.process(event, states):
            finding.to_dict()
    for key, state in states.items():
        assert engine.decode_state(key, engine.encode_state(state)).to_dict() == state.to_dict()
    assert parsed >= len(samples) - 2 - len(KNOWN_INVALID)
