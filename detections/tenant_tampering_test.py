from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.okta_support_access import OktaSupportAccess
from detections.tenant_tampering import TenantTampering
from detections.testkit import ADMIN_ACTOR, SYSTEM_ACTOR, admin_event, iso

T0 = 1_700_000_000.0
OWN_CLIENT = "0oaITDR"


def run(raws, states=None, context=None):
    engine = Engine([TenantTampering()], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def obj(target_type: str, name: str = "Thing", ident: str = "0xyOBJ") -> dict[str, Any]:
    return {"id": ident, "type": target_type, "alternateId": "unknown", "displayName": name}


def app(display: str, label: str, ident: str = "0oaAPP") -> dict[str, Any]:
    """An AppInstance target: ``displayName`` is the catalog app, ``alternateId`` the org's label."""
    return {"id": ident, "type": "AppInstance", "alternateId": label, "displayName": display, "detailEntry": None}


def org2org(event_type: str, t: float = T0, **kw: Any) -> dict[str, Any]:
    return admin_event(event_type, t, targets=[app("Okta Org2Org", "Partner tenant sync")], **kw)


ACCESS_2FA = {"appSignOn": {"access": "ALLOW", "verificationMethod": {"factorMode": "2FA", "type": "ASSURANCE"}}}
ACCESS_1FA = {"appSignOn": {"access": "ALLOW", "verificationMethod": {"factorMode": "1FA", "type": "ASSURANCE"}}}
SESSION = {
    "signon": {
        "access": "ALLOW",
        "requireFactor": True,
        "factorPromptMode": "ALWAYS",
        "session": {"maxSessionIdleMinutes": 120, "maxSessionLifetimeMinutes": 720, "usePersistentCookie": False},
    }
}


def session_rule(**changes: Any) -> dict[str, Any]:
    actions = copy.deepcopy(SESSION)
    for key, value in changes.items():
        (actions["signon"]["session"] if key.startswith("max") else actions["signon"])[key] = value
    return actions


def rule_update(before: dict | None, after: dict | None, t: float = T0, *, as_json: bool = True, **kw: Any):
    """``policy.rule.update``: targets are the policy and the rule; the rule carries changeDetails from/to."""

    def side(actions: dict) -> dict:
        return {"policyRuleActionJson": json.dumps(actions) if as_json else actions}

    details = {k: side(v) for k, v in (("from", before), ("to", after)) if v is not None}
    rule = {**obj("PolicyRule", "Password manager: any device", "0prRULE"), "changeDetails": details}
    return admin_event("policy.rule.update", t, targets=[obj("PolicyEntity", "Apps", "00pPOL"), rule], **kw)


# Every trigger this branch added: (name, builder(t, **kw), severity, a MITRE id)
Builder = Callable[..., dict[str, Any]]


def simple(event_type: str, target_type: str) -> Builder:
    return lambda t, **kw: admin_event(event_type, t, targets=[obj(target_type)], **kw)


NEW_TRIGGERS: list[tuple[str, Builder, Severity, str]] = [
    ("idp update", simple("system.idp.lifecycle.update", "IdentityProvider"), Severity.MEDIUM, "T1484.002"),
    ("idp deactivate", simple("system.idp.lifecycle.deactivate", "IdentityProvider"), Severity.MEDIUM, "T1484.002"),
    ("idp delete", simple("system.idp.lifecycle.delete", "IdentityProvider"), Severity.MEDIUM, "T1484.002"),
    ("org2org create", lambda t, **kw: org2org("application.lifecycle.create", t, **kw), Severity.HIGH, "T1484.002"),
    ("org2org update", lambda t, **kw: org2org("application.lifecycle.update", t, **kw), Severity.MEDIUM, "T1484.002"),
    (
        "org2org activate",
        lambda t, **kw: org2org("application.lifecycle.activate", t, **kw),
        Severity.MEDIUM,
        "T1484.002",
    ),
    ("global mfa off", simple("system.mfa.factor.deactivate", "Authenticator"), Severity.HIGH, "T1556.006"),
    (
        "authenticator off (OIE)",
        simple("security.authenticator.lifecycle.deactivate", "Authenticator"),
        Severity.HIGH,
        "T1556.006",
    ),
    ("2FA to 1FA", lambda t, **kw: rule_update(ACCESS_2FA, ACCESS_1FA, t, **kw), Severity.HIGH, "T1556.006"),
    (
        "requireFactor off",
        lambda t, **kw: rule_update(SESSION, session_rule(requireFactor=False), t, **kw),
        Severity.HIGH,
        "T1556.006",
    ),
    (
        "session lifetime unlimited",
        lambda t, **kw: rule_update(SESSION, session_rule(maxSessionLifetimeMinutes=0), t, **kw),
        Severity.HIGH,
        "T1556.006",
    ),
    ("app sign-on update", simple("application.policy.sign_on.update", "AppInstance"), Severity.MEDIUM, "T1556.009"),
    (
        "app sign-on rule delete",
        simple("application.policy.sign_on.rule.delete", "AppInstance"),
        Severity.MEDIUM,
        "T1556.009",
    ),
    ("zone update", simple("zone.update", "NetworkZone"), Severity.MEDIUM, "T1562.007"),
    ("zone deactivate", simple("zone.deactivate", "NetworkZone"), Severity.MEDIUM, "T1562.007"),
    ("zone delete", simple("zone.delete", "NetworkZone"), Severity.MEDIUM, "T1562.007"),
    ("zone blocklist removed", simple("zone.remove_blacklist", "NetworkZone"), Severity.MEDIUM, "T1562.007"),
    ("zone rule disabled", simple("network_zone.rule.disabled", "NetworkZone"), Severity.MEDIUM, "T1562.007"),
]
IDS = [name for name, *_ in NEW_TRIGGERS]


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
    (finding,) = run([admin_event(event_type, T0, targets=[obj(target_type)])])
    assert finding.severity is severity and mitre in finding.mitre
    assert finding.assessment.actions == ()
    assert "Thing" in finding.summary and finding.principal == "00uADMIN"


@pytest.mark.parametrize(("name", "build", "severity", "mitre"), NEW_TRIGGERS, ids=IDS)
def test_each_new_trigger_alerts_at_its_severity_and_never_acts(name, build, severity, mitre):
    (finding,) = run([build(T0)])
    assert finding.severity is severity and mitre in finding.mitre, name
    assert finding.assessment.actions == () and finding.principal == "00uADMIN"
    assert "admin@acme.com" in finding.summary


@pytest.mark.parametrize(("name", "build", "severity", "mitre"), NEW_TRIGGERS, ids=IDS)
def test_each_new_trigger_replayed_is_reported_once(name, build, severity, mitre):
    states: dict = {}
    raw = build(T0)
    assert len(run([raw, raw], states)) == 1
    assert run([raw], states) == []  # replay after a restart, still inside the window
    late = dict(raw, published=iso(T0 + 3600))  # same uuid, past the window
    assert run([late], states) == []
    assert len(run([build(T0 + 3600)], states)) == 1  # a new event on the same object after the window


@pytest.mark.parametrize(("name", "build", "severity", "mitre"), NEW_TRIGGERS, ids=IDS)
def test_each_new_trigger_ignores_our_own_enforcement_and_failures(name, build, severity, mitre):
    context = TenantContext("acme", own_client_ids=frozenset({OWN_CLIENT}))
    assert run([build(T0, actor={**ADMIN_ACTOR, "id": OWN_CLIENT})], context=context) == []
    assert run([build(T0, result="FAILURE")]) == []


def test_org2org_is_matched_on_catalog_name_or_label_and_other_apps_are_ignored():
    label_only = admin_event("application.lifecycle.create", T0, targets=[app("Custom SAML", "org2org to EU")])
    assert run([label_only])[0].severity is Severity.HIGH
    for event_type in ("application.lifecycle.create", "application.lifecycle.update"):
        assert run([admin_event(event_type, T0, targets=[app("Salesforce.com", "Salesforce Prod")])]) == []
    assert run([org2org("application.lifecycle.deactivate")]) == []  # switching it off removes the trust
    assert run([org2org("application.user_membership.add")]) == []


def test_org2org_apps_alert_per_app():
    raws = [
        admin_event("application.lifecycle.update", T0 + i, targets=[app("Okta Org2Org", f"o{i}", f"0oa{i}")])
        for i in range(3)
    ]
    assert len(run(raws)) == 3


def test_mfa_downgrade_names_what_was_weakened():
    (finding,) = run([rule_update(ACCESS_2FA, ACCESS_1FA)])
    assert "2FA → 1FA" in finding.summary and "Password manager" in finding.summary
    assert finding.title.startswith("Authentication policy rule weakened")
    both = session_rule(requireFactor=False, maxSessionLifetimeMinutes=0)
    (finding,) = run([rule_update(SESSION, both)])
    assert "requireFactor" in finding.summary and "maxSessionLifetimeMinutes" in finding.summary


def test_mfa_downgrade_reads_objects_strings_and_lower_cased_keys():
    assert len(run([rule_update(ACCESS_2FA, ACCESS_1FA, as_json=False)])) == 1
    raw = rule_update(ACCESS_2FA, ACCESS_1FA)
    rule = raw["target"][1]
    rule["changedetails"] = {
        k: {"policyruleactionjson": v["policyRuleActionJson"]} for k, v in rule.pop("changeDetails").items()
    }
    assert len(run([raw])) == 1
    wrapped = rule_update({"actions": ACCESS_2FA}, {"actions": ACCESS_1FA})
    assert len(run([wrapped])) == 1
    as_strings = rule_update(session_rule(requireFactor="true"), session_rule(requireFactor="false"))
    assert len(run([as_strings])) == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (ACCESS_1FA, ACCESS_2FA),  # strengthened
        (ACCESS_2FA, ACCESS_2FA),  # something else changed
        (ACCESS_1FA, ACCESS_1FA),
        (session_rule(requireFactor=False), session_rule(requireFactor=False)),
        (session_rule(requireFactor=False), SESSION),
        (session_rule(maxSessionLifetimeMinutes=0), session_rule(maxSessionLifetimeMinutes=0)),
        (SESSION, session_rule(maxSessionLifetimeMinutes=480)),  # shorter sessions: stricter
        (SESSION, session_rule(requireFactor=None)),  # field dropped: nothing proven
        (None, ACCESS_1FA),  # no "from": nothing to compare
        (ACCESS_2FA, None),
    ],
)
def test_rule_updates_that_do_not_weaken_mfa_are_ignored(before, after):
    assert run([rule_update(before, after)]) == []


