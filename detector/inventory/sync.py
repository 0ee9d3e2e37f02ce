"""A full sync of one tenant's directory into the inventory store, resumable from its checkpoint.

The sync reads each part of the directory in a fixed order, page by page with Okta's ``Link`` pagination,
and for each object the lists hanging off it (a user's factors and roles, a group's members and roles, an
app's users, groups and grants, a policy's rules). Each page is stored with the checkpoint that follows it
(detector/inventory/store.py), so a sync killed at any point goes on from the part and page it reached.

Two parts are read their own way. Users' admin roles (``user_roles``): Okta lists the users holding a role
(``/api/v1/iam/assignees/users``, a few dozen in any org), so only theirs are read, not one call per user
(which was half the ``users`` bucket of a full sync); when Okta refuses that list (403, 404) the part falls
back to reading every listed user's roles, noted in the status. Deprovisioned users (``users_deprovisioned``):
Okta's plain user list leaves them out, so they are asked for by ``search``, before the other users, so that
a user deprovisioned since the last sync is stored as such before the ``users`` part sweeps what it did not
list. (A user reactivated since is missing from the store between those two parts.)

What Okta refuses is not fatal: a 403 (the scope or admin role is not granted), or a 404 / 405 (the org
has no such list), marks that part skipped with Okta's reason and the sync goes on; its old records are
kept. A 404 on a list hanging off one object (the object was deleted meanwhile) skips that object's list.
Rate limits are the client's business (its budget and retries); anything else the client gives up on
fails the sync (state ``error``, its checkpoint kept for the next attempt).

The client is the caller's: the daemon passes the tenant's reader, and a shared per-org budget in which the
sync runs at the lowest priority plugs in there, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

from detector.inventory import parse
from detector.inventory.model import RECORD_KINDS, ROLE_ASSIGNEE_GROUP, ROLE_ASSIGNEE_USER
from detector.inventory.store import Checkpoint, InventoryStore
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError

log = structlog.get_logger(__name__)

IN_PROGRESS, SUCCESS, ERROR = "in_progress", "success", "error"
DEPROVISIONED = 'status eq "DEPROVISIONED"'  # the search that lists the users the plain list leaves out
POLICY_TYPES = ("OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY")
ADMIN_CONSOLE_APP = "saasure"  # Okta's app name of the Admin Console
PAGE_LIMITS: dict[str, int] = {  # Okta's maximum page size of each list
    "users": 200,
    "users_deprovisioned": 200,
    "user_roles": 100,  # the role assignees list
    "groups": 1000,
    "group_members": 1000,
    "apps": 200,
    "app_users": 500,
    "app_groups": 200,
    "app_grants": 200,
    "api_tokens": 200,
    "idps": 200,
}
MAX_ERROR = 500


@dataclass(frozen=True)
class Child:
    """A list hanging off each object of a part, its records stored under their own part name."""

    part: str
    path: str  # with {id}: the parent's id
    kind: str
    parse: Callable[..., Any]
    context: Callable[[Any], dict[str, Any]]
    keep: Callable[[Any], bool] = lambda _obj: True  # which listed objects are this list's own


def _direct(obj: Any) -> bool:
    """A user's roles list also shows the roles of the user's groups (``assignmentType: GROUP``): those are
    the groups' records, read with each group, and would count twice."""
    return not (isinstance(obj, dict) and obj.get("assignmentType") == ROLE_ASSIGNEE_GROUP)


@dataclass(frozen=True)
class Part:
    name: str
    path: str
    kind: str
    parse: Callable[..., Any]
    params: Mapping[str, str] = field(default_factory=dict)
    children: tuple[Child, ...] = ()
    policy_type: str | None = None  # policies: their rules are read and flattened into the record
    page: str | None = None  # the PAGE_LIMITS key of its list (default: its name)
    envelope: str | None = None  # the list pages as an object, its array under this key (Okta's IAM lists)
    stores_listed: bool = True  # False: the listed objects only name whose children to read
    known_users: bool = False  # read the children only of listed users this sync stored
    fallback: Part | None = None  # read instead when Okta refuses ``path`` (403, 404)


