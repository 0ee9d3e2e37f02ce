"""What people decide about actions: approve or deny a request, undo a done action; and the sweep that
expires what nobody decided in time.

Every channel (Slack buttons, signed links, the bearer-token API, the CLI) ends here, so the rules hold
whichever was used: a request is decided once; an approver counts once however often they approve; a
target holding an Okta admin role needs two distinct approvers; an approved action still passes the
guardrails (protection, circuit breaker) when it runs; an expired request does nothing and says so. Who
decided is in the ledger row (``by``, ``approval.approved_by``). One decision at a time per process, so
two approvals arriving together cannot both count as the first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from detector.okta.errors import OktaApiError
from detector.respond.actions import ActionWorker
from detector.respond.ledger import ActionRecord, Status
from detector.respond.policy import ResponseAction

log = structlog.get_logger(__name__)

RESUME_AFTER_S = 60.0  # an approved row older than this was left by a crash mid-call: run it again
CLAIMS_KEPT_S = 31 * 86_400.0  # longer than any link lives (undo_ttl_s is at most 30 days)


class Refused(Exception):
    """The decision cannot be made; ``status`` is the HTTP status that says so, the message why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Decisions:
    def __init__(self, worker: ActionWorker, on_undo: Callable[[ActionRecord], None] | None = None) -> None:
        self.worker = worker
        self.on_undo = on_undo  # an undo resolves the incident: the pipeline wires that here
        self._lock = asyncio.Lock()

    async def request(self, request_id: str) -> ActionRecord:
        record = await self.worker.ledger.by_request(request_id)
        if record is None or record.approval is None:
            raise Refused(404, f"no approval request {request_id}")
        return record

    async def approve(self, request_id: str, by: str) -> ActionRecord:
        """Count ``by``'s approval; with enough distinct approvers, run the action (guardrails again)."""
        async with self._lock:
            record = await self._open(request_id)
            approval = dict(record.approval or {})
            if by in approval["approved_by"]:
                return record  # the same approver twice is one approval
            approval["approved_by"] = [*approval["approved_by"], by]
            names = ", ".join(approval["approved_by"])
            missing = approval["approvers_needed"] - len(approval["approved_by"])
            if missing > 0:
                approval = self.worker.with_links(approval, _epoch(approval["expires"]))
                detail = f"approved by {names}; {missing} more approver{'s' if missing > 1 else ''} needed"
                return await self._save(record, Status.AWAITING_APPROVAL, detail, by, approval)
            record = await self._save(record, Status.APPROVED, f"approved by {names}", by, _without_links(approval))
        return await self._run(record)

    async def deny(self, request_id: str, by: str) -> ActionRecord:
        async with self._lock:
            record = await self._open(request_id)
            approval = _without_links(record.approval or {})
            return await self._save(record, Status.DENIED, f"denied by {by}: nothing was done", by, approval)

    async def undo(self, action_id: str, by: str) -> ActionRecord:
        """Reverse a done, reversible action (unsuspend; remove from the quarantine group)."""
        async with self._lock:
            record = await self.worker.ledger.get(action_id)
            if record is None:
                raise Refused(404, f"no action {action_id}")
            if record.status is Status.UNDONE:
                raise Refused(409, f"already undone by {record.by}")
            if record.status is not Status.DONE or not record.reversible:
                why = "it was not done" if record.status is not Status.DONE else "it changed nothing that undo reverses"
                raise Refused(409, f"nothing to undo: {record.action} is {record.status.value} ({why})")
            responder = self.worker.tenants.get(record.tenant)
            if responder is None or responder.client is None:
                raise Refused(409, f"tenant {record.tenant} has no enforcement credentials now")
            try:
                done = await self._reverse(record)
            except OktaApiError as exc:
                log.error("action.undo_failed", action_id=action_id, by=by, error=str(exc))
                raise Refused(502, f"Okta refused the undo: {exc}") from None
            undone = replace(
                record, status=Status.UNDONE, detail=f"undone by {by}: {done}", by=by, undo_url="", updated_at=self.now
            )
            await self.worker.save(undone)
        if self.on_undo is not None:
            self.on_undo(undone)
        return undone

    async def _reverse(self, record: ActionRecord) -> str:
        responder = self.worker.tenants[record.tenant]
        client = responder.client
        assert client is not None
        if record.action == ResponseAction.SUSPEND:
            try:
                await client.lifecycle(record.principal, "unsuspend")
            except OktaApiError as exc:
                if exc.error_code == "E0000001" and (await client.get_user(record.principal)).get("status") != (
                    "SUSPENDED"
                ):
                    return "the user was no longer suspended"
                raise
            return "unsuspended"
        group = responder.policy.quarantine_group
        if group is None:
            raise Refused(409, f"tenant {record.tenant} has no quarantine_group now")
        await client.set_group_member(group, record.principal, member=False)
        return f"removed from the quarantine group {group}"

    async def sweep(self) -> list[ActionRecord]:
        """Expire the requests nobody decided in time; run the approved ones a crash left behind."""
        now, changed = self.now, []
        for record in await self.worker.ledger.in_status(frozenset({Status.AWAITING_APPROVAL, Status.APPROVED})):
            if record.status is Status.AWAITING_APPROVAL and now > _epoch((record.approval or {})["expires"]):
                async with self._lock:
                    changed.append(await self._expire(record))
            elif record.status is Status.APPROVED and now - record.updated_at > RESUME_AFTER_S:
                changed.append(await self._run(record))
        await self.worker.ledger.forget_claims(now - CLAIMS_KEPT_S)
        return changed

    async def run_sweeps(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            await self.sweep()

    @property
    def now(self) -> float:
        return self.worker.clock()

    async def _open(self, request_id: str) -> ActionRecord:
        """The request, still waiting for a decision (an expired one is recorded as such and refused)."""
        record = await self.request(request_id)
        if record.status is not Status.AWAITING_APPROVAL:
            raise Refused(409, f"the request is already decided: {record.status.value} ({record.detail})")
        if self.now > _epoch((record.approval or {})["expires"]):
            await self._expire(record)
            raise Refused(410, "the request has expired: nothing was done")
        return record

    async def _expire(self, record: ActionRecord) -> ActionRecord:
        approval = _without_links(record.approval or {})
        why = f"expired: nobody decided by {approval['expires']}; nothing was done"
        return await self._save(record, Status.EXPIRED, why, "sweep", approval)

    async def _run(self, record: ActionRecord) -> ActionRecord:
        """An approved action: the guardrails once more (the world may have changed), then Okta."""
        responder = self.worker.tenants.get(record.tenant)
        if responder is None:
            return await self._save(record, Status.SKIPPED, f"{record.detail}; tenant no longer configured", record.by)
        reason = await self.worker.veto(responder, record, repeat=False)
        if reason is not None:
            return await self._save(record, Status.SKIPPED, f"{record.detail}; {reason}", record.by)
        if responder.policy.dry_run:
            detail = f"{record.detail}; dry-run: would have called Okta"
            return await self._save(record, Status.DRY_RUN, detail, record.by)
        return await self.worker.execute(responder, record, note=record.detail)

    async def _save(
        self, record: ActionRecord, status: Status, detail: str, by: str, approval: dict[str, Any] | None = None
    ) -> ActionRecord:
        changed = replace(record, status=status, detail=detail, by=by, updated_at=self.now)
        if approval is not None:
            changed = replace(changed, approval=approval)
        return await self.worker.save(changed)


def _without_links(approval: dict[str, Any]) -> dict[str, Any]:
    """After the decision the links are spent: the approval keeps who approved and when it would expire."""
    return {k: v for k, v in approval.items() if k not in ("approve_url", "deny_url")}


def _epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()
