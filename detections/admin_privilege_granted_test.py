from __future__ import annotations

from detections.admin_privilege_granted import AdminPrivilegeGranted
from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import ADMIN_ACTOR, admin_event, user_target

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