def _parts() -> tuple[Part, ...]:
    factors = Child("user_factors", "/api/v1/users/{id}/factors", "factor", parse.factor, lambda u: {"user_id": u.id})
    roles = Child(
        "user_roles",
        "/api/v1/users/{id}/roles",
        "role",
        parse.role,
        lambda u: {"assignee_type": ROLE_ASSIGNEE_USER, "assignee_id": u.id},
        _direct,
    )
    every_users_roles = Part(
        "user_roles", "/api/v1/users", "user", parse.user, children=(roles,), page="users", stores_listed=False
    )
    group_children = (
        Child(
            "group_members", "/api/v1/groups/{id}/users", "membership", parse.membership, lambda g: {"group_id": g.id}
        ),
        Child(
            "group_roles",
            "/api/v1/groups/{id}/roles",
            "role",
            parse.role,
            lambda g: {"assignee_type": ROLE_ASSIGNEE_GROUP, "assignee_id": g.id},
        ),
    )
    app_children = (
        Child(
            "app_users",
            "/api/v1/apps/{id}/users",
            "app_assignment",
            parse.app_assignment,
            lambda a: {"app_id": a.id, "assignee_type": ROLE_ASSIGNEE_USER},
        ),
        Child(
            "app_groups",
            "/api/v1/apps/{id}/groups",
            "app_assignment",
            parse.app_assignment,
            lambda a: {"app_id": a.id, "assignee_type": ROLE_ASSIGNEE_GROUP},
        ),
        Child("app_grants", "/api/v1/apps/{id}/grants", "grant", parse.grant, lambda a: {"app_id": a.id}),
    )
    return (
        # a deprovisioned user's factors are not read: it cannot sign in with them, and they are a call each
        Part("users_deprovisioned", "/api/v1/users", "user", parse.user, {"search": DEPROVISIONED}),
        Part("users", "/api/v1/users", "user", parse.user, children=(factors,)),
        Part(
            "user_roles",
            "/api/v1/iam/assignees/users",
            "role_assignee",
            parse.assignee,
            children=(roles,),
            envelope="value",
            stores_listed=False,
            known_users=True,
            fallback=every_users_roles,
        ),
        Part("groups", "/api/v1/groups", "group", parse.group, children=group_children),
        Part("apps", "/api/v1/apps", "app", parse.app, children=app_children),
        Part("api_tokens", "/api/v1/api-tokens", "api_token", parse.api_token),
        Part("idps", "/api/v1/idps", "idp", parse.idp),
        *(
            Part(f"policies_{t}", "/api/v1/policies", "policy", parse.policy, {"type": t}, policy_type=t)
            for t in POLICY_TYPES
        ),
        Part("org", "/api/v1/threats/configuration", "org", parse.org_settings),
    )


PARTS: tuple[Part, ...] = _parts()
PART_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(name for p in PARTS for name in (p.name, *(c.part for c in p.children)))
)


