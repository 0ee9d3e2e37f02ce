"""Every public sample event goes through parse_event and every detection without an exception."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, parse_event, parse_time
from detections.registry import build_detections

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "okta-samples"


# Okta's own docs example carries the impossible date 2017-09-31: rejecting it (dead letter) is correct.
KNOWN_INVALID = {"okta_docs_logevent_examples.jsonl:5": "unparseable published"}


def _lines(name: str) -> list[dict]:
    path = SAMPLES / name
    assert path.is_file(), f"sample file missing: {path}"  # fail, never skip
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _with_panther_placeholders(event: dict, i: int) -> dict:
    """Panther's hand-written rule fixtures often lack ``uuid`` or carry ``published: "redacted"``.

    parse_event rightly rejects those (uuid is the replay key, published the event time),
    so give them placeholders and still require everything else in the fixture to parse.
    """
    event = dict(event)
    if not (event.get("uuid")):
        event["uuid"] = f"panther-fixture-{i}"
    published = event.get("published") or event.get("p_event_time")
    try:
        parse_time(published)
    except MalformedEvent:
        published = "2024-01-01 00:00:00.000"
    event["published"] = published
    return event


def _samples() -> list[tuple[str, dict, bool]]:
    """(label, raw event, may_be_malformed)."""
    out = [(f"elastic:{i}", e, False) for i, e in enumerate(_lines("elastic_okta_events.jsonl"))]
    for name in ("okta_docs_logevent_examples.jsonl", "panther_okta_test_scenarios.jsonl"):
        out += [(f"{name}:{i}", row["event"], False) for i, row in enumerate(_lines(name))]
    out = [(label, e, label in KNOWN_INVALID) for label, e, _ in out]
    for i, row in enumerate(_lines("panther_okta_rule_tests.jsonl")):
        event = _with_panther_placeholders(row["event"], i)
        out.append((f"panther:{i}", event, not (event.get("eventType") or event.get("eventtype"))))
    api = SAMPLES / "elastic_okta_api_response_example.json"
    assert api.is_file(), f"sample file missing: {api}"
    out += [(f"api:{i}", e, False) for i, e in enumerate(orjson.loads(api.read_bytes()))]
    return out


def test_sample_directory_exists():
    assert SAMPLES.is_dir(), f"expected the shared samples at {SAMPLES}"


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


def test_panther_expectations_for_single_event_rules():
    """Where a Panther test maps onto one of our single-event detections, the verdicts agree."""
    rules = {
        "Okta.User.Reported.Suspicious.Activity": "user_reported_suspicious",
        "Okta.Support.Access": "okta_support_access",
        "Okta.APIKeyCreated": "api_token_created",
        "Okta.AdminRoleAssigned": "admin_privilege_granted",
        "Okta.Phishing.Attempt.Blocked.FastPass": "fastpass_phishing",
    }
    checked = 0
    for row in _lines("panther_okta_rule_tests.jsonl"):
        ours = rules.get(row["rule_id"])
        if ours is None:
            continue
        engine = Engine(build_detections(), TenantContext("acme"))
        try:
            event = parse_event(row["event"], "acme")
        except MalformedEvent:
            continue
        fired = any(f.detection == ours for f in engine.process(event, {}))
        if row["expect_alert"]:
            assert fired, row["test_name"]
            checked += 1
    assert checked >= 4


def test_panther_fastpass_verdicts_agree_both_ways():
    """Panther's FastPass fixtures: the phishing block fires, the plain wrong-factor failure does not."""
    verdicts = []
    for row in _lines("panther_okta_rule_tests.jsonl"):
        if row["rule_id"] != "Okta.Phishing.Attempt.Blocked.FastPass":
            continue
        engine = Engine(build_detections(), TenantContext("acme"))
        event = parse_event(_with_panther_placeholders(row["event"], 0), "acme")
        fired = any(f.detection == "fastpass_phishing" for f in engine.process(event, {}))
        verdicts.append((row["expect_alert"], fired))
    assert sorted(verdicts) == [(False, False), (True, True)]
