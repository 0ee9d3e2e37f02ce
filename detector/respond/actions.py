"""The action worker: turns an eligible finding into Okta enforcement, behind guardrails.

Enforcement is dangerous: a bad rule must not lock out a company. So an action
runs only if the finding earned it (its ``actions``), the tenant allows it,
the user is not protected (by id, login or group), the tenant's circuit
breaker has room, the same action did not hit the same user for the same
detection in the last 24 h, and dry-run is off. Every decision, including
"skipped" ones, lands in the ledger with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from detections.confidence import Action
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError
from detector.respond.ledger import FINAL, ActionRecord, SqliteLedger, Status, action_id

log = structlog.get_logger(__name__)

REPEAT_WINDOW_S = 24 * 3600
BREAKER_WINDOW_S = 3600
BREAKER_REPORT_S = 5.0

BreakerReport = Callable[[str, bool], None]  # (tenant, open)


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    dry_run: bool = False
    allowed: frozenset[Action] = frozenset({Action.CLEAR_SESSIONS})
    protected_users: frozenset[str] = frozenset()
    protected_groups: frozenset[str] = frozenset()
    max_actions_per_hour: int = 10
    allow_suspend: bool = False


@dataclass(slots=True)
class TenantResponder:
    policy: ActionPolicy
    client: OktaClient | None  # the enforcement credential; None means alert-only
    stats: dict[str, int] = field(default_factory=dict)


class ActionWorker:
    def __init__(self, tenants: Mapping[str, TenantResponder], ledger: SqliteLedger) -> None:
        self.tenants = tenants
        self.ledger = ledger

    async def handle(self, finding: Mapping[str, Any]) -> list[ActionRecord]:
        """Act on one finding (a ``Finding.to_dict()``); safe to call again with the same finding."""
        responder = self.tenants.get(finding["tenant"])
        if responder is None:
            return []
        wanted = [Action(a) for a in finding.get("actions", ()) if a in Action.__members__.values()]
        wanted = [a for a in wanted if a in responder.policy.allowed]
        return [await self._one(responder, finding, action) for action in wanted]

    async def breaker_open(self, tenant: str) -> bool:
        """The tenant's circuit breaker: open while its actions done in the last hour reach max_actions_per_hour."""
        return await self._taken(tenant) >= self.tenants[tenant].policy.max_actions_per_hour

    async def watch_breakers(self, report: BreakerReport, interval: float = BREAKER_REPORT_S) -> None:
        """Tell ``report`` every ``interval`` whether each tenant's breaker is open, until cancelled: a breaker
        closes as the hour goes by, with no decision to notice it."""
        while True:
            for tenant in self.tenants:
                report(tenant, await self.breaker_open(tenant))
            await asyncio.sleep(interval)

    async def _one(self, responder: TenantResponder, finding: Mapping[str, Any], action: Action) -> ActionRecord:
        now = time.time()
        record = ActionRecord(
            action_id=action_id(finding["tenant"], action.value, finding["principal"], finding["dedup_key"]),
            tenant=finding["tenant"],
            action=action.value,
            principal=finding["principal"],
            principal_login=finding.get("principal_login", ""),
            detection=finding["detection"],
            finding_key=finding["dedup_key"],
            status=Status.PENDING,
            detail="",
            created_at=now,
            updated_at=now,
        )
        existing = await self.ledger.get(record.action_id)
        if existing is not None and existing.status in FINAL:
            return existing  # a redelivered finding: already decided, never call Okta twice
        if existing is not None:
            record = replace(record, created_at=existing.created_at)

        reason = await self._veto(responder, record, action)
        if reason is not None:
            return await self._finish(record, Status.SKIPPED, reason)
        if responder.policy.dry_run:
            return await self._finish(record, Status.DRY_RUN, "dry-run: would have called Okta")

        await self.ledger.record(record)  # pending: durable before the call
        try:
            detail = await self._call(responder.client, action, record.principal)
        except OktaApiError as exc:
            return await self._finish(record, Status.FAILED, str(exc))
        return await self._finish(record, Status.DONE, detail)

    async def _veto(self, responder: TenantResponder, record: ActionRecord, action: Action) -> str | None:
        policy = responder.policy
        if responder.client is None:
            return "no enforcement credentials configured for this tenant"
        if action is Action.SUSPEND and not policy.allow_suspend:
            return "suspend is not enabled for this tenant"
        if record.principal in policy.protected_users or record.principal_login in policy.protected_users:
            return "protected user"
        if policy.protected_groups:
            try:
                groups = await responder.client.list_user_groups(record.principal)
            except OktaApiError as exc:
                return f"could not verify group protection: {exc}"
            names = {g.get("id") for g in groups} | {(g.get("profile") or {}).get("name") for g in groups}
            hit = names & policy.protected_groups
            if hit:
                return f"member of protected group {sorted(hit)[0]}"
        now = time.time()
        if await self.ledger.recent_for(
            record.tenant, record.principal, record.action, record.detection, now - REPEAT_WINDOW_S
        ):
            return "same action already taken on this user for this detection in the last 24 h"
        taken = await self._taken(record.tenant)
        if taken >= policy.max_actions_per_hour:
            return f"circuit breaker open: {taken} actions in the last hour (max {policy.max_actions_per_hour})"
        return None

    async def _taken(self, tenant: str) -> int:
        return await self.ledger.count_since(tenant, time.time() - BREAKER_WINDOW_S, frozenset({Status.DONE}))

    async def _call(self, client: OktaClient | None, action: Action, user_id: str) -> str:
        assert client is not None
        if action is Action.CLEAR_SESSIONS:
            await client.clear_user_sessions(user_id, oauth_tokens=True)
            return "cleared all sessions and revoked OAuth tokens"
        if action is Action.SUSPEND:
            return await self._suspend(client, user_id)
        await client.lifecycle(user_id, action.value)
        return f"{action.value} done"

    async def _suspend(self, client: OktaClient, user_id: str) -> str:
        """Suspend is not idempotent at the API (400 E0000001 on a suspended user): check, then act."""
        status = (await client.get_user(user_id)).get("status")
        if status == "SUSPENDED":
            return "already suspended"
        try:
            await client.lifecycle(user_id, "suspend")
        except OktaApiError as exc:
            if exc.error_code == "E0000001" and (await client.get_user(user_id)).get("status") == "SUSPENDED":
                return "already suspended"
            raise
        return "suspended (reversible with unsuspend)"

    async def _finish(self, record: ActionRecord, status: Status, detail: str) -> ActionRecord:
        final = replace(record, status=status, detail=detail, updated_at=time.time())
        await self.ledger.record(final)
        log.info(
            "action." + status.value,
            tenant=final.tenant,
            action=final.action,
            user=final.principal_login or final.principal,
            detection=final.detection,
            detail=detail,
            action_id=final.action_id,
        )
        return final


def action_latency(finding: Mapping[str, Any], record: ActionRecord) -> float | None:
    """Seconds from the event that completed ``finding`` (its ``time``) to ``record``'s ledger row done: how long an
    attack ran before it was stopped. None unless the action was done."""
    if record.status is not Status.DONE or not isinstance(finding.get("time"), str):
        return None
    try:
        return record.updated_at - datetime.fromisoformat(finding["time"].replace("Z", "+00:00")).timestamp()
    except ValueError:  # not a finding of ours: no latency to tell
        return None
