from __future__ import annotations

from detections.confidence import Action, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.okta_threat_signals import OktaThreatSignals
from detections.testkit import log_event, sign_in, threat_detected, user_risk_detect

T0 = 1_700_000_000.0


def run(raws, states=None, context=None):
    engine = Engine([OktaThreatSignals()], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def test_threat_detected_is_keyed_by_ip_not_user():
    raw = threat_detected(T0, result="ALLOW", detections='{"Password Spray":"MEDIUM","Login failures":"HIGH"}')
    detection = OktaThreatSignals()
    assert detection.state_key(parse_event(raw, "acme")) == "ip:185.220.101.4"
    (finding,) = run([raw])
    assert finding.detection == "threatinsight_request"
    assert finding.severity is Severity.HIGH  # highest level in threatDetections
    assert finding.principal == ""  # no user: nothing to act on
    assert finding.assessment.actions == ()
    assert finding.mitre == ("T1110.003",)


def test_threat_detected_without_client_ip_is_keyed_by_the_ip_actor():
    """Panther's fixture (and exports that drop ``client``) carry the IP only as the actor."""
    raw = threat_detected(T0, ip="198.51.100.7", result="ALLOW")
    raw["client"] = {"zone": "null", "device": "Computer"}
    assert OktaThreatSignals().state_key(parse_event(raw, "acme")) == "ip:198.51.100.7"
    (finding,) = run([raw])
    assert "198.51.100.7" in finding.summary


def test_blocked_threat_is_info_and_suppressed_per_ip():
    states: dict = {}
    findings = run([threat_detected(T0 + i * 60, result="DENY") for i in range(10)], states)
    (finding,) = findings
    assert finding.severity is Severity.INFO and finding.assessment.tier is Tier.LOW
    assert len(run([threat_detected(T0, ip="198.51.100.7", result="RATE_LIMIT")], states)) == 1  # another IP


def test_threat_suspected_on_successful_sign_in():
    raw = sign_in(T0, "moscow", threat=True, proxy=True, behaviors="{New Geo-Location=POSITIVE, New Device=POSITIVE}")
    (finding,) = run([raw])
    assert finding.detection == "threatinsight_on_success"
    assert finding.confidence == 80  # 40 + 15 + 15 + 10
    assert finding.principal == "00u1alice"
    assert finding.severity is Severity.HIGH
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)  # ThreatInsight on a success: Okta's verdict


def test_threat_suspected_on_failed_sign_in_is_not_this_detection():
    failed = sign_in(T0, "moscow", threat=True, result="FAILURE", reason="INVALID_CREDENTIALS")
    assert run([failed]) == []


def test_okta_risk_high_alone_is_never_a_finding_and_only_boosts_users_with_a_baseline():
    new_user = [sign_in(T0 + i, "nyc", risk="{level=HIGH, reasons=Anomalous Device}") for i in range(3)]
    assert run(new_user) == []  # every new user is HIGH until Okta has a baseline
    flagged_new = run([sign_in(T0, "nyc", threat=True, risk="{level=HIGH}")])[0]
    assert flagged_new.confidence == 40
    history = [sign_in(T0 + i * 3600, "nyc") for i in range(10)]
    flagged_known = run([*history, sign_in(T0 + 50_000, "nyc", threat=True, risk="{level=HIGH}")])[0]
    assert flagged_known.confidence == 45


def test_itp_high_user_risk_targets_the_user_not_the_system_actor():
    (finding,) = run([user_risk_detect(T0)])
    assert finding.detection == "itp_user_risk"
    assert finding.principal == "00u1alice" and finding.principal_login == "alice@acme.com"
    assert finding.severity is Severity.HIGH and finding.confidence == 40
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)  # Okta's own High verdict earns it alone


def test_itp_session_hijack_medium_and_renamed_event():
    raw = user_risk_detect(
        T0,
        level="MEDIUM",
        detection="Session Influenced User Risk",
        reasons="Associated sessionId is suspected to be hijacked",
        event_type="user.risk.change",
    )
    (finding,) = run([raw])
    assert finding.severity is Severity.MEDIUM and finding.mitre == ("T1539",)


def test_itp_low_and_downgrades_are_ignored():
    assert run([user_risk_detect(T0, level="LOW", previous="MEDIUM")]) == []
    assert run([user_risk_detect(T0, level="MEDIUM", previous="HIGH")]) == []


def test_okta_session_roaming():
    raw = sign_in(T0, "moscow", event_type="security.session.detect_client_roaming", proxy=True)
    (finding,) = run([raw])
    assert finding.detection == "okta_session_roaming"
    assert finding.confidence == 70 and finding.assessment.tier is Tier.HIGH
    raw = sign_in(T0, "moscow", event_type="security.session.detect_client_roaming", proxy=True, threat=True)
    (finding,) = run([raw])
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)


def test_replay_state_round_trip_and_own_actions():
    engine = Engine([OktaThreatSignals()], TenantContext("acme"))
    states: dict = {}
    raw = sign_in(T0, "moscow", threat=True)
    assert len(engine.process(parse_event(raw, "acme"), states)) == 1
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert engine.process(parse_event(raw, "acme"), restored) == []
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    assert run([sign_in(T0, "moscow", threat=True, client_id="0oaITDR")], context=context) == []


def test_unrelated_events_are_ignored():
    assert run([log_event("user.session.end", T0), log_event("user.account.lock", T0)]) == []


def test_a_users_ordinary_sign_ins_past_the_baseline_are_counted_but_not_guarded():
    engine = Engine([OktaThreatSignals()], TenantContext("acme"))
    states: dict = {}
    history = [sign_in(T0 + i * 3600, "nyc") for i in range(12)]
    engine.process_all((parse_event(r, "acme") for r in history), states)
    state = engine.state_of(states, OktaThreatSignals.id, f"user:{history[0]['actor']['id']}")
    assert state.sign_ins == 12 and len(state.sup.guard) == 10  # the first 10 (to the baseline) guarded
    flagged = sign_in(T0 + 50_000, "nyc", threat=True)
    assert len(engine.process(parse_event(flagged, "acme"), states)) == 1 and len(state.sup.guard) == 11
    assert engine.process(parse_event(flagged, "acme"), states) == []  # a verdict is guarded: judged once
    assert engine.process(parse_event(history[0], "acme"), states) == [] and state.sign_ins == 13
