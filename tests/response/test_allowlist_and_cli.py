"""Allowlist entries hold back actions until they expire (the finding is still recorded, marked), and the
CLI: `detector actions list|undo`, `detector allowlist add|list|remove`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from detector.cli import main
from detector.respond.incidents import IncidentBook
from detector.respond.ledger import Status

from .conftest import Clock, Sim, clears, push_bombing, response_config, running


async def test_an_allowlist_entry_holds_actions_back_until_it_expires(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    clock = Clock()
    quick = {"detections": {"mfa_fatigue": {"suppress_s": 60.0}}}  # a second attack a few minutes on: a finding
    config = response_config(sim, tmp_path / "data", monkeypatch, {"stale_after_s": 86_400.0}, quick)
    async with running(config, clock) as daemon:
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock() + 600))
        entry = {"tenant": "acme", "user": "Victim@acme.com", "reason": "in Singapore until 10 Dec", "by": "alice"}
        status, added = await daemon.api("POST", "/api/v1/allowlist", {**entry, "expires": expires})
        assert status == 201 and added["active"] and added["added_by"] == "alice"
        bad = {**entry, "expires": "2000-01-01T00:00:00Z"}
        assert (await daemon.api("POST", "/api/v1/allowlist", bad))[0] == 400
        assert (await daemon.api("POST", "/api/v1/allowlist", {**entry, "expires": expires}, token=False))[0] == 401

        push_bombing(sim, victim, time.time() - 400)
        skipped = await daemon.record_in(Status.SKIPPED)
        assert skipped.detail == f"allowlisted: in Singapore until 10 Dec (until {expires}, by alice)"
        lines = await daemon.until(lambda: config.findings_path.exists() and config.findings_path.read_bytes())
        findings = [orjson.loads(x) for x in lines.splitlines()]
        accepted = next(f for f in findings if f["detection"] == "mfa_push_accepted")
        assert accepted["allowlisted"] == skipped.detail.removeprefix("allowlisted: ")  # still recorded, marked
        incident = IncidentBook().apply(accepted)
        assert incident is not None and incident.findings[0]["allowlisted"] == accepted["allowlisted"]
        assert clears(sim) == []

        clock.advance(11 * 60)  # the entry has expired: no restart needed
        status, listed = await daemon.api("GET", "/api/v1/allowlist?tenant=acme")
        assert listed == {"entries": []}
        status, listed = await daemon.api("GET", "/api/v1/allowlist?tenant=acme&all=1")
        assert [e["active"] for e in listed["entries"]] == [False]
        push_bombing(sim, victim, time.time() - 60)
        await daemon.record_in(Status.DONE)
    assert [c.user_id for c in clears(sim)] == [victim["id"]]


async def test_the_cli_lists_the_ledger_undoes_and_keeps_the_allowlist(sim: Sim, tmp_path: Path, monkeypatch, capfd):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    other = sim.org.add_user(login="other@acme.com", first_name="Oth", last_name="Er")
    response = {"allow_suspend": True, "policy": {"mfa_push_accepted": {"*": {"suspend": "approve"}}}}
    config = response_config(sim, tmp_path / "data", monkeypatch, response)
    path = str(tmp_path / "itdr.yaml")
    push_bombing(sim, victim, time.time() - 200)
    push_bombing(sim, other, time.time() - 100)
    async with running(config) as daemon:
        asked = await daemon.until(
            lambda: len(waiting := [r for r in daemon.records if r.status is Status.AWAITING_APPROVAL]) == 2 and waiting
        )
        for record in asked:
            rid = record.approval["request_id"]
            assert (await daemon.api("POST", f"/api/v1/approvals/{rid}/approve", {"by": "alice"}))[0] == 200
        done = {r.principal_login: r for r in await daemon.pipeline.ledger.all() if r.status is Status.DONE}
        capfd.readouterr()
        # the daemon answers the undo: its on_undo hook runs (the incident is resolved there)
        argv = ["actions", "undo", done["victim@acme.com"].action_id, "--config", path, "--by", "bob"]
        assert await asyncio.to_thread(main, argv) == 0
        assert "undone: undone by bob: unsuspended" in capfd.readouterr().err
        assert [r.principal_login for r in daemon.undone] == ["victim@acme.com"]
    assert sim.org.users[victim["id"]].status == "ACTIVE" and sim.org.users[other["id"]].status == "SUSPENDED"

    # no daemon now: the CLI calls Okta itself and records the undo in the data directory
    argv = ["actions", "undo", done["other@acme.com"].action_id, "--config", path]
    assert await asyncio.to_thread(main, argv) == 0
    assert sim.org.users[other["id"]].status == "ACTIVE"
    assert await asyncio.to_thread(main, argv) == 1
    assert "not undone: already undone by" in capfd.readouterr().err

    assert await asyncio.to_thread(main, ["actions", "list", "--config", path, "--output", "jsonl"]) == 0
    listed = [orjson.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert {(r["principal_login"], r["action"], r["status"]) for r in listed} == {
        ("victim@acme.com", "suspend", "undone"),
        ("other@acme.com", "suspend", "undone"),
    }
    assert await asyncio.to_thread(main, ["actions", "list", "--config", path, "--tenant", "acme"]) == 0
    table = capfd.readouterr().out
    assert "undone by bob: unsuspended" in table and "\x1b[" not in table
    assert await asyncio.to_thread(main, ["actions", "list", "--config", path, "--tenant", "nope"]) == 2

    add = ["allowlist", "add", "--config", path, "--tenant", "acme", "--user", "victim@acme.com", "--by", "alice"]
    assert await asyncio.to_thread(main, [*add, "--reason", "travel: Singapore", "--for", "3d"]) == 0
    assert await asyncio.to_thread(main, [*add, "--reason", "x", "--for", "3 days"]) == 2
    assert await asyncio.to_thread(main, [*add, "--reason", "x", "--until", "2001-01-01"]) == 2
    assert "refused: expires: must be in the future" in capfd.readouterr().err
    assert await asyncio.to_thread(main, ["allowlist", "list", "--config", path, "--output", "jsonl"]) == 0
    (entry,) = [orjson.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert entry["reason"] == "travel: Singapore" and entry["added_by"] == "alice" and entry["active"]
    assert await asyncio.to_thread(main, ["allowlist", "remove", entry["entry_id"], "--config", path]) == 0
    assert await asyncio.to_thread(main, ["allowlist", "remove", entry["entry_id"], "--config", path]) == 1
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["allowlist", "list", "--config", path, "--all"]) == 0
    table = capfd.readouterr().out
    assert "travel: Singapore" in table and "removed by" in table
