"""The action worker: turns a finding into Okta enforcement, behind guardrails, or into a question for a person.

Enforcement is dangerous: a bad rule must not lock out a company. The tenant's policy
(``detector.respond.policy``) says which actions a finding gets and each one's mode. An action then runs
only if the user is not allowlisted for now, the tenant has enforcement credentials, suspend is enabled
when it is a suspend, the user is not protected (by id, login or group), the same action did not hit (or
ask about) the same user for the same detection in the last 24 h, the tenant's circuit breaker has room,
and dry-run is off. ``shadow`` records what would have been done; ``approve`` (and an ``auto`` action
whose events are older than ``stale_after_s``: a catch-up must not act on an old picture) waits for
people (``detector.respond.approvals``), who need to be two when the target holds an Okta admin role.
Group protection and admin roles are read from the tenant's synced directory inventory when it knows the
user and is no older than the sync interval, else from Okta (one call per action).
Every decision, including "skipped" ones, lands in the ledger with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from detector.inventory.facts import InventoryFacts
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError
from detector.respond.allowlist import AllowEntry, Allowlist, iso
from detector.respond.ledger import FINAL, ActionRecord, SqliteLedger, Status, action_id, request_id
from detector.respond.links import LinkSigner
from detector.respond.policy import REVERSIBLE, Mode, Planned, ResponseAction, ResponsePolicy

log = structlog.get_logger(__name__)

REPEAT_WINDOW_S = 24 * 3600
BREAKER_WINDOW_S = 3600
WOULD = {
    ResponseAction.CLEAR_SESSIONS: "clear all sessions and revoke OAuth tokens",
    ResponseAction.EXPIRE_PASSWORD: "expire the password",
    ResponseAction.RESET_FACTORS: "reset all factors",
    ResponseAction.SUSPEND: "suspend the user",
    ResponseAction.QUARANTINE: "add the user to the quarantine group",
}

BREAKER_REPORT_S = 5.0

RecordHook = Callable[[ActionRecord], None]
BreakerReport = Callable[[str, bool], None]  # (tenant, open)


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    dry_run: bool = False
    response: ResponsePolicy = field(default_factory=ResponsePolicy)
    protected_users: frozenset[str] = frozenset()
    protected_groups: frozenset[str] = frozenset()
    max_actions_per_hour: int = 10
    allow_suspend: bool = False
    quarantine_group: str | None = None
    stale_after_s: float = 900.0
    approval_ttl_s: float = 1800.0
    undo_ttl_s: float = 7 * 86_400.0


@dataclass(slots=True)
class TenantResponder:
    policy: ActionPolicy
    client: OktaClient | None  # the enforcement credential; None means alert-only
    stats: dict[str, int] = field(default_factory=dict)
    directory: InventoryFacts | None = None  # the tenant's synced inventory: groups and roles without an Okta call

    def known(self, user_id: str) -> InventoryFacts | None:
        """The inventory, when it may stand in for Okta about this user: fresh, and the user is in it."""
        directory = self.directory
        if directory is None or not directory.fresh() or directory.user(user_id) is None:
            return None
        return directory


class ActionWorker:
    def __init__(
        self,
        tenants: Mapping[str, TenantResponder],
        ledger: SqliteLedger,
        *,
        links: LinkSigner | None = None,
        allowlist: Allowlist | None = None,
        clock: Callable[[], float] = time.time,
        on_record: RecordHook | None = None,
    ) -> None:
        self.tenants = tenants
        self.ledger = ledger
        self.links = links
        self.allowlist = allowlist
        self.clock = clock
        self.on_record = on_record  # every decision recorded (not the pending row before a call)

    async def handle(self, finding: Mapping[str, Any]) -> list[ActionRecord]:
        """Act on one finding (a ``Finding.to_dict()``); safe to call again with the same finding."""
        responder = self.tenants.get(finding["tenant"])
        if responder is None or not finding.get("principal"):
            return []
        planned = responder.policy.response.plan(finding)
        allowed = await self.allowlist.match(finding, self.clock()) if planned and self.allowlist else None
        return [await self._one(responder, finding, p, allowed) for p in planned]

    async def breaker_open(self, tenant: str) -> bool:
        """The tenant's circuit breaker: open while its actions done in the last hour reach max_actions_per_hour."""
        return await self._taken(tenant) >= self.tenants[tenant].policy.max_actions_per_hour

    async def watch_breakers(self, report: BreakerReport, interval: float = BREAKER_REPORT_S) -> None:
        """Tell ``report`` every ``interval`` whether each tenant's breaker is open, until cancelled: a breaker
        closes as the hour goes by, with no decision to notice it."""
        while True:
            for tenant in list(self.tenants):
                report(tenant, await self.breaker_open(tenant))
            await asyncio.sleep(interval)

    async def _taken(self, tenant: str) -> int:
        return await self.ledger.count_since(tenant, self.clock() - BREAKER_WINDOW_S, frozenset({Status.DONE}))

    async def _one(
        self, responder: TenantResponder, finding: Mapping[str, Any], planned: Planned, allowed: AllowEntry | None
    ) -> ActionRecord:
        now = self.clock()
        record = ActionRecord(
            action_id=action_id(finding["tenant"], planned.action.value, finding["principal"], finding["dedup_key"]),
            tenant=finding["tenant"],
            action=planned.action.value,
            principal=finding["principal"],
            principal_login=finding.get("principal_login", ""),
            detection=finding["detection"],
            finding_key=finding["dedup_key"],
            status=Status.PENDING,
            detail="",
            created_at=now,
            updated_at=now,
            mode=planned.mode.value,
            incident=finding.get("incident") or "",
            by="policy",
        )
        existing = await self.ledger.get(record.action_id)
        if existing is not None and (existing.status in FINAL or existing.approval is not None):
            return existing  # a redelivered finding: already decided, never call Okta (or ask) twice
        if existing is not None:
            record = replace(record, created_at=existing.created_at)

        if allowed is not None:
            return await self._finish(record, Status.SKIPPED, f"allowlisted: {allowed.label()}")
        reason = await self.veto(responder, record, repeat=True)
        if reason is not None:
            return await self._finish(record, Status.SKIPPED, reason)
        if responder.policy.dry_run:
            return await self._finish(record, Status.DRY_RUN, "dry-run: would have called Okta")
        if planned.mode is Mode.SHADOW:
            return await self._finish(record, Status.SHADOW, f"shadow: would have {WOULD[planned.action]}")
        notes = [planned.note] if planned.note else []
        age = now - _epoch(finding["time"])
        if planned.mode is Mode.AUTO and age > responder.policy.stale_after_s:
            notes.append(f"stale: events {age / 60:.0f} min old")
        if planned.mode is Mode.APPROVE or notes:
            return await self.ask(responder, replace(record, mode=Mode.APPROVE.value), notes)

        await self.ledger.record(record)  # pending: durable before the call
        return await self.execute(responder, record)

    async def veto(self, responder: TenantResponder, record: ActionRecord, *, repeat: bool) -> str | None:
        """Why this action must not run now, or None. ``repeat``: also the once-per-24-h rule (not for an
        approved action: its own request is the earlier one)."""
        policy = responder.policy
        if responder.client is None:
            return "no enforcement credentials configured for this tenant"
        if record.action == ResponseAction.SUSPEND and not policy.allow_suspend:
            return "suspend is not enabled for this tenant"
        if record.action == ResponseAction.QUARANTINE and policy.quarantine_group is None:
            return "no quarantine_group configured for this tenant"
        if record.principal in policy.protected_users or record.principal_login in policy.protected_users:
            return "protected user"
        if policy.protected_groups:
            try:
                names = await self._group_names(responder, record.principal)
            except OktaApiError as exc:
                return f"could not verify group protection: {exc}"
            hit = names & policy.protected_groups
            if hit:
                return f"member of protected group {sorted(hit)[0]}"
        now = self.clock()
        if repeat and await self.ledger.recent_for(
            record.tenant, record.principal, record.action, record.detection, now - REPEAT_WINDOW_S
        ):
            return "same action already taken (or asked for) on this user for this detection in the last 24 h"
        taken = await self._taken(record.tenant)
        if taken >= policy.max_actions_per_hour:
            return f"circuit breaker open: {taken} actions in the last hour (max {policy.max_actions_per_hour})"
        return None

    @staticmethod
    async def _group_names(responder: TenantResponder, user_id: str) -> set[str]:
        """The ids and names of the user's groups: from the inventory's memberships, else one Okta call."""
        directory = responder.known(user_id)
        if directory is not None:
            return {part for group in directory.groups(user_id) or () for part in group if part}
        assert responder.client is not None
        groups = await responder.client.list_user_groups(user_id)
        names = [g.get("id") for g in groups] + [(g.get("profile") or {}).get("name") for g in groups]
        return {name for name in names if isinstance(name, str) and name}

    async def ask(self, responder: TenantResponder, record: ActionRecord, notes: list[str]) -> ActionRecord:
        """Turn the action into an approval request: nothing is called until enough people approve."""
        needed, why = await self._approvers_needed(responder, record.principal)
        expires = self.clock() + responder.policy.approval_ttl_s
        approval = {
            "request_id": request_id(record.action_id),
            "expires": iso(expires),
            "approvers_needed": needed,
            "approved_by": [],
        }
        record = replace(record, approval=self.with_links(approval, expires))
        detail = "; ".join([*notes, why, "awaiting approval"] if why else [*notes, "awaiting approval"])
        return await self._finish(record, Status.AWAITING_APPROVAL, detail)

    def with_links(self, approval: dict[str, Any], expires: float) -> dict[str, Any]:
        """The approval with its signed approve and deny links for the current step ("" without public_url)."""
        step, subject = len(approval["approved_by"]), approval["request_id"]
        links = self.links
        return {
            **approval,
            "approve_url": links.url("approve", subject, step, expires) if links else "",
            "deny_url": links.url("deny", subject, step, expires) if links else "",
        }

    async def _approvers_needed(self, responder: TenantResponder, user_id: str) -> tuple[int, str]:
        """Two distinct approvers for a target holding an Okta admin role (or whose roles cannot be read); the
        roles come from the inventory (direct and through groups) when it may stand in for Okta."""
        directory = responder.known(user_id)
        facts = directory.user(user_id) if directory is not None else None
        if facts is not None:
            if not facts.admin_roles:
                return 1, ""
            held = ", ".join(sorted({r.role_type for r in facts.admin_roles}))
            return 2, f"the target holds an Okta admin role ({held}, per the directory inventory): two approvers needed"
        assert responder.client is not None
        try:
            roles = await responder.client.list_user_roles(user_id)
        except OktaApiError as exc:
            return 2, f"could not read the target's admin roles ({exc}): two approvers needed"
        if roles:
            held = ", ".join(sorted({str(r.get("type")) for r in roles}))
            return 2, f"the target holds an Okta admin role ({held}): two approvers needed"
        return 1, ""

    async def execute(self, responder: TenantResponder, record: ActionRecord, note: str = "") -> ActionRecord:
        """Call Okta for a pending (or approved) action and record the outcome (after ``note``, if any)."""
        assert responder.client is not None
        lead = f"{note}; " if note else ""
        try:
            detail, changed = await self._call(responder, ResponseAction(record.action), record.principal)
        except OktaApiError as exc:
            error = {"error_code": exc.error_code, "request_id": exc.request_id}
            return await self._finish(replace(record, okta_error=error), Status.FAILED, lead + str(exc))
        reversible = changed and ResponseAction(record.action) in REVERSIBLE
        undo_url = ""
        if reversible and self.links is not None:
            undo_url = self.links.url("undo", record.action_id, 0, self.clock() + responder.policy.undo_ttl_s)
        return await self._finish(replace(record, reversible=reversible, undo_url=undo_url), Status.DONE, lead + detail)

    async def _call(self, responder: TenantResponder, action: ResponseAction, user_id: str) -> tuple[str, bool]:
        """Do it; returns what was done and whether this call changed the user (what an undo reverses)."""
        client = responder.client
        assert client is not None
        if action is ResponseAction.CLEAR_SESSIONS:
            await client.clear_user_sessions(user_id, oauth_tokens=True)
            return "cleared all sessions and revoked OAuth tokens", True
        if action is ResponseAction.SUSPEND:
            return await self._suspend(client, user_id)
        if action is ResponseAction.QUARANTINE:
            group = responder.policy.quarantine_group
            assert group is not None
            if group in {g.get("id") for g in await client.list_user_groups(user_id)}:
                return f"already in the quarantine group {group}", False
            await client.set_group_member(group, user_id, member=True)
            return f"added to the quarantine group {group} (reversible: undo removes it)", True
        await client.lifecycle(user_id, action.value)  # type: ignore[arg-type]  # expire_password, reset_factors
        return f"{action.value} done", True

    async def _suspend(self, client: OktaClient, user_id: str) -> tuple[str, bool]:
        """Suspend is not idempotent at the API (400 E0000001 on a suspended user): check, then act."""
        status = (await client.get_user(user_id)).get("status")
        if status == "SUSPENDED":
            return "already suspended", False
        try:
            await client.lifecycle(user_id, "suspend")
        except OktaApiError as exc:
            if exc.error_code == "E0000001" and (await client.get_user(user_id)).get("status") == "SUSPENDED":
                return "already suspended", False
            raise
        return "suspended (reversible: undo unsuspends)", True

    async def save(self, record: ActionRecord) -> ActionRecord:
        """Record a decision durably, then tell whoever follows the actions (the incidents, the metrics)."""
        await self.ledger.record(record)
        log.info(
            "action." + record.status.value,
            tenant=record.tenant,
            action=record.action,
            user=record.principal_login or record.principal,
            detection=record.detection,
            detail=record.detail,
            by=record.by,
            action_id=record.action_id,
        )
        if self.on_record is not None:
            self.on_record(record)
        return record

    async def _finish(self, record: ActionRecord, status: Status, detail: str) -> ActionRecord:
        return await self.save(replace(record, status=status, detail=detail, updated_at=self.clock()))


def _epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def action_latency(finding: Mapping[str, Any], record: ActionRecord) -> float | None:
    """Seconds from the event that completed ``finding`` (its ``time``) to ``record``'s ledger row done: how long
    an attack ran before it was stopped. None unless the action was done."""
    if record.status is not Status.DONE or not isinstance(finding.get("time"), str):
        return None
    try:
        return record.updated_at - _epoch(finding["time"])
    except ValueError:  # not a finding of ours: no latency to tell
        return None
