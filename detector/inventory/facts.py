"""A tenant's :class:`Inventory` as the facts the engine and the action worker read, indexed once per load.

Why indexes: ``Inventory.roles_of_user`` scans every membership and role, fine for a posture run, not for
a lookup on every sign-in of a 50,000-user org. :meth:`InventoryFacts.load` builds per-user indexes
(memberships, direct roles, factors) and per-group roles in one pass, so a lookup costs the user's own
groups and roles, not the org. The detections see it through ``detections.directory.DirectoryFacts``
(``user``); the response side also asks for the user's groups and whether the inventory is fresh enough to
stand in for an Okta call (``fresh``: synced, and no older than the sync interval).

One object per tenant, kept for the process: ``load`` swaps its indexes in place (one assignment), so the
engine and the worker that hold it see the new sync at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from detections.directory import AdminRole, UserFacts
from detector.inventory.model import ROLE_ASSIGNEE_GROUP, ROLE_ASSIGNEE_USER, Inventory

DEFAULT_MAX_AGE_S = 6 * 3600.0  # the sync interval: an inventory older than one missed sync is not trusted
CACHE_MAX = 8192  # UserFacts built, per load (a burst of sign-ins asks for the same users)


@dataclass(frozen=True, slots=True)
class _Index:
    inventory: Inventory
    groups_of: dict[str, tuple[str, ...]]  # user id -> group ids
    user_roles: dict[str, tuple[AdminRole, ...]]  # user id -> roles assigned to the user
    group_roles: dict[str, tuple[AdminRole, ...]]  # group id -> roles assigned to the group (via_group set)
    factors_of: dict[str, frozenset[str]]  # user id -> factor types of active factors
    cache: dict[str, UserFacts | None] = field(default_factory=dict)


def _index(inventory: Inventory) -> _Index:
    groups: dict[str, list[str]] = {}
    for m in inventory.of("membership").values():
        groups.setdefault(m.user_id, []).append(m.group_id)
    names = {gid: g.name or gid for gid, g in inventory.of("group").items()}
    user_roles: dict[str, list[AdminRole]] = {}
    group_roles: dict[str, list[AdminRole]] = {}
    for r in inventory.of("role").values():
        if r.status != "ACTIVE":
            continue
        if r.assignee_type == ROLE_ASSIGNEE_USER:
            user_roles.setdefault(r.assignee_id, []).append(AdminRole(r.role_type, r.label))
        elif r.assignee_type == ROLE_ASSIGNEE_GROUP:
            role = AdminRole(r.role_type, r.label, names.get(r.assignee_id, r.assignee_id))
            group_roles.setdefault(r.assignee_id, []).append(role)
    factors: dict[str, set[str]] = {}
    for f in inventory.of("factor").values():
        if f.status == "ACTIVE":
            factors.setdefault(f.user_id, set()).add(f.factor_type)
    return _Index(
        inventory,
        {uid: tuple(gids) for uid, gids in groups.items()},
        {uid: tuple(roles) for uid, roles in user_roles.items()},
        {gid: tuple(roles) for gid, roles in group_roles.items()},
        {uid: frozenset(types) for uid, types in factors.items()},
    )


class InventoryFacts:
    """``DirectoryFacts`` over the tenant's latest inventory; knows nothing until the first :meth:`load`."""

    def __init__(self, max_age_s: float = DEFAULT_MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self._index: _Index | None = None

    def load(self, inventory: Inventory) -> None:
        """Index ``inventory`` (a full sync, or the store's current copy) and use it from now on."""
        self._index = _index(inventory)

    @property
    def synced_at(self) -> float | None:
        return None if self._index is None else self._index.inventory.synced_at

    def fresh(self) -> bool:
        """Synced, and the last full sync is no older than the sync interval: fit to stand in for Okta."""
        synced = self.synced_at
        return synced is not None and self.clock() - synced <= self.max_age_s

    def user(self, user_id: str) -> UserFacts | None:
        index = self._index
        if index is None:
            return None
        cache = index.cache
        if user_id in cache:
            return cache[user_id]
        facts = self._build(index, user_id)
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[user_id] = facts
        return facts

    def groups(self, user_id: str) -> list[tuple[str, str]] | None:
        """The user's groups as (id, name), or None when the inventory does not know the user."""
        index = self._index
        if index is None or user_id not in index.inventory.users():
            return None
        groups = index.inventory.of("group")
        return [(gid, g.name if (g := groups.get(gid)) is not None else "") for gid in index.groups_of.get(user_id, ())]

    @staticmethod
    def _build(index: _Index, user_id: str) -> UserFacts | None:
        user = index.inventory.users().get(user_id)
        if user is None:
            return None
        group_ids = index.groups_of.get(user_id, ())
        roles = [*index.user_roles.get(user_id, ())]
        for gid in group_ids:
            roles.extend(index.group_roles.get(gid, ()))
        return UserFacts(
            status=user.status,
            created=user.created,
            last_login=user.last_login,
            admin_roles=tuple(roles),
            factor_types=index.factors_of.get(user_id, frozenset()),
            group_ids=frozenset(group_ids),
            status_changed=user.status_changed,
        )
