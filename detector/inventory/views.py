"""Derived views of one inventory that posture checks and change findings share: who is an admin (directly or
through a group), which factors each user has, which users can still sign in.

Why a view: a check asks "which admins have no MFA factor" over 50k users; each lookup here is built in one pass
over its kind (roles, factors), once per inventory, or read from the inventory's own indexes (a group's
members), never a scan per user.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from detector.inventory.model import (
    ROLE_ASSIGNEE_GROUP,
    ROLE_ASSIGNEE_USER,
    Group,
    Inventory,
    RoleAssignment,
    User,
)

# Users who cannot sign in: their roles and factors put no one at risk until they are reactivated.
INACTIVE_STATUSES = frozenset({"DEPROVISIONED", "SUSPENDED"})
# Factor types that are no second factor: something the user knows, like the password.
NOT_MFA = frozenset({"password", "question"})
SUPER_ADMIN = "SUPER_ADMIN"


@dataclass(frozen=True, slots=True)
class HeldRole:
    """An admin role a user holds, and the group it comes through (None: assigned to the user directly)."""

    role: RoleAssignment
    via: Group | None

    def describe(self) -> str:
        name = self.role.label or self.role.role_type
        if self.via is None:
            return name
        return f"{name} via group {self.via.name or self.via.id}"


class Views:
    """Lookups over one inventory, each computed on first use."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @cached_property
    def users(self) -> dict[str, User]:
        return self.inventory.users()

    @cached_property
    def admin_roles(self) -> dict[str, list[HeldRole]]:
        """User id -> the ACTIVE admin roles the user holds, direct ones first, then by role id."""
        groups: dict[str, Group] = self.inventory.of("group")
        out: dict[str, list[HeldRole]] = {}
        roles = sorted(self.inventory.of("role").values(), key=lambda r: (r.assignee_type != ROLE_ASSIGNEE_USER, r.id))
        for role in roles:
            if role.status != "ACTIVE":
                continue
            if role.assignee_type == ROLE_ASSIGNEE_USER:
                out.setdefault(role.assignee_id, []).append(HeldRole(role, None))
            elif role.assignee_type == ROLE_ASSIGNEE_GROUP:
                group = groups.get(role.assignee_id) or Group(role.assignee_id, "", "")
                for user_id in sorted(self.inventory.members_of(role.assignee_id)):
                    out.setdefault(user_id, []).append(HeldRole(role, group))
        return out

    def can_sign_in(self, user_id: str) -> bool:
        """The user exists in the inventory and is not suspended or deprovisioned."""
        user = self.users.get(user_id)
        return user is not None and user.status not in INACTIVE_STATUSES

    @cached_property
    def with_mfa(self) -> frozenset[str]:
        """The ids of the users with an ACTIVE factor beyond what they know (one pass over the factors)."""
        return frozenset(
            f.user_id
            for f in self.inventory.of("factor").values()
            if f.status == "ACTIVE" and f.factor_type.lower() not in NOT_MFA
        )

    def has_mfa(self, user_id: str) -> bool:
        return user_id in self.with_mfa

    def live_admins(self) -> list[tuple[User, list[HeldRole]]]:
        """The admins who can sign in, with their roles, by login."""
        found = [(self.users[uid], held) for uid, held in self.admin_roles.items() if self.can_sign_in(uid)]
        return sorted(found, key=lambda pair: (pair[0].login, pair[0].id))

    def login(self, user_id: str) -> str:
        """The user's login, or the id when the inventory does not know the user."""
        user = self.users.get(user_id)
        return user.login if user is not None and user.login else user_id

    def admin_keys(self) -> set[tuple[str, str]]:
        """(user id, role type) of every ACTIVE admin role held: what "made admin" compares between syncs."""
        return {(uid, h.role.role_type) for uid, held in self.admin_roles.items() for h in held}
