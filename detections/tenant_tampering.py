"""Tenant tampering: identity providers, authentication policies and log streams.

Why: a new IdP lets an attacker sign in as anyone (the 2023 cross-tenant
impersonation campaign), deactivating/deleting sign-on or MFA policies removes
MFA for target apps (Scattered Spider), and killing a log stream blinds this
daemon when it is fed by log streaming (DETECTIONS.md D42, D43, D45, §6.1 #17).

Triggers (single events, fixed severity, never auto-enforced):
``system.idp.lifecycle.create`` (high), ``system.idp.lifecycle.activate`` (medium),
``policy.lifecycle.deactivate|delete`` and ``policy.rule.deactivate|delete``
(medium), ``system.log_stream.lifecycle.deactivate|delete`` (high).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detections.config_change import Change, ConfigChangeDetection, first_target, target_ref
from detections.event import Event
from detections.finding import Severity

_IDP = ("T1484.002",)
_POLICY = ("T1556.009", "T1562")
_LOGS = ("T1562.008",)

# eventType: (severity, title, verb, mitre)
RULES: dict[str, tuple[Severity, str, str, tuple[str, ...]]] = {
    "system.idp.lifecycle.create": (Severity.HIGH, "New identity provider created", "created IdP", _IDP),
    "system.idp.lifecycle.activate": (Severity.MEDIUM, "Identity provider activated", "activated IdP", _IDP),
    "policy.lifecycle.deactivate": (Severity.MEDIUM, "Policy deactivated", "deactivated policy", _POLICY),
    "policy.lifecycle.delete": (Severity.MEDIUM, "Policy deleted", "deleted policy", _POLICY),
    "policy.rule.deactivate": (Severity.MEDIUM, "Policy rule deactivated", "deactivated policy rule", _POLICY),
    "policy.rule.delete": (Severity.MEDIUM, "Policy rule deleted", "deleted policy rule", _POLICY),
    "system.log_stream.lifecycle.deactivate": (
        Severity.HIGH,
        "Log stream deactivated",
        "deactivated log stream",
        _LOGS,
    ),
    "system.log_stream.lifecycle.delete": (Severity.HIGH, "Log stream deleted", "deleted log stream", _LOGS),
}


@dataclass(frozen=True, slots=True)
class TenantTamperingConfig:
    suppress_s: float = 300.0  # per changed object and event type


class TenantTampering(ConfigChangeDetection):
    id: ClassVar[str] = "tenant_tampering"

    def __init__(self, config: TenantTamperingConfig | None = None) -> None:
        self.config = config or TenantTamperingConfig()

    def classify(self, event: Event) -> Change | None:
        rule = RULES.get(event.event_type)
        if rule is None:
            return None
        severity, title, verb, mitre = rule
        object_id, name = target_ref(first_target(event))
        who = event.actor_login or event.actor_id or "unknown actor"
        return Change(
            event.event_type,
            severity,
            title,
            f"{who} {verb} {name or object_id or '(unnamed)'}",
            mitre,
            f"object:{object_id or event.event_type}",
            event.actor_id,
            event.actor_login,
        )
