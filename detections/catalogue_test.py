"""docs/detections.md is generated from the code: it must match what the code says now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from detections.catalogue import COMMAND, entries, render
from detections.registry import build_detections

DOC = Path(__file__).resolve().parents[1] / "docs" / "detections.md"


def test_catalogue_is_current():
    assert DOC.is_file(), f"{DOC} is missing: run {COMMAND}"
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/detections.md is stale: run {COMMAND}"


def test_every_detection_is_listed_with_what_it_emits():
    listed = entries()
    assert [e.id for e in listed] == [d.id for d in build_detections()]
    for e in listed:
        assert e.summary and e.findings and e.mitre and e.defaults, e.id


def test_the_command_prints_the_same_under_another_hash_seed():
    """Sets are sorted, so the file does not change with Python's string-hash seed (or the locale)."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "LC_ALL": "C"}
    out = subprocess.run(
        [sys.executable, "-m", "detections.catalogue"], cwd=DOC.parents[1], env=env, capture_output=True, check=True
    )
    assert out.stdout.decode("utf-8") == render()
