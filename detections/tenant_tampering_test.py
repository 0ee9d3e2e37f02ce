from __future__ import annotations

import pytest

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.tenant_tampering import TenantTampering
from detections.testkit import admin_event

T0 = 1_700_000_000.0


def run(raws):
    engine = Engine([TenantTampering()], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {})


@pytest.mark.parametrize(
    ("event_type", "target_type", "severity", "mitre"),
    [
        ("system.idp.lifecycle.create", "IdentityProvider", Severity.HIGH, "T1484.002"),
        ("system.idp.lifecycle.activate", "IdentityProvider", Severity.MEDIUM, "T1484.002"),
        ("policy.lifecycle.deactivate", "PolicyEntity", Severity.MEDIUM, "T1556.009"),
        ("policy.lifecycle.delete", "PolicyEntity", Severity.MEDIUM, "T1556.009"),
        ("policy.rule.deactivate", "PolicyRule", Severity.MEDIUM, "T1556.009"),
        ("policy.rule.delete", "PolicyRule", Severity.MEDIUM, "T1556.009"),
        ("system.log_stream.lifecycle.deactivate", "LogStream", Severity.HIGH, "T1562.008"),
        ("system.log_stream.lifecycle.delete", "LogStream", Severity.HIGH, "T1562.008"),
    ],
)
def test_each_tampering_event(event_type, target_type, severity, mitre):
    target = {"id": "0xyOBJ", "type": target_type, "alternateId": "unknown", "displayName": "Thing"}
    (finding,) = run([admin_event(event_type, T0, targets=[target])])
    assert finding.severity is severity and mitre in finding.mitre
    assert finding.assessment.actions == ()
    assert "Thing" in finding.summary and finding.principal == "00uADMIN"


def test_benign_changes_and_failures_are_ignored():
    target = [{"id": "0xyOBJ", "type": "PolicyRule", "displayName": "r"}]
    assert run([admin_event("policy.rule.update", T0, targets=target)]) == []
    assert run([admin_event("policy.rule.activate", T0, targets=target)]) == []
    assert run([admin_event("policy.rule.delete", T0, targets=target, result="FAILURE")]) == []


def test_bulk_deletes_of_different_rules_each_alert_but_duplicates_do_not():
    rules = [[{"id": f"0pr{i}", "type": "PolicyRule", "displayName": f"rule {i}"}] for i in range(3)]
    raws = [admin_event("policy.rule.delete", T0 + i, targets=t) for i, t in enumerate(rules)]
    raws.append(admin_event("policy.rule.delete", T0 + 5, targets=rules[0]))
    assert len(run(raws)) == 3
