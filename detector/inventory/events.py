"""Keeping the inventory current between full syncs from System Log events.

Why: a full sync runs every few hours; an admin role granted or a token created in between must be known
before the next one (a detection or a posture check reads it). Each event type below updates the record it
names from the event's targets. The events are Okta's, but the values in them are not to be trusted
blindly (a target's name is typed by an admin, ids must be ids, a target may be missing), so each target
is validated as the parser validates a listed object; an event that does not say enough (a factor
activated, whose factor id the event does not carry) marks the record stale instead, to be re-read by the
next sync. Only successful events change anything. Updating is idempotent, so an event applied twice
(at-least-once delivery) changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog

from detections.event import Event, MalformedEvent, parse_event
from detector.inventory import parse
from detector.inventory.model import (
    ROLE_ASSIGNEE_GROUP,
    ROLE_ASSIGNEE_USER,
    ApiToken,
    AppAssignment,
    Membership,
    RoleAssignment,
    User,
)
from detector.inventory.store import InventoryStore

log = structlog.get_logger(__name__)

# The standard roles by the label Okta writes in debugData.privilegeGranted (comma separated).
ROLE_LABELS: dict[str, str] = {
    "super administrator": "SUPER_ADMIN",
    "organization administrator": "ORG_ADMIN",
    "organizational administrator": "ORG_ADMIN",
    "application administrator": "APP_ADMIN",
    "help desk administrator": "HELP_DESK_ADMIN",
    "read only administrator": "READ_ONLY_ADMIN",
    "group administrator": "USER_ADMIN",
    "group membership administrator": "GROUP_MEMBERSHIP_ADMIN",
    "report administrator": "REPORT_ADMIN",
    "mobile administrator": "MOBILE_ADMIN",
    "api access management administrator": "API_ACCESS_MANAGEMENT_ADMIN",
}
LIFECYCLE_STATUS = {
    "user.lifecycle.activate": "ACTIVE",
    "user.lifecycle.reactivate": "ACTIVE",
    "user.lifecycle.unsuspend": "ACTIVE",
    "user.lifecycle.suspend": "SUSPENDED",
    "user.lifecycle.deactivate": "DEPROVISIONED",
}
_SPLIT = re.compile(r"\s*,\s*")

Handler = Callable[["InventoryUpdater", Event], Awaitable[str]]


class InventoryUpdater:
    """Applies System Log events to one store; ``outcomes`` counts what each event did."""

    def __init__(self, store: InventoryStore) -> None:
        self.store = store
        self.outcomes: Counter[str] = Counter()

    @staticmethod
    def wants(event_type: str) -> bool:
        """Cheap pre-filter on the raw ``eventType``, before an event is parsed."""
        return event_type in HANDLERS

    async def apply_raw(self, tenant: str, value: bytes) -> str | None:
        """A stored System Log event as the bus holds it (JSON bytes): applied when it is an inventory event;
        None when it is not one (most events: not even parsed) or cannot be parsed."""
        try:
            raw = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("eventType"), str) or not self.wants(raw["eventType"]):
            return None
        try:
            event = parse_event(raw, tenant)
        except MalformedEvent:
            return None  # the detection stage dead-letters it with its reason
        return await self.apply(event)

    async def apply(self, event: Event) -> str:
        """Update the inventory from one event; returns what it did (updated, removed, stale, ignored: why)."""
        handler = HANDLERS.get(event.event_type)
        if handler is None:
            outcome = "ignored: not an inventory event"
        elif event.outcome != "SUCCESS":
            outcome = "ignored: not a success"
        else:
            outcome = await handler(self, event)
        self.outcomes[outcome] += 1
        return outcome

    # -- helpers ----------------------------------------------------------------------------------

    async def _stale(self, event: Event, kind: str, rid: str, part: str) -> str:
        await self.store.mark_stale(event.tenant, kind, rid, part, event.event_type, event.time)
        return "stale"

    async def _user(self, event: Event) -> tuple[str, User | None] | None:
        """The target user's id and stored record (None: not stored yet); None when the event names none."""
        uid = _target_id(event, "User")
        if uid is None:
            return None
        return uid, await self.store.get(event.tenant, "user", uid)

    # -- handlers ---------------------------------------------------------------------------------

    async def created(self, event: Event) -> str:
        found = await self._user(event)
        if found is None:
            return "ignored: no valid User target"
        uid, user = found
        if user is None:  # the event does not carry the status: a provisional record, re-read next sync
            login = parse.text((event.target("User") or {}).get("alternateId"))
            await self.store.put(event.tenant, "users", [User(uid, login, "STAGED", created=event.time)])
        return await self._stale(event, "user", uid, "users")

    async def lifecycle(self, event: Event) -> str:
        found = await self._user(event)
        if found is None:
            return "ignored: no valid User target"
        uid, user = found
        if user is None:
            return await self._stale(event, "user", uid, "users")
        status = LIFECYCLE_STATUS[event.event_type]
        changes: dict[str, Any] = {"status": status, "status_changed": event.time}
        if event.event_type in ("user.lifecycle.activate", "user.lifecycle.reactivate"):
            changes["activated"] = event.time
        await self.store.put(event.tenant, "users", [dataclasses.replace(user, **changes)])
        return "updated"

    async def deleted(self, event: Event) -> str:
        uid = _target_id(event, "User")
        if uid is None:
            return "ignored: no valid User target"
        owned = await self.store.owned_by(event.tenant, uid)
        for kind in sorted({k for k, _ in owned}):
            await self.store.delete(event.tenant, kind, [r.id for k, r in owned if k == kind])
        await self.store.delete(event.tenant, "user", [uid])
        return "removed"

    async def membership(self, event: Event) -> str:
        uid, gid = _target_id(event, "User"), _target_id(event, "UserGroup")
        if uid is None or gid is None:
            return "ignored: no valid User and UserGroup targets"
        record = Membership(gid, uid)
        if event.event_type.endswith(".add"):
            await self.store.put(event.tenant, "group_members", [record])
            return "updated"
        await self.store.delete(event.tenant, "membership", [record.id])
        return "removed"

    async def privilege(self, event: Event) -> str:
        """A role granted or revoked: the role types named in ``privilegeGranted`` / ``privilegeRevoked`` are
        put or removed as the assignee's; the assignee's roles are re-read at the next sync either way (the
        event has no role assignment id, and a custom role has no standard type)."""
        is_group = event.event_type.startswith("group.")
        assignee_type, part = (ROLE_ASSIGNEE_GROUP, "group_roles") if is_group else (ROLE_ASSIGNEE_USER, "user_roles")
        assignee = _target_id(event, "UserGroup" if is_group else "User")
        if assignee is None:
            return "ignored: no valid assignee target"
        granted = event.event_type.endswith(".grant")
        named = event.debug.get("privilegegranted" if granted else "privilegerevoked")
        types = _role_types(named)
        outcome = "stale"
        if types:
            records = [_event_role(assignee_type, assignee, t, event.time) for t in types]
            if granted:
                await self.store.put(event.tenant, part, records)
            else:
                held = [r for k, r in await self.store.owned_by(event.tenant, assignee) if k == "role"]
                gone = [r.id for r in held if r.assignee_type == assignee_type and r.role_type in types]
                await self.store.delete(event.tenant, "role", gone)
            outcome = "updated"
        await self.store.mark_stale(
            event.tenant, "role", f"{assignee_type}:{assignee}", part, event.event_type, event.time
        )
        return outcome

    async def app_assignment(self, event: Event) -> str:
        is_group = event.event_type.startswith("group.")
        assignee = _target_id(event, "UserGroup" if is_group else "User")
        app_id = _target_id(event, "AppInstance")
        if assignee is None or app_id is None:
            return "ignored: no valid assignee and AppInstance targets"
        assignee_type, part = (ROLE_ASSIGNEE_GROUP, "app_groups") if is_group else (ROLE_ASSIGNEE_USER, "app_users")
        record = AppAssignment(app_id, assignee_type, assignee)
        if event.event_type.endswith(".add"):
            await self.store.put(event.tenant, part, [record])
            return "updated"
        await self.store.delete(event.tenant, "app_assignment", [record.id])
        return "removed"

    async def token(self, event: Event) -> str:
        tid = _target_id(event, "Token")
        if tid is None:
            return "ignored: no valid Token target"
        if event.event_type == "system.api_token.revoke":
            await self.store.delete(event.tenant, "api_token", [tid])
            return "removed"
        owner = _valid_id(event.actor_id)
        if owner is None:
            return "ignored: no valid actor"
        name = parse.text((event.target("Token") or {}).get("displayName"))
        # expiry and network restriction are not in the event: the next sync reads them
        await self.store.put(
            event.tenant, "api_tokens", [ApiToken(tid, name, owner, created=event.time, last_used=event.time)]
        )
        return await self._stale(event, "api_token", tid, "api_tokens")

    async def factor(self, event: Event) -> str:
        """The events name the user, not the factor: a reset removes them all, any other change is re-read."""
        uid = _target_id(event, "User")
        if uid is None:
            return "ignored: no valid User target"
        if event.event_type == "user.mfa.factor.reset_all":
            factors = [r.id for k, r in await self.store.owned_by(event.tenant, uid) if k == "factor"]
            await self.store.delete(event.tenant, "factor", factors)
            await self._stale(event, "factor", f"user:{uid}", "user_factors")
            return "removed"
        return await self._stale(event, "factor", f"user:{uid}", "user_factors")

    async def signed_in(self, event: Event) -> str:
        """A sign-in (session start, SSO to an app): the actor's last_login, if later than the stored one."""
        if event.actor_type != "User" or (uid := _valid_id(event.actor_id)) is None:
            return "ignored: the actor is not a valid User"
        user = await self.store.get(event.tenant, "user", uid)
        if user is None:
            return await self._stale(event, "user", uid, "users")
        if user.last_login is not None and user.last_login >= event.time:
            return "ignored: not newer"
        await self.store.put(event.tenant, "users", [dataclasses.replace(user, last_login=event.time)])
        return "updated"


