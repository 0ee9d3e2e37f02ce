from __future__ import annotations

import pytest

from detections.admin_privilege_granted import AdminPrivilegeGranted
from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import ADMIN_ACTOR, admin_event, sign_in, suspicious_activity_report, user_target

T0 = 1_700_000_000.0
GROUP = {"id": "00gADMINS", "type": "UserGroup", "alternateId": "unknown", "displayName": "IT Admins"}


def run(raws, states=None, context=None):
    engine = Engine([AdminPrivilegeGranted()], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def grant(t, roles, target=None, **kw):
    return admin_event(
        "user.account.privilege.grant",
        t,
        targets=[target or user_target("00uBOB", "bob@acme.com")],
        debug={"privilegeGranted": roles},
        **kw,
    )


def test_super_admin_grant_is_high_and_never_acts():
    (finding,) = run([grant(T0, "Super administrator, Read only admin")])
    assert finding.severity is Severity.HIGH and finding.assessment.tier is Tier.HIGH
    assert finding.assessment.actions == ()
    assert finding.principal == "00uBOB" and finding.principal_login == "bob@acme.com"
    assert "admin@acme.com" in finding.summary and finding.mitre == ("T1098.003",)


def test_lesser_role_is_medium_unless_self_granted():
    (finding,) = run([grant(T0, "Help Desk administrator")])
    assert finding.severity is Severity.MEDIUM
    self_grant = grant(T0, "Help Desk administrator", target=user_target("00uADMIN", "admin@acme.com"))
    (finding,) = run([self_grant])
    assert finding.severity is Severity.HIGH and "self-granted" in finding.summary


def test_group_grant_is_high_and_super_admin_group_is_critical():
    raw = admin_event("group.privilege.grant", T0, targets=[GROUP], debug={"privilegeGranted": "App admin"})
    assert run([raw])[0].severity is Severity.HIGH
    raw = admin_event("group.privilege.grant", T0, targets=[GROUP], debug={"privilegeGranted": "Super administrator"})
    assert run([raw])[0].severity is Severity.CRITICAL


def test_super_admin_revoke_is_reported_other_revokes_are_not():
    revoke = admin_event(
        "user.account.privilege.revoke", T0, targets=[user_target()], debug={"privilegeRevoked": "Super administrator"}
    )
    assert run([revoke])[0].severity is Severity.MEDIUM
    minor = admin_event(
        "user.account.privilege.revoke", T0, targets=[user_target()], debug={"privilegeRevoked": "Report administrator"}
    )
    assert run([minor]) == []


def test_failed_grant_replay_and_suppression():
    assert run([grant(T0, "Super administrator", result="FAILURE")]) == []
    states: dict = {}
    raw = grant(T0, "Super administrator")
    assert len(run([raw, grant(T0 + 10, "Super administrator")], states)) == 1  # bulk duplicate suppressed
    assert run([raw], states) == []  # replay
    assert len(run([grant(T0 + 20, "Report administrator")], states)) == 1  # a different role still alerts
    assert run([raw])[0].dedup_key == run([raw])[0].dedup_key


def test_our_own_service_is_ignored_and_state_round_trips():
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    own = grant(T0, "Super administrator", actor={**ADMIN_ACTOR, "id": "0oaITDR"})
    assert run([own], context=context) == []
    engine = Engine([AdminPrivilegeGranted()], TenantContext("acme"))
    states: dict = {}
    engine.process(parse_event(grant(T0, "Super administrator"), "acme"), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert engine.process(parse_event(grant(T0 + 5, "Super administrator"), "acme"), restored) == []


# -- escalation: the granter looked compromised in the last 24 h -----------------------------------------------

NEW_GEO_DEVICE = "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE}"


def admin_sign_in(t, **kw):
    return sign_in(t, "lagos", actor=dict(ADMIN_ACTOR), **kw)


def admin_report(t):
    raw = suspicious_activity_report(t)
    raw["actor"] = dict(ADMIN_ACTOR)
    return raw


SIGNALS = {
    "threatinsight": (lambda t: admin_sign_in(t, threat=True), "ThreatInsight"),
    "new geo + new device": (lambda t: admin_sign_in(t, behaviors=NEW_GEO_DEVICE), "new device and a new location"),
    "user report": (admin_report, "reported suspicious activity"),
}


@pytest.mark.parametrize("name", SIGNALS)
def test_grant_by_an_admin_with_a_recent_risk_signal_is_critical_and_says_why(name):
    build, why = SIGNALS[name]
    signal = build(T0 - 3 * 3600)
    (finding,) = run([signal, grant(T0, "Help Desk administrator")])
    assert finding.severity is Severity.CRITICAL and finding.assessment.actions == ()
    (reason,) = [e for e in finding.assessment.evidence if e.event_uuids == (signal["uuid"],)]
    assert why in reason.label and signal["uuid"] in finding.event_uuids
    assert finding.principal == "00uBOB"  # still about the user who got the role


@pytest.mark.parametrize("name", SIGNALS)
def test_no_escalation_when_the_signal_is_old_later_or_someone_elses(name):
    build, _ = SIGNALS[name]
    assert run([build(T0 - 25 * 3600), grant(T0, "Help Desk administrator")])[0].severity is Severity.MEDIUM
    later = run([grant(T0, "Help Desk administrator"), build(T0 + 60)])  # arrives after the grant
    assert [f.severity for f in later] == [Severity.MEDIUM]
    bob = build(T0 - 60)
    bob["actor"] = {**bob["actor"], "id": "00uBOB", "alternateId": "bob@acme.com"}  # the grantee, not the granter
    assert run([bob, grant(T0, "Help Desk administrator")])[0].severity is Severity.MEDIUM


def test_weak_or_failed_sign_ins_do_not_escalate():
    quiet = [
        admin_sign_in(T0 - 60, behaviors="{New Geo-Location=POSITIVE, New Device=NEGATIVE}"),
        admin_sign_in(T0 - 50, behaviors="{New Geo-Location=UNKNOWN, New Device=UNKNOWN}"),
        admin_sign_in(T0 - 40, risk="{level=HIGH, reasons=Anomalous Location}"),  # risk HIGH alone is no evidence
        admin_sign_in(T0 - 30, threat=True, result="FAILURE", reason="INVALID_CREDENTIALS"),
        admin_sign_in(T0 - 20, threat=False),
    ]
    assert run([*quiet, grant(T0, "Help Desk administrator")])[0].severity is Severity.MEDIUM


def test_risk_high_is_named_when_it_rides_on_a_real_signal():
    signal = admin_sign_in(T0 - 60, threat=True, risk="{level=HIGH, reasons=Anomalous Location}")
    (finding,) = run([signal, grant(T0, "Read only administrator")])
    assert any("Okta risk HIGH" in e.label for e in finding.assessment.evidence)


def test_every_kind_of_change_escalates_and_each_reason_is_listed_once():
    raws = [admin_sign_in(T0 - 7200, threat=True), admin_sign_in(T0 - 3600, threat=True)]
    raws.append(admin_sign_in(T0 - 1800, behaviors=NEW_GEO_DEVICE))
    group = admin_event("group.privilege.grant", T0, targets=[GROUP], debug={"privilegeGranted": "App admin"})
    revoke = admin_event(
        "user.account.privilege.revoke", T0 + 1, targets=[user_target()], debug={"privilegeRevoked": "Super admin"}
    )
    binding = admin_event("iam.resourceset.bindings.add", T0 + 2, targets=[{"id": "cr0X", "type": "ResourceSet"}])
    findings = run([*raws, grant(T0 - 1, "Super administrator"), group, revoke, binding])
    assert [f.severity for f in findings] == [Severity.CRITICAL] * 4
    for finding in findings:
        labels = [e.label for e in finding.assessment.evidence[1:]]
        assert len(labels) == 2 and raws[1]["uuid"] in finding.event_uuids  # the newest ThreatInsight sign-in


def test_the_change_request_itself_flagged_by_threatinsight_escalates():
    raw = grant(T0, "Help Desk administrator")
    raw["debugContext"]["debugData"]["threatSuspected"] = "true"
    (finding,) = run([raw])
    assert finding.severity is Severity.CRITICAL and "this request" in finding.assessment.evidence[1].label


def test_state_is_per_granter_so_kafka_keeps_it_in_the_actor_partition():
    detection = AdminPrivilegeGranted()
    assert detection.keyed_by_actor
    engine = Engine([detection], TenantContext("acme"))
    for raw in (grant(T0, "Super administrator"), admin_sign_in(T0, threat=True), admin_report(T0)):
        event = parse_event(raw, "acme")
        assert detection.state_key(event) == event.actor_id == "00uADMIN"
        assert engine.routes(event) == {}  # no re-keying hop
    assert detection.state_key(parse_event(sign_in(T0, threat=True), "acme")) == "00u1alice"
    quiet = parse_event(sign_in(T0, behaviors="{New Device=POSITIVE}"), "acme")
    assert detection.state_key(quiet) is None  # ordinary sign-ins hold no state


def test_signal_memory_is_bounded_replay_safe_and_survives_a_restart():
    engine = Engine([AdminPrivilegeGranted()], TenantContext("acme"))
    states: dict = {}
    signals = [admin_sign_in(T0 - 40 * 3600 + i * 3600, threat=True) for i in range(40)]
    for raw in [*signals, signals[-1]]:
        engine.process(parse_event(raw, "acme"), states)
    state = engine.state_of(states, "admin_privilege_granted", "00uADMIN")
    assert len(state.signals) == 16 and len({s.uuid for s in state.signals}) == 16
    assert [s.uuid for s in state.signals] == [raw["uuid"] for raw in signals[-16:]]  # newest kept, in order
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    (finding,) = engine.process(parse_event(grant(T0, "Report administrator"), "acme"), restored)
    assert finding.severity is Severity.CRITICAL


def test_state_written_before_escalation_existed_still_loads():
    state = AdminPrivilegeGranted().load_state({"sup": {"f": {"x": 1.0}, "s": ["evt-1"]}})
    assert state.signals == [] and state.sup.last_fired == {"x": 1.0}
    assert not state.sup.guard  # keyed by actor: the actor record's guard screens its events, not its own


def test_our_own_enforcement_never_feeds_or_triggers_escalation():
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    own = {**ADMIN_ACTOR, "id": "0oaITDR"}
    raws = [sign_in(T0 - 60, actor=own, threat=True), grant(T0, "Super administrator", actor=own)]
    assert run(raws, context=context) == []
