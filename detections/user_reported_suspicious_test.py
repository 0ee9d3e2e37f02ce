from __future__ import annotations

from detections.confidence import Action, EvidenceClass, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import suspicious_activity_report
from detections.user_reported_suspicious import UserReportedSuspicious

T0 = 1_700_000_000.0


def run(raws, states=None, context=None):
    engine = Engine([UserReportedSuspicious()], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def test_report_alone_earns_clear_sessions():
    (finding,) = run([suspicious_activity_report(T0, "system.email.password_changed_notification.sent_message")])
    assert finding.severity is Severity.HIGH
    assert finding.confidence == 60 and finding.assessment.tier is Tier.HIGH
    assert finding.assessment.classes == {EvidenceClass.USER_REPORT}
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)
    assert finding.principal == "00u1alice"


def test_reported_successful_sign_in_also_earns_password_expiry():
    (finding,) = run([suspicious_activity_report(T0, "system.email.new_device_notification.sent_message")])
    assert finding.confidence == 95 and finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert set(finding.assessment.actions) == {Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD}


def test_reported_factor_enrolment_offers_factor_reset():
    (finding,) = run([suspicious_activity_report(T0, "user.mfa.factor.activate")])
    assert Action.RESET_FACTORS in finding.assessment.actions


def test_reported_failed_sign_in_is_not_access():
    (finding,) = run([suspicious_activity_report(T0, "user.session.start", reported_result="FAILURE")])
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)
    assert EvidenceClass.ACCESS not in finding.assessment.classes


def test_replay_and_repeat_reports_within_the_hour_give_one_finding():
    first = suspicious_activity_report(T0)
    states: dict = {}
    assert len(run([first, suspicious_activity_report(T0 + 60)], states)) == 1
    assert run([first], states) == []
    assert len(run([suspicious_activity_report(T0 + 7200)], states)) == 1


def test_dedup_key_is_derived_from_the_report():
    raw = suspicious_activity_report(T0)
    assert (
        run([raw])[0].dedup_key == run([raw])[0].dedup_key == f"acme:user_reported_suspicious:00u1alice:{raw['uuid']}"
    )


def test_other_events_and_non_humans_are_ignored():
    raw = suspicious_activity_report(T0)
    raw["actor"] = {"id": "0oaAPP", "type": "PublicClientApp", "alternateId": "app", "displayName": "app"}
    assert run([raw]) == []