class InventorySync:
    """One full sync of ``tenant`` through ``client`` into ``store``; ``run`` returns the sync's status."""

    def __init__(
        self,
        tenant: str,
        client: OktaClient,
        store: InventoryStore,
        *,
        page_limits: Mapping[str, int] | None = None,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
        parts: Iterable[Part] = PARTS,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.tenant, self.client, self.store, self.clock = tenant, client, store, clock
        self.page_limits = {**PAGE_LIMITS, **(page_limits or {})}
        self.parts = tuple(parts)
        self.on_status = on_status  # told the status when the sync starts and when it ends (tenant status)
        self._limit = asyncio.Semaphore(concurrency)
        self.parser = parse.Parser()

    async def run(self) -> dict[str, Any]:
        run_started = self.clock()
        previous = (await self.store.sync_status(self.tenant)).get(self.tenant, {})
        checkpoint = await self.store.begin_sync(self.tenant, run_started)
        elapsed_before = checkpoint.elapsed_s
        malformed_before = dict(checkpoint.malformed)
        await self._end(self._status(IN_PROGRESS, checkpoint, previous, None, None, elapsed_before), keep=True)
        log.info(
            "inventory.sync.start", tenant=self.tenant, generation=checkpoint.generation, resumed=checkpoint.resumed
        )
        self._progress = (checkpoint, run_started, elapsed_before, malformed_before)
        try:
            for part in self.parts:
                if part.name in checkpoint.done or part.name in checkpoint.skipped:
                    continue
                await self._part(part, checkpoint)
        except OktaApiError as exc:
            return await self._failed(checkpoint, previous, str(exc))
        except ValueError as exc:  # a next link outside the org, an id the client refuses
            return await self._failed(checkpoint, previous, f"{type(exc).__name__}: {exc}")
        finished = self.clock()
        self._account(checkpoint)
        status = self._status(SUCCESS, checkpoint, previous, finished, None, checkpoint.elapsed_s)
        status["counts"] = await self._counts()
        await self._end(status, keep=False)
        log.info("inventory.sync.done", tenant=self.tenant, duration_s=status["duration_s"], skipped=checkpoint.skipped)
        return status

    # -- parts -------------------------------------------------------------------------------------

    async def _part(self, part: Part, checkpoint: Checkpoint) -> None:
        if part.kind == "org":
            await self._single(part, checkpoint)
            return
        if part.fallback is not None and part.name in checkpoint.fallbacks:  # chosen before a stop
            part = part.fallback
        resume = checkpoint.next_url if checkpoint.part == part.name else None
        params = dict(part.params)
        limit = self.page_limits.get(part.page or part.name)
        if limit is not None:
            params["limit"] = str(limit)
        start = resume or part.path
        pages = self.client.pages(start, params=None if resume else params, what=part.name, envelope=part.envelope)
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    records = await self._records(part, page.items, checkpoint)
                    if part.name in checkpoint.skipped:  # its one list refused: its other pages are of no use
                        break
                    checkpoint.part, checkpoint.next_url = part.name, page.next_url
                    self._account(checkpoint)
                    await self.store.write_page(self.tenant, checkpoint, records)
        except OktaApiError as exc:
            if not _refused(exc):
                raise
            if part.fallback is not None:
                await self._fall_back(part, part.fallback, checkpoint, exc)
                return
            await self._skip(part, checkpoint, exc)
            return
        if part.name in checkpoint.skipped:
            await self.store.skip_part(self.tenant, checkpoint, part.name, checkpoint.skipped[part.name])
            return
        swept = [c.part for c in part.children if c.part not in checkpoint.skipped and c.part != part.name]
        await self.store.finish_part(self.tenant, checkpoint, part.name, swept)

    async def _fall_back(self, part: Part, fallback: Part, checkpoint: Checkpoint, exc: OktaApiError) -> None:
        """Okta refuses ``part``'s list: read the same records the slower way (kept in the checkpoint, so a
        resumed sync goes on with it)."""
        reason = _reason(exc)
        log.warning("inventory.sync.part_fallback", tenant=self.tenant, part=part.name, path=part.path, reason=reason)
        checkpoint.fallbacks[part.name] = reason
        checkpoint.part, checkpoint.next_url = None, None
        await self._part(fallback, checkpoint)

    async def _single(self, part: Part, checkpoint: Checkpoint) -> None:
        """A part that is one object (the ThreatInsight configuration)."""
        try:
            data = await self.client.request_json("GET", part.path)
        except OktaApiError as exc:
            if not _refused(exc):
                raise
            await self._skip(part, checkpoint, exc)
            return
        record = self.parser.one(part.kind, part.parse, data)
        checkpoint.part, checkpoint.next_url = part.name, None
        self._account(checkpoint)
        await self.store.write_page(self.tenant, checkpoint, [(part.name, record)] if record else [])
        await self.store.finish_part(self.tenant, checkpoint, part.name)

    async def _skip(self, part: Part, checkpoint: Checkpoint, exc: OktaApiError) -> None:
        reason = _reason(exc)
        log.warning("inventory.sync.part_skipped", tenant=self.tenant, part=part.name, reason=reason)
        await self.store.skip_part(self.tenant, checkpoint, part.name, reason)

    async def _records(self, part: Part, items: list[Any], checkpoint: Checkpoint) -> list[tuple[str, Any]]:
        if part.policy_type is not None:
            return await self._policies(part, items)
        parents = self.parser.many(part.kind, part.parse, items)
        out: list[tuple[str, Any]] = [(part.name, r) for r in parents] if part.stores_listed else []
        if part.known_users:  # a role holder the user lists did not show would be an admin without factors
            parents = [p for p in parents if await self.store.get(self.tenant, "user", p.id) is not None]
        if part.children:
            lists = await asyncio.gather(*(self._children(part, r, checkpoint) for r in parents))
            out.extend(pair for found in lists for pair in found)
        return out

    async def _children(self, part: Part, parent: Any, checkpoint: Checkpoint) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for child in part.children:
            if child.part in checkpoint.skipped:
                continue
            params = {"limit": str(self.page_limits[child.part])} if child.part in self.page_limits else None
            try:
                async with self._limit:
                    if child.part in checkpoint.skipped:  # refused while this call waited for its turn
                        continue
                    items = await self.client.list_all(child.path.format(id=quote(parent.id, safe="")), params=params)
            except OktaApiError as exc:
                if exc.status == 404:  # the parent went away since its page was read
                    continue
                if exc.status != 403:
                    raise
                if child.part not in checkpoint.skipped:
                    checkpoint.skipped[child.part] = _reason(exc)
                    log.warning("inventory.sync.part_skipped", tenant=self.tenant, part=child.part, reason=_reason(exc))
                continue
            own = [item for item in items if child.keep(item)]
            records = self.parser.many(child.kind, child.parse, own, **child.context(parent))
            out.extend((child.part, r) for r in records)
        return out

    async def _policies(self, part: Part, items: list[Any]) -> list[tuple[str, Any]]:
        """Each policy with its rules (read one policy at a time under the same concurrency as children)."""
        console = await self._admin_console_policies() if part.policy_type == "ACCESS_POLICY" else set()

        async def one(obj: Any) -> tuple[str, Any] | None:
            pid = obj.get("id") if isinstance(obj, dict) else None
            if not isinstance(pid, str) or not pid:
                self.parser.one(part.kind, part.parse, obj)  # counted as malformed
                return None
            try:
                async with self._limit:
                    raw_rules = await self.client.list_all(f"/api/v1/policies/{quote(pid, safe='')}/rules")
            except OktaApiError as exc:
                if exc.status == 404:
                    return None
                raise
            rules = self.parser.many("policy_rule", parse.rule, raw_rules)
            record = self.parser.one(part.kind, part.parse, obj, rules=rules, admin_console=pid in console)
            return None if record is None else (part.name, record)

        found = await asyncio.gather(*(one(obj) for obj in items))
        return [pair for pair in found if pair is not None]

    async def _admin_console_policies(self) -> set[str]:
        """The access policies of the Admin Console app (its ``accessPolicy`` link), from the apps stored."""
        apps = await self.store.records(self.tenant, "app")
        return {a.access_policy for _, a in apps if a.name == ADMIN_CONSOLE_APP and a.access_policy}

    # -- status ------------------------------------------------------------------------------------

    def _account(self, checkpoint: Checkpoint) -> None:
        """Carry this run's elapsed time and malformed counts into the checkpoint (saved with the next write)."""
        _, run_started, elapsed_before, malformed_before = self._progress
        checkpoint.elapsed_s = elapsed_before + (self.clock() - run_started)
        merged = dict(malformed_before)
        for kind, n in self.parser.skipped_by_kind().items():
            merged[kind] = merged.get(kind, 0) + n
        checkpoint.malformed = merged

    async def _failed(self, checkpoint: Checkpoint, previous: dict[str, Any], error: str) -> dict[str, Any]:
        self._account(checkpoint)
        error = parse.text(error, MAX_ERROR)
        status = self._status(ERROR, checkpoint, previous, self.clock(), error, checkpoint.elapsed_s)
        status["counts"] = await self._counts()
        await self._end(status, keep=True)
        log.warning("inventory.sync.failed", tenant=self.tenant, error=error, part=checkpoint.part)
        return status

    async def _end(self, status: dict[str, Any], *, keep: bool) -> None:
        await self.store.end_sync(self.tenant, status, keep_checkpoint=keep)
        if self.on_status is not None:
            self.on_status(status)

    async def _counts(self) -> dict[str, int]:
        """Records per kind, every kind named (0 too: a kind whose last record went must read 0, not stay)."""
        return {kind: 0 for kind in RECORD_KINDS} | await self.store.counts(self.tenant)

    def _status(
        self,
        state: str,
        checkpoint: Checkpoint,
        previous: dict[str, Any],
        finished: float | None,
        error: str | None,
        elapsed: float,
    ) -> dict[str, Any]:
        return {
            "state": state,
            "generation": checkpoint.generation,
            "started": checkpoint.started,
            "finished": finished,
            "duration_s": round(elapsed, 3),
            "resumed": checkpoint.resumed,
            "counts": previous.get("counts", {}),
            "skipped": dict(checkpoint.skipped),
            "fallbacks": dict(checkpoint.fallbacks),
            "malformed": dict(checkpoint.malformed),
            "error": error,
            "last_success": finished if state == SUCCESS else previous.get("last_success"),
            "last_success_duration_s": round(elapsed, 3)
            if state == SUCCESS
            else previous.get("last_success_duration_s"),
        }


def _refused(exc: OktaApiError) -> bool:
    """Okta will not serve this list to this credential (403), or does not have it (404, 405): skip it."""
    return exc.status in (403, 404, 405)


def _reason(exc: OktaApiError) -> str:
    why = " ".join(x for x in (str(exc.status), exc.error_code, exc.error_summary) if x)
    if exc.required_scope:
        why += f" (needs {exc.required_scope})"
    return parse.text(why, 300)