def test_malformed_change_details_are_ignored():
    raw = rule_update(ACCESS_2FA, ACCESS_1FA)
    raw["target"][1]["changeDetails"]["to"]["policyRuleActionJson"] = "{not json"
    assert run([raw]) == []
    raw["target"][1]["changeDetails"] = "garbage"
    assert run([raw]) == []


def test_benign_changes_and_failures_are_ignored():
    target = [obj("PolicyRule", "r")]
    assert run([admin_event("policy.rule.update", T0, targets=target)]) == []
    assert run([admin_event("policy.rule.activate", T0, targets=target)]) == []
    assert run([admin_event("zone.activate", T0, targets=[obj("NetworkZone")])]) == []
    assert run([admin_event("zone.make_blacklist", T0, targets=[obj("NetworkZone")])]) == []
    assert run([admin_event("policy.rule.delete", T0, targets=target, result="FAILURE")]) == []


def test_bulk_deletes_of_different_rules_each_alert_but_duplicates_do_not():
    rules = [[obj("PolicyRule", f"rule {i}", f"0pr{i}")] for i in range(3)]
    raws = [admin_event("policy.rule.delete", T0 + i, targets=t) for i, t in enumerate(rules)]
    raws.append(admin_event("policy.rule.delete", T0 + 5, targets=rules[0]))
    assert len(run(raws)) == 3


def test_okta_support_turning_an_authenticator_off_is_reported_once_by_okta_support_access():
    raw = admin_event(
        "system.mfa.factor.deactivate", T0, actor=SYSTEM_ACTOR, targets=[obj("Authenticator", "Okta Verify")]
    )
    raw["transaction"] = {"type": "JOB", "id": "unknown", "detail": {}}
    assert run([raw]) == []
    engine = Engine([TenantTampering(), OktaSupportAccess()], TenantContext("acme"))
    (finding,) = engine.process(parse_event(raw, "acme"), {})
    assert finding.detection == "okta_support_access" and finding.severity is Severity.HIGH
    with_client = admin_event("system.mfa.factor.deactivate", T0, actor=SYSTEM_ACTOR, targets=[obj("Authenticator")])
    assert run([with_client])[0].detection == "tenant_tampering"  # a real request: not Okta Support's back end
