"""Okta Support access and impersonation.

Why: Okta Support can be granted access to the tenant and can then impersonate
users; the 2023 Okta support-system breach shows this channel is an attack path,
and every use should match an open support case (Panther Okta.Support.Access,
Elastic "Okta User Session Impersonation").

Triggers: ``user.session.impersonation.grant`` / ``.extend`` (an admin granted or
extended Okta Support access, medium), ``user.session.impersonation.initiate``
(Okta Support started impersonating, high), and resets done by Okta Support (high,
Panther Okta.Support.Reset): ``user.account.reset_password``, ``user.mfa.factor.update``,
``system.mfa.factor.deactivate`` or ``user.mfa.attempt_bypass`` by ``system@okta.com``
with ``transaction.id`` "unknown", no client user agent and no client geo (a tenant
admin's reset carries their browser and location). Never auto-enforced: a human must
match it against a support case.

Resets live here rather than in a sibling module: same actor (Okta Support), same question for the
analyst (is there a support case?) and the same never-enforce policy. They are scoped
per reset user, not per actor: every reset by the one system actor must alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detections.common import OKTA_SUPPORT_RESETS, is_okta_support_reset
from detections.config_change import Change, ConfigChangeDetection, target_ref
from detections.event import Event
from detections.finding import Severity

MITRE = ("T1199", "T1078.004")
RESET_MITRE = ("T1199", "T1098")

RULES = {
    "user.session.impersonation.grant": (Severity.MEDIUM, "Okta Support access granted", "granted Okta Support access"),
    "user.session.impersonation.extend": (
        Severity.MEDIUM,
        "Okta Support access extended",
        "extended Okta Support access",
    ),
    "user.session.impersonation.initiate": (
        Severity.HIGH,
        "Okta Support impersonation started",
        "started an impersonation session",
    ),
}

# Resets by Okta Support (common.OKTA_SUPPORT_RESETS): eventType → (title, verb)
RESETS = {
    "user.account.reset_password": ("Okta Support reset a password", "reset the password"),
    "user.mfa.factor.update": ("Okta Support changed an MFA factor", "changed an MFA factor"),
    "system.mfa.factor.deactivate": ("Okta Support disabled an authenticator", "disabled an authenticator"),
    "user.mfa.attempt_bypass": ("Okta Support bypassed MFA", "bypassed MFA"),
}


@dataclass(frozen=True, slots=True)
class OktaSupportAccessConfig:
    suppress_s: float = 900.0  # per actor (per reset user) and event type; Panther dedups these at 15 min


class OktaSupportAccess(ConfigChangeDetection):
    id: ClassVar[str] = "okta_support_access"
    event_types: ClassVar[frozenset[str] | None] = frozenset({*OKTA_SUPPORT_RESETS, *RULES})

    def __init__(self, config: OktaSupportAccessConfig | None = None) -> None:
        self.config = config or OktaSupportAccessConfig()

    def classify(self, event: Event) -> Change | None:
        if is_okta_support_reset(event):
            return self._reset(event)
        rule = RULES.get(event.event_type)
        if rule is None:
            return None
        severity, title, verb = rule
        who = event.actor_login or event.actor_id or "unknown actor"
        user_id, login = target_ref(event.target("User"))
        principal, principal_login = (user_id, login) if user_id else (event.actor_id, event.actor_login)
        label = f"{who} {verb}" + (f" as {login or user_id}" if user_id else "")
        return Change(
            event.event_type,
            severity,
            title,
            label,
            MITRE,
            f"actor:{event.actor_id or event.ip}",
            principal,
            principal_login,
        )

    def _reset(self, event: Event) -> Change:
        title, verb = RESETS[event.event_type]
        user_id, login = target_ref(event.target("User"))
        if user_id or login:
            label = f"Okta Support ({event.actor_login}) {verb} for {login or user_id}"
            scope, principal, principal_login = f"user:{user_id or login}", user_id, login
        else:  # an org-wide change: the authenticator is the object
            object_id, name = target_ref(event.targets[0] if event.targets else None)
            label = f"Okta Support ({event.actor_login}) {verb} {name or object_id}".rstrip()
            scope = f"object:{object_id or event.event_type}"
            principal, principal_login = event.actor_id, event.actor_login
        return Change(
            f"reset:{event.event_type}",
            Severity.HIGH,
            title,
            label + " (no user agent, no geo, transaction id unknown)",
            RESET_MITRE,
            scope,
            principal,
            principal_login,
        )
