"""Tenant tampering: identity providers, Org2Org, authentication policies, MFA, network zones, log streams.

Why: a new IdP or Org2Org app lets an attacker sign in as anyone (the 2023 cross-tenant
impersonation campaign); weakening sign-on/MFA policies or turning an authenticator
off org-wide removes MFA (Scattered Spider); a weakened network zone lifts IP blocks;
killing a log stream blinds this daemon when it is fed by log streaming
(Panther, Elastic, Sigma and Okta's catalog have single-event rules for each).

Triggers (single events, fixed severity, never auto-enforced; tables below):

* identity providers: ``system.idp.lifecycle.create`` (high), ``.activate|update|deactivate|delete``
  (medium); ``application.lifecycle.create`` of an Org2Org app (high),
  ``.update|activate`` (medium). Org2Org = an ``AppInstance`` target whose catalog
  name (``displayName``) or label (``alternateId``) contains "Org2Org" (Panther).
* MFA and policies: ``system.mfa.factor.deactivate`` and its Identity Engine spelling
  ``security.authenticator.lifecycle.deactivate`` (an authenticator turned off
  org-wide, high; when Okta Support did it, okta_support_access reports it instead);
  ``policy.rule.update`` whose ``target[].changeDetails`` from/to
  ``policyRuleActionJson`` weakens MFA (high): ``appSignOn.verificationMethod.factorMode``
  2FA → 1FA (Okta catalog), ``signon.requireFactor`` true → false,
  ``signon.session.maxSessionLifetimeMinutes`` n → 0 (Panther skeleton key); other rule
  updates are routine and ignored. ``policy.lifecycle.deactivate|delete``,
  ``policy.rule.deactivate|delete``, ``application.policy.sign_on.update`` and
  ``application.policy.sign_on.rule.delete`` (medium).
* network zones: ``zone.update|deactivate|delete|remove_blacklist``, ``network_zone.rule.disabled`` (medium).
* log streams: ``system.log_stream.lifecycle.deactivate|delete`` (high).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from detections import debugdata
from detections.common import is_okta_support_reset
from detections.config_change import Change, ConfigChangeDetection, first_target, target_ref
from detections.event import Event
from detections.finding import Severity

_IDP = ("T1484.002",)
_POLICY = ("T1556.009", "T1562")
_MFA = ("T1556.006",)
_ZONE = ("T1562.007",)
_LOGS = ("T1562.008",)

H, M = Severity.HIGH, Severity.MEDIUM

# eventType: (severity, title, verb, mitre)
RULES: dict[str, tuple[Severity, str, str, tuple[str, ...]]] = {
    # identity providers
    "system.idp.lifecycle.create": (H, "New identity provider created", "created IdP", _IDP),
    "system.idp.lifecycle.activate": (M, "Identity provider activated", "activated IdP", _IDP),
    "system.idp.lifecycle.update": (M, "Identity provider changed", "changed IdP", _IDP),
    "system.idp.lifecycle.deactivate": (M, "Identity provider deactivated", "deactivated IdP", _IDP),
    "system.idp.lifecycle.delete": (M, "Identity provider deleted", "deleted IdP", _IDP),
    # policies and authenticators
    "system.mfa.factor.deactivate": (H, "Authenticator disabled for the whole org", "disabled authenticator", _MFA),
    "security.authenticator.lifecycle.deactivate": (  # the Identity Engine spelling (Okta Workflows docs)
        H,
        "Authenticator disabled for the whole org",
        "disabled authenticator",
        _MFA,
    ),
    "policy.lifecycle.deactivate": (M, "Policy deactivated", "deactivated policy", _POLICY),
    "policy.lifecycle.delete": (M, "Policy deleted", "deleted policy", _POLICY),
    "policy.rule.deactivate": (M, "Policy rule deactivated", "deactivated policy rule", _POLICY),
    "policy.rule.delete": (M, "Policy rule deleted", "deleted policy rule", _POLICY),
    "application.policy.sign_on.update": (M, "App sign-on policy changed", "changed sign-on policy of", _POLICY),
    "application.policy.sign_on.rule.delete": (
        M,
        "App sign-on policy rule deleted",
        "deleted a sign-on policy rule of",
        _POLICY,
    ),
    # network zones
    "zone.update": (M, "Network zone changed", "changed network zone", _ZONE),
    "zone.deactivate": (M, "Network zone deactivated", "deactivated network zone", _ZONE),
    "zone.delete": (M, "Network zone deleted", "deleted network zone", _ZONE),
    "zone.remove_blacklist": (M, "Network zone blocklist removed", "removed the blocklist of network zone", _ZONE),
    "network_zone.rule.disabled": (M, "Network zone rule disabled", "disabled network zone rule", _ZONE),
    # logging
    "system.log_stream.lifecycle.deactivate": (H, "Log stream deactivated", "deactivated log stream", _LOGS),
    "system.log_stream.lifecycle.delete": (H, "Log stream deleted", "deleted log stream", _LOGS),
}

# Application lifecycle events that matter only for an Org2Org app.
ORG2ORG_RULES: dict[str, tuple[Severity, str, str]] = {
    "application.lifecycle.create": (H, "Org2Org app created", "created Org2Org app"),
    "application.lifecycle.update": (M, "Org2Org app changed", "changed Org2Org app"),
    "application.lifecycle.activate": (M, "Org2Org app activated", "activated Org2Org app"),
}

POLICY_RULE_UPDATE = "policy.rule.update"


def _truthy(value: Any) -> bool:
    return debugdata.parse_bool(value)


def _minutes(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _factor_mode_downgrade(before: Any, after: Any) -> bool:
    return str(before).upper() == "2FA" and str(after).upper() == "1FA"


def _mfa_no_longer_required(before: Any, after: Any) -> bool:
    return _truthy(before) and after is not None and not _truthy(after)


def _session_limit_removed(before: Any, after: Any) -> bool:
    was, now = _minutes(before), _minutes(after)
    return was is not None and was > 0 and now == 0


# MFA downgrades in a policy rule's actions: (path, is-weakened(before, after), what it means)
MFA_DOWNGRADES: tuple[tuple[tuple[str, ...], Callable[[Any, Any], bool], str], ...] = (
    (("appSignOn", "verificationMethod", "factorMode"), _factor_mode_downgrade, "factor mode 2FA → 1FA"),
    (("signon", "requireFactor"), _mfa_no_longer_required, "MFA no longer required (requireFactor true → false)"),
    (
        ("signon", "session", "maxSessionLifetimeMinutes"),
        _session_limit_removed,
        "session lifetime limit removed (maxSessionLifetimeMinutes → 0)",
    ),
)


@dataclass(frozen=True, slots=True)
class TenantTamperingConfig:
    suppress_s: float = 300.0  # per changed object and event type


class TenantTampering(ConfigChangeDetection):
    id: ClassVar[str] = "tenant_tampering"
    event_types: ClassVar[frozenset[str] | None] = frozenset({*RULES, *ORG2ORG_RULES, POLICY_RULE_UPDATE})

    def __init__(self, config: TenantTamperingConfig | None = None) -> None:
        self.config = config or TenantTamperingConfig()

    def classify(self, event: Event) -> Change | None:
        et = event.event_type
        if et in RULES:
            if is_okta_support_reset(event):
                return None  # okta_support_access: one finding, framed as Okta Support's
            severity, title, verb, mitre = RULES[et]
            return self._change(event, first_target(event), severity, title, verb, mitre)
        if et in ORG2ORG_RULES:
            app = org2org_app(event)
            if app is None:
                return None
            severity, title, verb = ORG2ORG_RULES[et]
            return self._change(event, app, severity, title, verb, _IDP)
        if et == POLICY_RULE_UPDATE:
            rule, weakened = mfa_downgrade(event)
            if not weakened:
                return None
            return self._change(
                event,
                rule,
                Severity.HIGH,
                "Authentication policy rule weakened (MFA downgrade)",
                "weakened policy rule",
                _MFA,
                detail=", ".join(weakened),
            )
        return None

    def _change(
        self,
        event: Event,
        target: dict[str, Any] | None,
        severity: Severity,
        title: str,
        verb: str,
        mitre: tuple[str, ...],
        detail: str = "",
    ) -> Change:
        object_id, name = target_ref(target)
        who = event.actor_login or event.actor_id or "unknown actor"
        label = f"{who} {verb} {name or object_id or '(unnamed)'}" + (f": {detail}" if detail else "")
        return Change(
            event.event_type,
            severity,
            title,
            label,
            mitre,
            f"object:{object_id or name or event.event_type}",
            event.actor_id,
            event.actor_login,
        )


def org2org_app(event: Event) -> dict[str, Any] | None:
    """The ``AppInstance`` target that is an Org2Org app (catalog name or label), if any."""
    for target in event.targets:
        if str(target.get("type") or "").lower() != "appinstance":
            continue
        _, name = target_ref(target)
        names = f"{target.get('displayName') or target.get('displayname') or ''} {name}"
        if "org2org" in names.lower():
            return target
    return None


def mfa_downgrade(event: Event) -> tuple[dict[str, Any] | None, list[str]]:
    """The changed policy rule target and the MFA weakenings its ``changeDetails`` show (none: not a downgrade).

    ``changeDetails.{from,to}.policyRuleActionJson`` holds the rule's ``actions`` before and after, as a JSON
    string (an object is accepted too). A weakening needs the old value: a missing ``from`` proves nothing.
    """
    for target in sorted(event.targets, key=lambda t: str(t.get("type") or "").lower() != "policyrule"):
        details = _field(target, "changeDetails")
        if not isinstance(details, dict):
            continue
        before = _actions(_field(details, "from"))
        after = _actions(_field(details, "to"))
        if not before or not after:
            continue
        weakened = [what for path, weaker, what in MFA_DOWNGRADES if weaker(_at(before, path), _at(after, path))]
        if weakened:
            return target, weakened
    return None, []


def _field(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return obj.get(name.lower()) if value is None else value


def _actions(side: Any) -> dict[str, Any]:
    actions = debugdata.parse_json_map(_field(side, "policyRuleActionJson"))
    inner = actions.get("actions")
    return inner if isinstance(inner, dict) else actions


def _at(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = obj
    for key in path:
        value = _field(value, key)
        if value is None:
            return None
    return value
