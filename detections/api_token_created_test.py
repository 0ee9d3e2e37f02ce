from __future__ import annotations

from detections.api_token_created import ApiTokenCreated
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import admin_event

T0 = 1_700_000_000.0
TOKEN = {"id": "00Tpki36zlWjhjQ1u2p4", "type": "Token", "alternateId": "unknown", "displayName": "backup-sync"}


def run(raws, context=None):
    engine = Engine([ApiTokenCreated()], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {})


def test_token_created_is_medium_and_never_acts():
    (finding,) = run([admin_event("system.api_token.create", T0, targets=[TOKEN])])
    assert finding.severity is Severity.MEDIUM and finding.assessment.actions == ()
    assert finding.principal == "00uADMIN" and "backup-sync" in finding.summary
    assert finding.mitre == ("T1098.001",)


def test_unrestricted_token_is_high():
    raw = admin_event("system.api_token.create", T0, targets=[TOKEN], debug={"networkConnection": "ANYWHERE"})
    assert run([raw])[0].severity is Severity.HIGH
    update = admin_event("system.api_token.update", T0, targets=[TOKEN], debug={"networkConnection": "ANYWHERE"})
    assert run([update])[0].severity is Severity.HIGH
    assert run([admin_event("system.api_token.update", T0, targets=[TOKEN])]) == []


def test_revoke_failure_and_own_tokens_are_ignored():
    assert run([admin_event("system.api_token.revoke", T0, targets=[TOKEN])]) == []
    assert run([admin_event("system.api_token.create", T0, targets=[TOKEN], result="FAILURE")]) == []
    context = TenantContext("acme", own_api_token_ids=frozenset({"00TITDR"}))
    own = admin_event("system.api_token.create", T0, targets=[TOKEN])
    own["transaction"]["detail"] = {"requestApiTokenId": "00TITDR"}
    assert run([own], context=context) == []
