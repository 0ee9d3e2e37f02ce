"""Security configuration of the simulated org: policies and their rules, ThreatInsight, identity providers.

Each policy keeps Okta's own JSON for the parts posture checks read (`settings` of a policy, `actions` and
`conditions` of a rule), so a planted misconfiguration is an edit of exactly the field Okta would show
(e.g. `actions.signon.session.maxSessionLifetimeMinutes`). The defaults are a well-configured org; scenarios
and tests plant the weaknesses (see `detector/sim/inventory.py`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from detector.sim.errors import OktaError
from detector.sim.ids import IdFactory
from detector.sim.pagination import OrderedIds
from detector.sim.timefmt import iso_ms

POLICY_TYPES = ("OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY")
RULE_TYPE = {"OKTA_SIGN_ON": "SIGN_ON", "PASSWORD": "PASSWORD", "MFA_ENROLL": "MFA_ENROLL"}
ADMIN_CONSOLE_POLICY = "Okta Admin Console"
APP_POLICY = "Any two factors"
THREAT_ACTIONS = ("none", "audit", "block")


@dataclass
class Rule:
    id: str
    name: str
    type: str  # SIGN_ON, PASSWORD, MFA_ENROLL, ACCESS_POLICY
    priority: int
    created: float
    actions: dict[str, Any]
    conditions: dict[str, Any] | None = None
    system: bool = False
    status: str = "ACTIVE"


@dataclass
class Policy:
    id: str
    type: str
    name: str
    priority: int
    created: float
    settings: dict[str, Any] | None = None
    rules: list[Rule] = field(default_factory=list)
    system: bool = False
    description: str = ""
    status: str = "ACTIVE"
    rule_order: OrderedIds = field(default_factory=OrderedIds, repr=False)

    def add_rule(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        self.rule_order.add(rule.id)
        return rule

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


@dataclass
class IdentityProvider:
    id: str
    name: str
    type: str  # GOOGLE, MICROSOFT, OIDC, SAML2, ...
    created: float
    status: str = "ACTIVE"


@dataclass
class ThreatInsight:
    action: str = "block"
    created: float = 0.0
    last_updated: float = 0.0
    exclude_zones: list[str] = field(default_factory=list)


class Security:
    """Policies (by id, in creation order), identity providers and the ThreatInsight configuration."""

    def __init__(self, ids: IdFactory, now: float) -> None:
        self._ids = ids
        self.policies: dict[str, Policy] = {}
        self.policy_order = OrderedIds()
        self.idps: dict[str, IdentityProvider] = {}
        self.idp_order = OrderedIds()
        self.threat_insight = ThreatInsight("block", now, now)
        _defaults(self, now)

    def add_policy(self, policy_type: str, name: str, now: float, settings: dict[str, Any] | None = None) -> Policy:
        prefix = {"OKTA_SIGN_ON": "00p", "PASSWORD": "00p", "MFA_ENROLL": "00p", "ACCESS_POLICY": "rst"}[policy_type]
        priority = 1 + sum(1 for p in self.policies.values() if p.type == policy_type)
        policy = Policy(self._ids.okta_id(prefix), policy_type, name, priority, now, copy.deepcopy(settings))
        self.policies[policy.id] = policy
        self.policy_order.add(policy.id)
        return policy

    def add_rule(
        self,
        policy: Policy,
        name: str,
        actions: dict[str, Any],
        now: float,
        conditions: dict[str, Any] | None = None,
        system: bool = False,
    ) -> Rule:
        rule_type = RULE_TYPE.get(policy.type, policy.type)
        rule = Rule(
            self._ids.okta_id("0pr"), name, rule_type, len(policy.rules) + 1, now, copy.deepcopy(actions),
            copy.deepcopy(conditions), system,
        )  # fmt: skip
        return policy.add_rule(rule)

    def get(self, policy_id: str) -> Policy:
        policy = self.policies.get(policy_id)
        if policy is None:
            raise OktaError("E0000007", f"Not found: Resource not found: {policy_id} (Policy)")
        return policy

    def default(self, policy_type: str) -> Policy:
        """The system (default) policy of a type (OKTA_SIGN_ON, PASSWORD, MFA_ENROLL)."""
        return next(p for p in self.policies.values() if p.type == policy_type and p.system)

    def admin_console_policy(self) -> Policy:
        return self._access_policy(ADMIN_CONSOLE_POLICY)

    def app_policy(self) -> Policy:
        """The authentication policy new apps get."""
        return self._access_policy(APP_POLICY)

    def _access_policy(self, name: str) -> Policy:
        return next(p for p in self.policies.values() if p.type == "ACCESS_POLICY" and p.name == name)

    def add_idp(self, name: str, idp_type: str, now: float, status: str = "ACTIVE") -> IdentityProvider:
        idp = IdentityProvider(self._ids.okta_id("0oa"), name, idp_type, now, status)
        self.idps[idp.id] = idp
        self.idp_order.add(idp.id)
        return idp


def _everyone(group_id: str | None = None) -> dict[str, Any]:
    return {"people": {"groups": {"include": [group_id] if group_id else []}}}


PHISHING_RESISTANT = {"possession": {"phishingResistant": "REQUIRED", "deviceBound": "REQUIRED"}}


def _defaults(sec: Security, now: float) -> None:
    """The policies a new org has, set as a careful admin would (12 h sessions, 12-character passwords,
    Okta Verify enrolment required, phishing-resistant Admin Console sign-in, ThreatInsight blocking)."""
    sign_on = sec.add_policy("OKTA_SIGN_ON", "Default Policy", now)
    sign_on.system = True
    sign_on.description = "The default policy applies in all situations if no other policy applies."
    sec.add_rule(sign_on, "Default Rule", {
        "signon": {
            "access": "ALLOW", "requireFactor": False, "primaryFactor": "PASSWORD_IDP_ANY_FACTOR",
            "rememberDeviceByDefault": False, "factorPromptMode": "ALWAYS",
            "session": {"usePersistentCookie": False, "maxSessionIdleMinutes": 120, "maxSessionLifetimeMinutes": 720},
        }
    }, now, {"network": {"connection": "ANYWHERE"}, "authContext": {"authType": "ANY"}}, system=True)  # fmt: skip
    password = sec.add_policy("PASSWORD", "Default Policy", now, {
        "password": {
            "complexity": {
                "minLength": 12, "minLowerCase": 1, "minUpperCase": 1, "minNumber": 1, "minSymbol": 0,
                "excludeUsername": True, "excludeAttributes": [], "dictionary": {"common": {"exclude": True}},
            },
            "age": {"maxAgeDays": 0, "expireWarnDays": 0, "minAgeMinutes": 0, "historyCount": 4},
            "lockout": {"maxAttempts": 10, "autoUnlockMinutes": 0, "showLockoutFailures": False,
                        "userLockoutNotificationChannels": []},
        },
        "recovery": {"factors": {"okta_email": {"status": "ACTIVE"}, "okta_sms": {"status": "INACTIVE"},
                                 "okta_call": {"status": "INACTIVE"}, "recovery_question": {"status": "INACTIVE"}}},
        "delegation": {"options": {"skipUnlock": False}},
    })  # fmt: skip
    password.system = True
    sec.add_rule(password, "Default Rule", {
        "passwordChange": {"access": "ALLOW"},
        "selfServicePasswordReset": {"access": "ALLOW"},
        "selfServiceUnlock": {"access": "DENY"},
    }, now, {"network": {"connection": "ANYWHERE"}}, system=True)  # fmt: skip
    enroll = sec.add_policy("MFA_ENROLL", "Default Policy", now, {
        "type": "AUTHENTICATORS",
        "authenticators": [
            {"key": "okta_verify", "enroll": {"self": "REQUIRED"}},
            {"key": "webauthn", "enroll": {"self": "OPTIONAL"}},
            {"key": "okta_email", "enroll": {"self": "REQUIRED"}},
            {"key": "okta_password", "enroll": {"self": "REQUIRED"}},
            {"key": "phone_number", "enroll": {"self": "NOT_ALLOWED"}},
        ],
    })  # fmt: skip
    enroll.system = True
    sec.add_rule(enroll, "Default Rule", {"enroll": {"self": "CHALLENGE"}}, now,
                 {"network": {"connection": "ANYWHERE"}}, system=True)  # fmt: skip
    console = sec.add_policy("ACCESS_POLICY", ADMIN_CONSOLE_POLICY, now)
    console.description = "Okta Admin Console authentication policy"
    sec.add_rule(console, "Admin Console: phishing-resistant MFA", _assurance("2FA", [PHISHING_RESISTANT]), now)
    sec.add_rule(console, "Catch-all Rule", _assurance("2FA", []), now, system=True)
    apps = sec.add_policy("ACCESS_POLICY", APP_POLICY, now)
    apps.description = "Require two factors for app sign-in"
    sec.add_rule(apps, "Catch-all Rule", _assurance("2FA", []), now, system=True)


def _assurance(factor_mode: str, constraints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "appSignOn": {
            "access": "ALLOW",
            "verificationMethod": {
                "type": "ASSURANCE",
                "factorMode": factor_mode,
                "reauthenticateIn": "PT2H",
                "constraints": copy.deepcopy(constraints),
            },
        }
    }


# -- rendering ---------------------------------------------------------------------------------


def policy_json(policy: Policy, base: str) -> dict[str, Any]:
    href = f"{base}/api/v1/policies/{policy.id}"
    body: dict[str, Any] = {
        "id": policy.id,
        "type": policy.type,
        "name": policy.name,
        "description": policy.description,
        "status": policy.status,
        "priority": policy.priority,
        "system": policy.system,
        "created": iso_ms(policy.created),
        "lastUpdated": iso_ms(policy.created),
        "conditions": None if policy.type == "ACCESS_POLICY" else _everyone(),
        "_links": {"self": {"href": href}, "rules": {"href": f"{href}/rules"}},
    }
    if policy.settings is not None:
        body["settings"] = copy.deepcopy(policy.settings)
    return body


def rule_json(policy: Policy, rule: Rule, base: str) -> dict[str, Any]:
    href = f"{base}/api/v1/policies/{policy.id}/rules/{rule.id}"
    body: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "type": rule.type,
        "status": rule.status,
        "priority": rule.priority,
        "system": rule.system,
        "created": iso_ms(rule.created),
        "lastUpdated": iso_ms(rule.created),
        "actions": copy.deepcopy(rule.actions),
        "_links": {"self": {"href": href}},
    }
    if rule.conditions is not None:
        body["conditions"] = copy.deepcopy(rule.conditions)
    return body


def threat_insight_json(config: ThreatInsight, base: str) -> dict[str, Any]:
    return {
        "action": config.action,
        "excludeZones": list(config.exclude_zones),
        "created": iso_ms(config.created),
        "lastUpdated": iso_ms(config.last_updated),
        "_links": {"self": {"href": f"{base}/api/v1/threats/configuration", "hints": {"allow": ["GET", "POST"]}}},
    }


_PROTOCOL = {"SAML2": "SAML2", "GOOGLE": "OIDC", "MICROSOFT": "OIDC", "OIDC": "OIDC"}


def idp_json(idp: IdentityProvider, base: str) -> dict[str, Any]:
    href = f"{base}/api/v1/idps/{idp.id}"
    protocol = _PROTOCOL.get(idp.type, "OIDC")
    return {
        "id": idp.id,
        "type": idp.type,
        "name": idp.name,
        "status": idp.status,
        "issuerMode": "DYNAMIC",
        "created": iso_ms(idp.created),
        "lastUpdated": iso_ms(idp.created),
        "properties": None,
        "protocol": {"type": protocol} | ({"scopes": ["openid", "email", "profile"]} if protocol == "OIDC" else {}),
        "policy": {
            "provisioning": {"action": "AUTO", "profileMaster": False, "groups": {"action": "NONE"}},
            "accountLink": {"action": "AUTO", "filter": None},
            "subject": {"userNameTemplate": {"template": "idpuser.email"}, "matchType": "USERNAME"},
            "maxClockSkew": 120000,
        },
        "_links": {"self": {"href": href}, "users": {"href": f"{href}/users"}},
    }
