"""docs/posture.md is generated from the checks and change kinds the code registers."""

from __future__ import annotations

import subprocess
import sys

from detector.inventory.catalogue import COMMAND, render
from detector.inventory.changes import CHANGE_KINDS
from detector.inventory.posture import CHECKS
from tests.deploy_support import ROOT

DOC = ROOT / "docs" / "posture.md"


def test_posture_doc_is_current():
    assert DOC.is_file(), f"{DOC} is missing: run {COMMAND}"
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/posture.md is stale: run {COMMAND}"


def test_the_command_prints_the_file():
    out = subprocess.run([sys.executable, "-m", "detector.inventory.catalogue"], cwd=ROOT, capture_output=True)
    assert out.returncode == 0 and out.stdout.decode("utf-8") == render()


def test_every_check_and_change_is_documented_with_its_rationale_and_remediation():
    text = render()
    for c in CHECKS:
        assert c.rationale and c.remediation and c.mitre, c.id
        assert f"### {c.id}" in text and c.rationale in text and c.remediation in text
    for k in CHANGE_KINDS:
        assert f"| `{k.id}` |" in text and k.mitre
