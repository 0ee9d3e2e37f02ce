"""Admin privilege granted (or a super-admin revoked).

Why: an attacker who controls an account makes it (or a group it is in) an
administrator to persist and to lock responders out; the 2023 cross-tenant
impersonation campaign did exactly this (DETECTIONS.md D40, §5 #1, §6.1 #15).

Triggers: ``user.account.privilege.grant`` (severity by the roles in
``debugData.privilegeGranted``: Super/Organization administrator → high, any
other role → medium, self-granted → high), ``group.privilege.grant`` (high: every
member gets the role; critical for super admin), ``iam.resourceset.bindings.add``
(custom role binding, medium) and ``user.account.privilege.revoke`` of a
Super/Organization administrator (medium: responder lock-out, Okta's catalog).
Never auto-enforced (legitimate admin work is common; a human decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detections.config_change import Change, ConfigChangeDetection, first_target, target_ref
from detections.event import Event
from detections.finding import Severity

MITRE = ("T1098.003",)


@dataclass(frozen=True, slots=True)
class AdminPrivilegeGrantedConfig:
    high_roles: tuple[str, ...] = (
        "super admin",
        "super administrator",
        "organization administrator",
        "org admin",
        "org administrator",
    )
    suppress_s: float = 300.0  # per target and role set


class AdminPrivilegeGranted(ConfigChangeDetection):
    id: ClassVar[str] = "admin_privilege_granted"

    def __init__(self, config: AdminPrivilegeGrantedConfig | None = None) -> None:
        self.config = config or AdminPrivilegeGrantedConfig()

    def _high(self, roles: str) -> bool:
        low = roles.lower()
        return any(role in low for role in self.config.high_roles)

    def classify(self, event: Event) -> Change | None:
        et = event.event_type
        if et == "user.account.privilege.grant":
            roles = str(event.debug.get("privilegegranted") or "an admin role")
            user_id, login = target_ref(event.target("User") or first_target(event))
            self_grant = bool(user_id) and user_id == event.actor_id
            severity = Severity.HIGH if self._high(roles) or self_grant else Severity.MEDIUM
            label = f"{roles} granted to {login or user_id}" + (" (self-granted)" if self_grant else "")
            return Change(
                f"grant:{roles}",
                severity,
                "Admin role granted to a user",
                label,
                MITRE,
                f"user:{user_id}",
                user_id,
                login,
            )
        if et == "group.privilege.grant":
            roles = str(event.debug.get("privilegegranted") or "an admin role")
            group_id, name = target_ref(event.target("UserGroup") or first_target(event))
            severity = Severity.CRITICAL if self._high(roles) else Severity.HIGH
            return Change(
                f"grant:{roles}",
                severity,
                "Admin role granted to a group",
                f"{roles} granted to group {name or group_id}",
                MITRE,
                f"group:{group_id}",
                "",
                "",
            )
        if et == "iam.resourceset.bindings.add":
            ref_id, name = target_ref(first_target(event))
            return Change(
                "binding",
                Severity.MEDIUM,
                "Custom admin role binding added",
                f"custom role binding added on {name or ref_id}",
                MITRE,
                f"binding:{ref_id}",
                "",
                "",
            )
        if et == "user.account.privilege.revoke":
            roles = str(event.debug.get("privilegerevoked") or "")
            if not self._high(roles):
                return None
            user_id, login = target_ref(event.target("User") or first_target(event))
            return Change(
                f"revoke:{roles}",
                Severity.MEDIUM,
                "Super/Org admin role revoked",
                f"{roles} revoked from {login or user_id}",
                ("T1531",),
                f"user:{user_id}",
                user_id,
                login,
            )
        return None
