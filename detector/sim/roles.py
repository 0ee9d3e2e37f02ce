"""Admin roles: what each standard role may do in the simulator, and role assignments as the Roles API shows them.

Okta authorises an API token's call by the admin roles of the token's owner, so a token owned by a
help desk admin cannot suspend anyone (403 E0000006). Permission names are Okta's IAM permission names
(its custom-role permissions catalog); `okta.logs.read` stands for "View System Log", which Okta grants
to standard roles without a named permission. Each role holds what Okta's help pages say it may do
("Standard administrator roles and permissions" and the page of each role), restricted to the calls the
simulator serves; where those pages are silent (which roles view the System Log) it is an approximation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from detector.sim.timefmt import iso_ms

LOGS_READ = "okta.logs.read"
USERS_READ = "okta.users.read"
CLEAR_SESSIONS = "okta.users.lifecycle.clearSessions"
EXPIRE_PASSWORD = "okta.users.credentials.expirePassword"
RESET_FACTORS = "okta.users.credentials.resetFactors"
SUSPEND = "okta.users.lifecycle.suspend"
UNSUSPEND = "okta.users.lifecycle.unsuspend"
ACTIVATE = "okta.users.lifecycle.activate"
DEACTIVATE = "okta.users.lifecycle.deactivate"
UNLOCK = "okta.users.lifecycle.unlock"
ROLES_READ = "okta.roles.read"  # another user's role assignments: "Add, remove, and view administrators"
GROUPS_READ = "okta.groups.read"
GROUP_MEMBERSHIP = "okta.groups.members.manage"
APPS_READ = "okta.apps.read"
API_TOKENS_READ = "okta.apiTokens.read"
IDPS_READ = "okta.idps.read"
POLICIES_READ = "okta.policies.read"
THREAT_INSIGHTS_READ = "okta.threatInsights.read"

LIFECYCLE_PERMISSIONS = {
    "suspend": SUSPEND,
    "unsuspend": UNSUSPEND,
    "activate": ACTIVATE,
    "deactivate": DEACTIVATE,
    "unlock": UNLOCK,
    "expire_password": EXPIRE_PASSWORD,
    "reset_factors": RESET_FACTORS,
}
_USER_ADMIN = frozenset(
    {USERS_READ, LOGS_READ, CLEAR_SESSIONS, GROUPS_READ, GROUP_MEMBERSHIP, *LIFECYCLE_PERMISSIONS.values()}
)
# An org admin also manages apps, identity providers and the org's security settings ("all but viewing
# administrators and API tokens" in the simulator); a read-only admin views everything but administrators
# and API tokens.
_ORG_ADMIN = _USER_ADMIN | {APPS_READ, IDPS_READ, POLICIES_READ, THREAT_INSIGHTS_READ}
_READ_ONLY = frozenset({USERS_READ, LOGS_READ, GROUPS_READ, APPS_READ, IDPS_READ, POLICIES_READ, THREAT_INSIGHTS_READ})

# role type -> (Okta's label, permissions held; None = every permission)
STANDARD_ROLES: dict[str, tuple[str, frozenset[str] | None]] = {
    "SUPER_ADMIN": ("Super Administrator", None),
    "ORG_ADMIN": ("Organizational Administrator", _ORG_ADMIN),
    "USER_ADMIN": ("Group Administrator", _USER_ADMIN),  # Okta: "Group Administrator", for its groups
    "HELP_DESK_ADMIN": (
        "Help Desk Administrator",
        frozenset({USERS_READ, LOGS_READ, CLEAR_SESSIONS, EXPIRE_PASSWORD, RESET_FACTORS, UNLOCK}),
    ),
    "GROUP_MEMBERSHIP_ADMIN": (
        "Group Membership Administrator",
        frozenset({USERS_READ, GROUPS_READ, GROUP_MEMBERSHIP}),
    ),
    "READ_ONLY_ADMIN": ("Read Only Administrator", _READ_ONLY),
    "REPORT_ADMIN": ("Report Administrator", frozenset({LOGS_READ})),
    "APP_ADMIN": ("Application Administrator", frozenset({USERS_READ, LOGS_READ, APPS_READ})),
    "MOBILE_ADMIN": ("Mobile Administrator", frozenset({USERS_READ, LOGS_READ})),
    "API_ACCESS_MANAGEMENT_ADMIN": ("API Access Management Administrator", frozenset({USERS_READ})),
}


def permissions_of(roles: tuple[str, ...]) -> frozenset[str] | None:
    """Everything the roles together permit; None when one of them permits everything."""
    held: set[str] = set()
    for role in roles:
        granted = STANDARD_ROLES[role][1]
        if granted is None:
            return None
        held |= granted
    return frozenset(held)


def role_label(role: str) -> str:
    return STANDARD_ROLES[role][0]


@dataclass(frozen=True)
class RoleAssignment:
    """One standard role assigned directly to a user, or (`assignment_type` GROUP) to a group."""

    user_id: str  # the assignee: a user id, or a group id for a GROUP assignment
    type: str
    created: float
    assignment_type: str = "USER"

    @property
    def id(self) -> str:
        """Stable without drawing on the org's seeded ids, so adding roles shifts no other id."""
        prefix = "" if self.assignment_type == "USER" else "group:"
        digest = hashlib.sha256(f"{prefix}{self.user_id}:{self.type}".encode()).hexdigest()
        return "ra1" + digest[:17]

    def json(self, base_url: str) -> dict[str, Any]:
        """The `StandardRole` object of `GET /api/v1/users/{id}/roles` and `/api/v1/groups/{id}/roles`."""
        collection = "users" if self.assignment_type == "USER" else "groups"
        return {
            "id": self.id,
            "label": role_label(self.type),
            "type": self.type,
            "status": "ACTIVE",
            "created": iso_ms(self.created),
            "lastUpdated": iso_ms(self.created),
            "assignmentType": self.assignment_type,
            "_links": {"assignee": {"href": f"{base_url}/api/v1/{collection}/{self.user_id}"}},
        }
