"""The README's demo command, end to end, as a newcomer runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


def test_demo_detects_the_attack_and_the_session_clear_reaches_okta(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "detector.cli", "demo", "--data-dir", str(tmp_path), "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "FINDING" in out and "Push accepted after MFA bombing" in out
    assert "ACTION  clear_sessions on dana.whitfield@acme.com: done" in out
    assert "simulator received DELETE /api/v1/users/" in out
    assert "System Log now shows user.session.clear for dana.whitfield@acme.com" in out
    findings = [orjson.loads(line) for line in (tmp_path / "findings.jsonl").read_bytes().splitlines()]
    accepted = [f for f in findings if f["detection"] == "mfa_push_accepted"]
    assert accepted and accepted[0]["tier"] == "high-confidence"
    assert "clear_sessions" in accepted[0]["actions"]
