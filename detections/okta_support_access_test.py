from __future__ import annotations

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.okta_support_access import OktaSupportAccess
from detections.testkit import admin_event, user_target

T0 = 1_700_000_000.0
SUPPORT = {"id": "00uOKTASUPPORT", "type": "User", "alternateId": "support@okta.com", "displayName": "Okta Support"}


def run(raws):
    engine = Engine([OktaSupportAccess()], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {})


def test_grant_is_medium_and_attributed_to_the_granting_admin():
    (finding,) = run([admin_event("user.session.impersonation.grant", T0)])
    assert finding.severity is Severity.MEDIUM and finding.principal == "00uADMIN"
    assert finding.assessment.actions == () and "T1199" in finding.mitre


def test_impersonation_initiate_is_high_and_names_the_impersonated_user():
    raw = admin_event("user.session.impersonation.initiate", T0, actor=SUPPORT, targets=[user_target()])
    (finding,) = run([raw])
    assert finding.severity is Severity.HIGH and finding.principal == "00u1alice"
    assert "support@okta.com" in finding.summary


def test_end_is_ignored_and_repeat_grants_are_suppressed():
    assert run([admin_event("user.session.impersonation.end", T0)]) == []
    assert len(run([admin_event("user.session.impersonation.grant", T0 + i * 60) for i in range(5)])) == 1
