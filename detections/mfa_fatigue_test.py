from __future__ import annotations

import random

from detections.confidence import Action, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.mfa_fatigue import MfaFatigue
from detections.testkit import (
    PUSH_ATTACKER,
    classic_push_deny,
    oie_push_deny,
    password_as_factor_failure,
    push_bombing,
    push_sent,
)

T0 = 1_700_000_000.0
ATTACKER = PUSH_ATTACKER


bombing = push_bombing


def run(raws, states=None, context=None):
    engine = Engine([MfaFatigue()], context or TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def by_detection(findings, name):
    return [f for f in findings if f.detection == name]


def test_five_denials_in_ten_minutes_is_an_attempt():
    findings = run(bombing(T0, 5, accept=False, spacing=60))
    (attempt,) = findings
    assert attempt.detection == "mfa_push_bombing"
    assert (attempt.confidence, attempt.assessment.tier) == (55, Tier.MEDIUM)
    assert attempt.assessment.actions == ()
    assert len(attempt.event_uuids) == 5


def test_four_denials_or_spread_out_denials_are_not():
    assert run([oie_push_deny(T0 + i * 60) for i in range(4)]) == []
    assert run([oie_push_deny(T0 + i * 180) for i in range(5)]) == []  # 12 min apart end to end


def test_password_as_factor_failures_never_count():
    """In Identity Engine the password step is an auth_via_mfa FAILURE too (docs/okta-quirks.md#password-as-factor)."""
    assert run([password_as_factor_failure(T0 + i * 10) for i in range(20)]) == []


def test_classic_engine_denials_count_the_same():
    assert len(by_detection(run([classic_push_deny(T0 + i * 30) for i in range(6)]), "mfa_push_bombing")) == 1


def test_denials_then_accept_requested_from_new_device_and_geo_is_high_confidence():
    (finding,) = by_detection(run(bombing(T0, 6, accept=True)), "mfa_push_accepted")
    points = sorted(e.points for e in finding.assessment.evidence)
    assert points == [10, 15, 20, 30, 35]  # new device, new geo, requester ≠ responder, pattern, access
    assert finding.confidence == 100
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert set(finding.assessment.actions) == {Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD}
    assert finding.principal == "00u1alice"


def test_accept_from_the_users_usual_place_pages_without_action():
    """The confidence model's worked example: 6 denials then an accept with no novelty scores 65."""
    raws = bombing(T0, 6, accept=True, requester={"ip": "73.1.2.3"})
    (finding,) = by_detection(run(raws), "mfa_push_accepted")
    assert finding.confidence == 65
    assert finding.assessment.tier is Tier.HIGH
    assert finding.assessment.actions == ()


def test_push_fanout_to_two_devices_counts_once():
    raws = [push_sent(T0 + i * 30 + d * 0.3) for i in range(3) for d in range(2)]
    detection = MfaFatigue()
    states: dict = {}
    run(raws, states)
    history = Engine([detection], TenantContext("acme")).state_of(states, "mfa_fatigue", "00u1alice")
    assert len(history.prompts) == 3
    assert detection.state_key(parse_event(raws[0], "acme")) == "00u1alice"


def test_out_of_order_delivery_gives_the_same_findings():
    raws = bombing(T0, 6, accept=True)
    in_order = run(raws)
    shuffled = raws[:]
    random.Random(7).shuffle(shuffled)
    assert len(in_order) == 2
    assert sorted(f.dedup_key for f in run(shuffled)) == sorted(f.dedup_key for f in in_order)


def test_replayed_events_and_suppression_give_one_finding_per_hour():
    raws = [oie_push_deny(T0 + i * 30) for i in range(12)]
    states: dict = {}
    first = run(raws, states)
    again = run(raws, states)
    assert [f.revision for f in first] == [0, 1] and len({f.dedup_key for f in first}) == 1  # 5, then 10 denials
    assert again == []


def test_state_survives_encoding_round_trip():
    engine = Engine([MfaFatigue()], TenantContext("acme"))
    states: dict = {}
    engine.process_all((parse_event(oie_push_deny(T0 + i), "acme") for i in range(4)), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    findings = engine.process(parse_event(oie_push_deny(T0 + 10), "acme"), restored)
    assert [f.detection for f in findings] == ["mfa_push_bombing"]


def test_our_own_enforcement_events_are_ignored():
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    raws = [oie_push_deny(T0 + i, client={"id": "0oaITDR", "ipAddress": "1.2.3.4"}) for i in range(6)]
    assert run(raws, context=context) == []
