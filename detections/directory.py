"""What a detection may know about a user from the tenant's directory inventory, as explicit input (no I/O).

Why: the System Log alone cannot tell that the target of a push bombing is a super administrator, that a
user's only factors are push and SMS, or that a user signing in was deprovisioned. The daemon syncs the
directory (detector/inventory/) and hands the engine a :class:`DirectoryFacts`; detections that declare
``reads_directory`` are called with it (``detect(..., directory=...)``). ``user()`` returning None means
"not known" (the inventory has not synced, or the user is newer than the sync): nothing changes then, so
a tenant without a synced inventory is judged exactly as before.

The facts are what admins and users of the tenant typed (role labels, group names): labels built here are
cut to a bounded length, and every output escapes them as it escapes event fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from detections.confidence import Assessment, Evidence, EvidenceClass, with_context
from detections.finding import Severity

MAX_LABEL = 96  # a role label or group name in an evidence item, as baseline facets are cut

# Okta's factorType values that an MFA fatigue attack can wear down: a prompt the user can give in to, or a
# code that can be phished, with nothing phishing-resistant (webauthn, FastPass, TOTP) to fall back on.
WEAK_FACTORS = frozenset({"push", "sms", "call"})
# The roles that hold the whole org: the evidence names them first and they weigh most.
TOP_ROLES = ("SUPER_ADMIN", "ORG_ADMIN")
TOP_ROLE_POINTS = 25
ROLE_POINTS = 15
WEAK_FACTOR_POINTS = 10


@dataclass(frozen=True, slots=True)
class AdminRole:
    """An admin role the user holds: directly (``via_group`` empty) or as a member of a group."""

    role_type: str  # SUPER_ADMIN, ORG_ADMIN, ..., CUSTOM
    label: str  # Okta's label: "Super Administrator"
    via_group: str = ""  # the group's name (or id) when held through a group

    def describe(self) -> str:
        name = (self.label or self.role_type)[:MAX_LABEL]
        return f"{name} (via group {self.via_group[:MAX_LABEL]})" if self.via_group else name


@dataclass(frozen=True, slots=True)
class UserFacts:
    """One user as the inventory last saw them. Times are epoch seconds or None (not known)."""

    status: str  # ACTIVE, SUSPENDED, DEPROVISIONED, ...
    created: float | None = None
    last_login: float | None = None  # Okta's lastLogin: the last sign-in before the sync
    admin_roles: tuple[AdminRole, ...] = ()
    factor_types: frozenset[str] = frozenset()  # Okta factorType of each active enrolled factor
    group_ids: frozenset[str] = frozenset()
    status_changed: float | None = None  # when ``status`` was entered (Okta's statusChanged)

    @property
    def is_admin(self) -> bool:
        return bool(self.admin_roles)

    def top_role(self) -> AdminRole | None:
        """The role that says most about the user's reach: super admin, then org admin, then any."""
        rank = {role: i for i, role in enumerate(TOP_ROLES)}
        return min(self.admin_roles, key=lambda r: rank.get(r.role_type, len(rank)), default=None)

    @property
    def only_weak_factors(self) -> bool:
        """Enrolled, and every factor is push or a phone code: nothing resists a fatigue attack."""
        return bool(self.factor_types) and self.factor_types <= WEAK_FACTORS


class DirectoryFacts(Protocol):
    def user(self, user_id: str) -> UserFacts | None:
        """The user's facts, or None when the inventory does not know them (not synced, or newer)."""


class NoDirectory:
    """No inventory: every user is unknown, so every detection judges as it did without one."""

    def user(self, user_id: str) -> UserFacts | None:
        return None


NO_DIRECTORY: DirectoryFacts = NoDirectory()


class MappingDirectory:
    """Facts given outright (tests, the labelled corpus): user id -> facts, read as the mapping is at each lookup."""

    def __init__(self, users: Mapping[str, UserFacts]) -> None:
        self._users = users

    def user(self, user_id: str) -> UserFacts | None:
        return self._users.get(user_id)


@dataclass(frozen=True, slots=True)
class TargetContext:
    """What the directory adds to a finding about an attack on one user: evidence items and its severity."""

    evidence: tuple[Evidence, ...] = ()
    admin: bool = False

    def apply(self, assessment: Assessment, severity: Severity) -> tuple[Assessment, Severity]:
        """A finding's assessment and severity once the attack's own evidence has met its thresholds."""
        return with_context(assessment, self.evidence), self.severity(severity)

    def severity(self, severity: Severity) -> Severity:
        """One step up for an admin target (medium pages as high; high becomes critical)."""
        if not self.admin:
            return severity
        order = list(Severity)
        return order[min(order.index(severity) + 1, len(order) - 1)]


NO_CONTEXT = TargetContext()


def target_context(directory: DirectoryFacts, user_id: str, *, weak_factors: bool = False) -> TargetContext:
    """The directory's evidence about the target of an identity attack: the admin role they hold (an attacker
    who wins gets the org) and, where the attack wears down MFA (``weak_factors``), that every factor they have
    can be worn down. Context items (class ``context``) raise the score and may lift a finding to high, never to
    high-confidence: they say what is at stake, not that the attack happened (detections.confidence). They cite
    no event: the inventory is their source."""
    facts = directory.user(user_id) if user_id else None
    if facts is None:
        return NO_CONTEXT
    evidence: list[Evidence] = []
    top = facts.top_role()
    if top is not None:
        more = len(facts.admin_roles) - 1
        label = f"target holds {top.describe()}" + (f" and {more} more admin role(s)" if more else "")
        points = TOP_ROLE_POINTS if top.role_type in TOP_ROLES else ROLE_POINTS
        evidence.append(Evidence(EvidenceClass.CONTEXT, label, points))
    if weak_factors and facts.only_weak_factors:
        factors = ", ".join(sorted(facts.factor_types))
        label = f"target's only enrolled factors are {factors}: none resists push fatigue"
        evidence.append(Evidence(EvidenceClass.CONTEXT, label, WEAK_FACTOR_POINTS))
    return TargetContext(tuple(evidence), top is not None)
