"""Approvals through the real admin HTTP server: approve runs the action once, deny and expiry do nothing,
an admin target needs two distinct approvers, a stale (back-filled) finding asks instead of acting."""

from __future__ import annotations

import re
import time
from pathlib import Path

from detector.respond.ledger import Status

from .conftest import Clock, Sim, clears, push_bombing, response_config, running

APPROVE = {"modes": {"clear_sessions": "approve"}}


async def test_an_approved_action_runs_once_in_the_simulator(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        assert clears(sim) == [] and asked.mode == "approve" and asked.principal == victim["id"]
        approval = asked.approval
        assert approval is not None and approval["approvers_needed"] == 1 and approval["approved_by"] == []
        assert approval["approve_url"].startswith(daemon.base + f"/api/v1/approvals/{approval['request_id']}/approve?")
        status, listed = await daemon.api("GET", "/api/v1/approvals?tenant=acme")
        assert status == 200 and [a["action_id"] for a in listed["approvals"]] == [asked.action_id]

        path = f"/api/v1/approvals/{approval['request_id']}/approve"
        assert (await daemon.api("POST", path, {"by": "alice"}, token=False))[0] == 401
        status, body = await daemon.api("POST", path, {"by": "alice"})
        assert status == 200 and body["action"]["status"] == "done", body
        assert body["action"]["approval"]["approved_by"] == ["alice"] and body["action"]["by"] == "alice"
        assert "approve_url" not in body["action"]["approval"]  # spent
        assert [c.user_id for c in clears(sim)] == [victim["id"]]

        status, again = await daemon.api("POST", path, {"by": "bob"})
        assert status == 409 and "already decided: done" in again["error"]
        assert len(clears(sim)) == 1
        status, stored = await daemon.api("GET", f"/api/v1/actions/{asked.action_id}")
        assert stored["status"] == "done" and stored["detail"].startswith("approved by alice; cleared all sessions")


async def test_a_denied_action_never_runs(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        rid = asked.approval["request_id"]
        status, body = await daemon.api("POST", f"/api/v1/approvals/{rid}/deny", {"by": "carol"})
        assert status == 200 and body["action"]["status"] == "denied"
        assert body["action"]["by"] == "carol" and body["action"]["detail"] == "denied by carol: nothing was done"
        status, _ = await daemon.api("POST", f"/api/v1/approvals/{rid}/approve", {"by": "alice"})
        assert status == 409
        assert (await daemon.api("POST", "/api/v1/approvals/apr-nothere/approve", {"by": "alice"}))[0] == 404
    assert clears(sim) == []


async def test_an_expired_request_does_nothing_and_says_so(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    clock = Clock()
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config, clock) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        clock.advance(31 * 60)  # past the default 30 min
        expired = await daemon.record_in(Status.EXPIRED)
        assert expired.action_id == asked.action_id and expired.by == "sweep"
        assert expired.detail.startswith("expired: nobody decided by ") and "nothing was done" in expired.detail
        rid = asked.approval["request_id"]
        status, body = await daemon.api("POST", f"/api/v1/approvals/{rid}/approve", {"by": "alice"})
        assert status == 409 and "expired" in body["error"]
    assert clears(sim) == []


async def test_an_admin_target_needs_two_distinct_approvers(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")
    sim.org.set_roles(victim["id"], ["ORG_ADMIN"])
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        assert asked.approval["approvers_needed"] == 2
        # read from Okta, or from the inventory when the daemon's first sync finished before the decision
        held = r"the target holds an Okta admin role \(ORG_ADMIN(, per the directory inventory)?\)"
        assert re.search(held + ": two approvers needed", asked.detail), asked.detail
        path = f"/api/v1/approvals/{asked.approval['request_id']}/approve"
        for _ in range(2):  # the same approver twice is one approval
            status, body = await daemon.api("POST", path, {"by": "alice"})
            assert status == 200 and body["action"]["status"] == "awaiting_approval"
            assert body["action"]["approval"]["approved_by"] == ["alice"]
        assert body["action"]["detail"] == "approved by alice; 1 more approver needed"
        assert "step=1&" in body["action"]["approval"]["approve_url"]  # a new link for the second approver
        assert clears(sim) == []
        status, body = await daemon.api("POST", path, {"by": "bob"})
        assert status == 200 and body["action"]["status"] == "done"
        assert body["action"]["approval"]["approved_by"] == ["alice", "bob"]
    assert [c.user_id for c in clears(sim)] == [victim["id"]]


async def test_a_back_filled_finding_asks_instead_of_acting(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 42 * 60)  # the daemon was down: it catches up on old events
    config = response_config(sim, tmp_path / "data", monkeypatch, {})  # clear_sessions auto, by default
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        assert asked.mode == "approve" and asked.detail.startswith("stale: events 41 min old")
        assert clears(sim) == []
        status, body = await daemon.api(
            "POST", f"/api/v1/approvals/{asked.approval['request_id']}/approve", {"by": "a"}
        )
        assert status == 200 and body["action"]["status"] == "done"
    assert len(clears(sim)) == 1