HANDLERS: dict[str, Handler] = {
    "user.lifecycle.create": InventoryUpdater.created,
    **{t: InventoryUpdater.lifecycle for t in LIFECYCLE_STATUS},
    "user.lifecycle.delete.initiated": InventoryUpdater.deleted,
    "user.lifecycle.delete.completed": InventoryUpdater.deleted,
    "group.user_membership.add": InventoryUpdater.membership,
    "group.user_membership.remove": InventoryUpdater.membership,
    "user.account.privilege.grant": InventoryUpdater.privilege,
    "user.account.privilege.revoke": InventoryUpdater.privilege,
    "group.privilege.grant": InventoryUpdater.privilege,
    "group.privilege.revoke": InventoryUpdater.privilege,
    "application.user_membership.add": InventoryUpdater.app_assignment,
    "application.user_membership.remove": InventoryUpdater.app_assignment,
    "group.application_assignment.add": InventoryUpdater.app_assignment,
    "group.application_assignment.remove": InventoryUpdater.app_assignment,
    "system.api_token.create": InventoryUpdater.token,
    "system.api_token.revoke": InventoryUpdater.token,
    "user.mfa.factor.activate": InventoryUpdater.factor,
    "user.mfa.factor.deactivate": InventoryUpdater.factor,
    "user.mfa.factor.reset_all": InventoryUpdater.factor,
    "user.session.start": InventoryUpdater.signed_in,
    "user.authentication.sso": InventoryUpdater.signed_in,
}


def _valid_id(value: Any) -> str | None:
    try:
        return parse.okta_id(value)
    except parse.Malformed:
        return None


def _target_id(event: Event, target_type: str) -> str | None:
    target = event.target(target_type)
    return None if target is None else _valid_id(target.get("id"))


def _role_types(named: Any) -> list[str]:
    """The standard role types of a ``privilegeGranted`` string (unknown labels, custom roles: none)."""
    if not isinstance(named, str):
        return []
    labels = _SPLIT.split(named[:1000].strip().lower())
    return sorted({ROLE_LABELS[label] for label in labels[: parse.MAX_LIST] if label in ROLE_LABELS})


def _event_role(assignee_type: str, assignee: str, role_type: str, at: float) -> RoleAssignment:
    """A role assignment known from an event: its id is ours until the next sync reads Okta's."""
    rid = f"evt.{assignee_type.lower()}.{assignee}.{role_type.lower()}"
    label = next(label for label, t in ROLE_LABELS.items() if t == role_type).title()
    return RoleAssignment(rid, assignee_type, assignee, role_type, label, created=at)
