"""The README's demo command, end to end, as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

DELIVERY = re.compile(
    r"WEBHOOK acme/soc got (inc-[0-9a-f]{20}) v(\d+) \((incident\.\w+)\): (\d+) findings? folded in"
    r"(?:; clear_sessions (\w+))?$"
)
DANA = "dana.whitfield@acme.com"


def demo(tmp_path: Path, *flags: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "detector.cli", "demo", "--data-dir", str(tmp_path), "--timeout", "60", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def deliveries(out: str) -> list[tuple[str, int, str, int, str | None]]:
    """(incident key, version, type, findings folded in, the clear's status) per delivery the receiver took."""
    found = [DELIVERY.search(line) for line in out.splitlines() if "WEBHOOK" in line]
    assert found and all(found), out[-3000:]
    return [(m[1], int(m[2]), m[3], int(m[4]), m[5]) for m in found if m]


def assert_one_incident_updated(out: str, final: str) -> list[tuple[str, int, str, int, str | None]]:
    """Every delivery is of one incident, each a newer version; its findings rise as the attack goes on;
    the last shows the clear at ``final``; every signature verified."""
    got = deliveries(out)
    assert len({key for key, *_ in got}) == 1, got
    versions = [v for _, v, *_ in got]
    assert versions == sorted(set(versions)) and versions[0] == 1, versions
    assert [t for _, _, t, *_ in got] == ["incident.opened"] + ["incident.updated"] * (len(got) - 1)
    counts = [n for *_, n, _ in got]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] >= 5, counts
    assert got[-1][4] == final, got[-1]
    assert re.search(rf"Deliveries to acme/soc: {len(got)}, of 1 incident \(inc-[0-9a-f]{{20}}: v1, .*\); ", out)
    assert "signatures verified, 0 rejected" in out
    return got


def test_demo_detects_the_attack_clears_the_session_and_delivers_one_incident(tmp_path: Path):
    out = demo(tmp_path)
    assert "FINDING" in out and "Push accepted after MFA bombing" in out
    assert f"ACTION  clear_sessions on {DANA}: done" in out
    assert "simulator received DELETE /api/v1/users/" in out
    assert f"System Log now shows user.session.clear for {DANA}" in out
    got = assert_one_incident_updated(out, "done")
    assert [status for *_, status in got[:-1]] == [None] * (len(got) - 1)  # the clear shows once it is done
    audit = f"Audit (action ledger): clear_sessions on {DANA}, status done, by policy: cleared all sessions"
    assert audit in out
    findings = [orjson.loads(line) for line in (tmp_path / "findings.jsonl").read_bytes().splitlines()]
    accepted = [f for f in findings if f["detection"] == "mfa_push_accepted"]
    assert accepted and accepted[0]["tier"] == "high-confidence"
    assert "clear_sessions" in accepted[0]["actions"]


def test_demo_approve_waits_then_acts_on_the_signed_link(tmp_path: Path):
    out = demo(tmp_path, "--approve")
    lines = out.splitlines()

    def first(pattern: str) -> int:
        return next(i for i, line in enumerate(lines) if re.search(pattern, line))

    request = r"approval request apr-[0-9a-f]{24}$"
    waiting = first(rf"ACTION  clear_sessions on {DANA}: awaiting_approval \(awaiting approval\), {request}")
    approved = first(rf"ACTION  clear_sessions on {DANA}: approved \(approved by link:demo-analyst\)$")
    done = first(rf"ACTION  clear_sessions on {DANA}: done \(approved by link:demo-analyst; cleared all sessions")
    link = first(
        r"APPROVE POST http://127\.0\.0\.1:\d+/api/v1/approvals/apr-[0-9a-f]{24}/approve\?step=…&exp=…&sig=… "
        r"\(the signed link in the action record\) → 200 Done$"
    )
    okta = first("simulator received DELETE /api/v1/users/")
    assert waiting < approved < done < okta and waiting < link, out[-3000:]
    shown_waiting = first(r"WEBHOOK .*; clear_sessions awaiting_approval$")
    assert waiting < shown_waiting < approved  # the request reached the channel before anyone approved it
    got = assert_one_incident_updated(out, "done")
    assert next(status for *_, status in got if status) == "awaiting_approval"
    assert f"Audit (action ledger): clear_sessions on {DANA}, status done, by link:demo-analyst: approved by" in out


def test_demo_dry_run_decides_and_delivers_without_calling_okta(tmp_path: Path):
    out = demo(tmp_path, "--dry-run")
    assert f"ACTION  clear_sessions on {DANA}: dry_run (dry-run: would have called Okta)" in out
    assert "simulator received" not in out
    assert_one_incident_updated(out, "dry_run")
    assert f"Audit (action ledger): clear_sessions on {DANA}, status dry_run, by policy" in out
