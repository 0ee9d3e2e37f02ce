"""Okta Support access and impersonation.

Why: Okta Support can be granted access to the tenant and can then impersonate
users; the 2023 Okta support-system breach shows this channel is an attack path,
and every use should match an open support case (DETECTIONS.md D38, §5 #7,
§6.1 #18).

Triggers: ``user.session.impersonation.grant`` / ``.extend`` (an admin granted or
extended Okta Support access, medium), ``user.session.impersonation.initiate``
(Okta Support started impersonating, high). Never auto-enforced: a human must
match it against a support case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detections.config_change import Change, ConfigChangeDetection, target_ref
from detections.event import Event
from detections.finding import Severity

MITRE = ("T1199", "T1078.004")

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


@dataclass(frozen=True, slots=True)
class OktaSupportAccessConfig:
    suppress_s: float = 900.0  # per actor and event type (Panther dedups support access at 15 min)


class OktaSupportAccess(ConfigChangeDetection):
    id: ClassVar[str] = "okta_support_access"

    def __init__(self, config: OktaSupportAccessConfig | None = None) -> None:
        self.config = config or OktaSupportAccessConfig()

    def classify(self, event: Event) -> Change | None:
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
