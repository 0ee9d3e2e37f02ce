"""Undo, shadow, protected users and the circuit breaker with approvals, against the simulator over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detector.okta.auth import SswsAuth
from detector.okta.client import OktaClient
from detector.respond.actions import ActionPolicy, ActionWorker, TenantResponder
from detector.respond.decisions import Decisions, Refused
from detector.respond.ledger import SqliteLedger, Status
from detector.respond.policy import Mode, ResponseAction, ResponsePolicy

from .conftest import ENFORCE_TOKEN, Sim, clears, push_bombing, response_config, running

SUSPEND = {"allow_suspend": True, "policy": {"mfa_push_accepted": {"*": {"suspend": "approve"}}}}


async def test_undo_unsuspends_and_the_ledger_says_undone(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, SUSPEND)
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        assert asked.action == "suspend" and asked.mode == "approve"  # the rule's action, not earned: asked
        rid = asked.approval["request_id"]
        status, body = await daemon.api("POST", f"/api/v1/approvals/{rid}/approve", {"by": "alice"})
        assert status == 200 and body["action"]["status"] == "done" and body["action"]["reversible"]
        assert sim.org.users[victim["id"]].status == "SUSPENDED"
        assert body["action"]["undo_url"].startswith(f"{daemon.base}/api/v1/actions/{asked.action_id}/undo?")
        assert daemon.undone == []

        status, body = await daemon.api("POST", f"/api/v1/actions/{asked.action_id}/undo", {"by": "bob"})
        assert status == 200, body
        assert sim.org.users[victim["id"]].status == "ACTIVE"
        undone = body["action"]
        assert undone["status"] == "undone" and undone["by"] == "bob" and undone["undo_url"] == ""
        assert undone["detail"] == "undone by bob: unsuspended"
        assert [r.action_id for r in daemon.undone] == [asked.action_id]  # the hook an incident resolves on
        status, body = await daemon.api("POST", f"/api/v1/actions/{asked.action_id}/undo", {"by": "bob"})
        assert status == 409 and body["error"] == "already undone by bob"
    events = [e["eventType"] for e in sim.org.events_visible() if e["eventType"].startswith("user.lifecycle")]
    assert events == ["user.lifecycle.suspend", "user.lifecycle.unsuspend"]


async def test_quarantine_runs_by_itself_and_undo_removes_the_user_from_the_group(
    sim: Sim, tmp_path: Path, monkeypatch
):
    quarantine = sim.org.add_group("Quarantine")["id"]
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    response = {
        "quarantine_group": quarantine,
        "policy": {"mfa_push_accepted": {"high-confidence": {"quarantine": "auto"}}},
    }
    config = response_config(sim, tmp_path / "data", monkeypatch, response)
    async with running(config) as daemon:
        done = await daemon.record_in(Status.DONE)
        assert done.action == "quarantine" and done.mode == "auto" and done.reversible  # earned as clear_sessions is
        group = sim.org.directory.group_by_id(quarantine)
        assert [u.id for u in sim.org.directory.members(group)] == [victim["id"]]
        assert clears(sim) == []  # the rule names quarantine only
        status, body = await daemon.api("POST", f"/api/v1/actions/{done.action_id}/undo", {"by": "bob"})
        assert status == 200 and body["action"]["status"] == "undone"
        assert sim.org.directory.members(group) == []
        status, body = await daemon.api("GET", f"/api/v1/actions/{done.action_id}")
        assert (
            body["status"] == "undone"
            and body["detail"] == f"undone by bob: removed from the quarantine group {quarantine}"
        )
    events = [e["eventType"] for e in sim.org.events_visible() if e["eventType"].startswith("group.")]
    assert events == ["group.user_membership.add", "group.user_membership.remove"]


async def test_shadow_records_what_it_would_have_done_and_calls_nothing(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, {"modes": {"clear_sessions": "shadow"}})
    async with running(config) as daemon:
        shadow = await daemon.record_in(Status.SHADOW)
        assert shadow.mode == "shadow"
        assert shadow.detail == "shadow: would have clear all sessions and revoke OAuth tokens"
        assert (await daemon.api("POST", f"/api/v1/actions/{shadow.action_id}/undo", {"by": "x"}))[0] == 409
    assert [c for c in sim.org.calls] == []


async def test_protected_users_are_never_asked_about_nor_actioned(sim: Sim, tmp_path: Path, monkeypatch):
    ceo = sim.org.add_user(login="ceo@acme.com", first_name="C", last_name="Eo")
    push_bombing(sim, ceo, time.time() - 120)
    response = {"protected_users": ["ceo@acme.com"], "modes": {"clear_sessions": "approve"}}
    config = response_config(sim, tmp_path / "data", monkeypatch, response)
    async with running(config) as daemon:
        skipped = await daemon.record_in(Status.SKIPPED)
        assert skipped.detail == "protected user" and skipped.approval is None
        assert (await daemon.api("GET", "/api/v1/approvals"))[1] == {"approvals": []}
    assert sim.org.calls == []


def finding(user: dict[str, Any], n: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "detection": "mfa_push_accepted",
        "tenant": "acme",
        "principal": user["id"],
        "principal_login": user["profile"]["login"],
        "tier": "high-confidence",
        "actions": ["clear_sessions"],
        "dedup_key": f"acme:mfa_push_accepted:{user['id']}:{n}",
        "time": now,
    }


async def test_the_circuit_breaker_holds_under_a_storm_of_approved_findings(sim: Sim, tmp_path: Path):
    users = [sim.org.add_user(login=f"u{i}@acme.com", first_name="U", last_name=str(i)) for i in range(200)]
    policy = ActionPolicy(
        response=ResponsePolicy(modes={ResponseAction.CLEAR_SESSIONS: Mode.APPROVE}), max_actions_per_hour=5
    )
    ledger = await SqliteLedger(tmp_path / "ledger.sqlite").open()
    async with OktaClient(sim.url, SswsAuth(ENFORCE_TOKEN)) as client:
        worker = ActionWorker({"acme": TenantResponder(policy, client)}, ledger)
        decisions = Decisions(worker)
        asked = [r for i, u in enumerate(users) for r in await worker.handle(finding(u, i))]
        assert [r.status for r in asked] == [Status.AWAITING_APPROVAL] * 200
        decided = [await decisions.approve(r.approval["request_id"], "alice") for r in asked]
        with pytest.raises(Refused, match="already decided"):
            await decisions.approve(asked[0].approval["request_id"], "bob")
    await ledger.close()
    assert [r.status for r in decided] == [Status.DONE] * 5 + [Status.SKIPPED] * 195
    assert decided[5].detail == "approved by alice; circuit breaker open: 5 actions in the last hour (max 5)"
    assert len(clears(sim)) == 5


async def test_a_failed_call_records_oktas_error_code_and_request_id(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    sim.org.inject_fault("DELETE", "/api/v1/users", "status", times=1, status=403)
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, {})
    async with running(config) as daemon:
        failed = await daemon.record_in(Status.FAILED)
    assert failed.okta_error is not None and failed.okta_error["error_code"] == "E0000006"
    assert failed.okta_error["request_id"] and f"request_id={failed.okta_error['request_id']}" in failed.detail
    assert clears(sim) == []
