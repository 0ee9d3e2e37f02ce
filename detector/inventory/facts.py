"""A tenant's :class:`Inventory` as the facts the engine and the action worker read.

Why this adapter: detections read ``detections.directory.DirectoryFacts`` (``user``), which knows nothing
of the inventory model, and ``detections`` must not import ``detector``. Each lookup reads the inventory's
own per-user indexes (``groups_of``, ``roles_of_user``, ``factors_of``), so it costs the user's groups and
roles, not the org's size, and sees every ``put`` / ``remove`` an event makes between syncs. The response
side also asks for the user's groups by name and whether the inventory is fresh enough to stand in for an
Okta call (``fresh``: synced, and no older than the sync interval).

One object per tenant, kept for the process: ``load`` swaps the inventory in place, so the engine and the
worker that hold the object see a new sync at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from detections.directory import AdminRole, UserFacts
from detector.inventory.model import ROLE_ASSIGNEE_GROUP, Group, Inventory, User
from detector.inventory.store import InventoryStore

DEFAULT_MAX_AGE_S = 6 * 3600.0  # the default sync interval: an inventory older than that is not trusted


class InventoryFacts:
    """``DirectoryFacts`` over the tenant's latest inventory; knows nothing until an inventory that finished a
    full sync (``synced_at``) is loaded."""

    def __init__(self, max_age_s: float = DEFAULT_MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self.inventory: Inventory | None = None

    def load(self, inventory: Inventory) -> None:
        """Use ``inventory`` (a full sync, or the store's current copy) from now on."""
        self.inventory = inventory

    @property
    def synced_at(self) -> float | None:
        return None if self.inventory is None else self.inventory.synced_at

    def fresh(self) -> bool:
        """Synced, and the last full sync is no older than the sync interval: fit to stand in for Okta."""
        synced = self.synced_at
        return synced is not None and self.clock() - synced <= self.max_age_s

    def user(self, user_id: str) -> UserFacts | None:
        inventory = self.inventory
        if inventory is None or inventory.synced_at is None:
            return None  # never fully synced: a partial first sync is not the directory
        user = inventory.users().get(user_id)
        if user is None:
            return None
        groups = inventory.of("group")
        roles = []
        for r in inventory.roles_of_user(user_id):
            if r.status == "ACTIVE":
                via = "" if r.assignee_type != ROLE_ASSIGNEE_GROUP else _name(groups.get(r.assignee_id), r.assignee_id)
                roles.append(AdminRole(r.role_type, r.label, via))
        return UserFacts(
            status=user.status,
            created=user.created,
            last_login=user.last_login,
            admin_roles=tuple(roles),
            factor_types=frozenset(f.factor_type for f in inventory.factors_of(user_id) if f.status == "ACTIVE"),
            group_ids=frozenset(inventory.groups_of(user_id)),
            status_changed=user.status_changed,
        )

    def groups(self, user_id: str) -> list[tuple[str, str]] | None:
        """The user's groups as (id, name), or None when the inventory does not know the user."""
        inventory = self.inventory
        if inventory is None or user_id not in inventory.users():
            return None
        groups = inventory.of("group")
        return [(gid, _name(groups.get(gid), "")) for gid in sorted(inventory.groups_of(user_id))]


def _name(group: Group | None, default: str) -> str:
    return (group.name if group is not None else "") or default


def keep_synced_login(inventory: Inventory, record: Any) -> Any:
    """``record`` as an event wrote it, to put into the facts' inventory: a user keeps the last sign-in the sync
    read (the sign-in an event would write there is the one ``directory_signin`` is judging, and the two run
    apart). Both transports' mirrors apply it (MirroredStore here, kafka_store.InventoryFollower)."""
    if isinstance(record, User) and (old := inventory.users().get(record.id)) is not None:
        return dataclasses.replace(record, last_login=old.last_login)
    return record


class MirroredStore:
    """The inventory store as the System Log's updater writes it, each write also applied to the tenant's
    in-memory inventory its facts read, so a suspension or a new admin is known at once, not at the next sync.

    A user's ``last_login`` stays the one the sync read: the sign-in that an event would write there is the
    one ``directory_signin`` is judging (how long the account slept before it), and the two run apart."""

    def __init__(self, store: InventoryStore, facts: Mapping[str, InventoryFacts]) -> None:
        self._store = store
        self._facts = facts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def put(self, tenant: str, part: str, records: Iterable[Any]) -> None:
        records = list(records)
        await self._store.put(tenant, part, records)
        inventory = self._inventory(tenant)
        if inventory is None:
            return
        for record in records:
            inventory.put(keep_synced_login(inventory, record))

    async def delete(self, tenant: str, kind: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        await self._store.delete(tenant, kind, ids)
        inventory = self._inventory(tenant)
        if inventory is not None:
            for rid in ids:
                inventory.remove(kind, rid)

    def _inventory(self, tenant: str) -> Inventory | None:
        facts = self._facts.get(tenant)
        return None if facts is None else facts.inventory
