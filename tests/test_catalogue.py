"""docs/detections.md and `detector detections` come from one model, which matches what the code does."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from rich.console import Console

from detections import corpus, scoring
from detections.registry import build_detections
from detector import catalogue
from detector.catalogue import COMMAND, render
from detector.cli import main
from tests.deploy_support import ROOT

DOC = ROOT / "docs" / "detections.md"


def test_catalogue_is_current():
    assert DOC.is_file(), f"{DOC} is missing: run {COMMAND}"
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/detections.md is stale: run {COMMAND}"


def test_the_command_prints_the_same_under_another_hash_seed():
    """Sets are sorted, so the file does not change with Python's string-hash seed (or the locale)."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "LC_ALL": "C"}
    out = subprocess.run(
        [sys.executable, "-m", "detector.catalogue"], cwd=ROOT, env=env, capture_output=True, check=True
    )
    assert out.stdout.decode("utf-8") == render()


def test_every_detection_is_listed_with_every_column():
    rows = catalogue.detections()
    assert [d.id for d in rows] == [d.id for d in build_detections()]
    for d in rows:
        assert d.title and d.summary.startswith(d.title) and d.findings and d.mitre and d.evidence and d.tiers, d.id
        assert d.knobs and all(k.type and k.range for k in d.knobs), d.id
        numeric = [k for k in d.knobs if k.type in ("number", "integer")]
        assert all(k.range != "-" for k in numeric), d.id  # every number the config takes is range-checked


def test_actions_are_what_the_corpus_findings_earn_and_quarantine_follows_clear_sessions():
    """The listed actions are read from the source; every action a finding earned on the corpus is listed, and
    a detection that offers none earned none."""
    listed = {d.id: set(d.actions) for d in catalogue.detections()}
    owner = {f: d.id for d in catalogue.detections() for f in d.findings}
    engine_cases = [c for c in corpus.cases() if not c.trap]
    earned: dict[str, set[str]] = {}
    for case in engine_cases:
        for finding in scoring.findings_of(case):
            earned.setdefault(owner[finding.detection], set()).update(a.value for a in finding.assessment.actions)
    for detection, actions in earned.items():
        assert actions <= listed[detection], detection
    assert listed["password_spray"] == set() and listed["api_token_created"] == set()
    assert {"clear_sessions", "expire_password"} <= earned["mfa_fatigue"]
    for actions in listed.values():
        assert ("quarantine" in actions) == ("clear_sessions" in actions)


def test_json_output_is_the_model(capsys):
    assert main(["detections", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == json.loads(json.dumps([d.to_dict() for d in catalogue.detections()]))
    spray = next(d for d in listed if d["id"] == "password_spray")
    knob = next(k for k in spray["knobs"] if k["name"] == "min_users")
    assert knob["default"] == "10" and "≥ 1" in knob["range"] and knob["type"] == "integer"


def test_plain_text_in_a_pipe_is_one_tab_separated_line_per_detection():
    out = subprocess.run(
        [sys.executable, "-m", "detector.cli", "detections"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    header, *lines = out.splitlines()
    assert header.split("\t") == list(catalogue.COLUMNS)
    assert [line.split("\t")[0] for line in lines] == [d.id for d in catalogue.detections()]
    assert all(len(line.split("\t")) == len(catalogue.COLUMNS) for line in lines)
    assert "\x1b" not in out  # no colour codes in a pipe
    fatigue = lines[0].split("\t")
    assert fatigue[3] == "low..high-confidence" and "; min_denials=5 (≥ 1, ≤ 1000000); " in fatigue[6]


def test_the_terminal_table_shows_every_detection_without_reading_markup():
    console = Console(file=io.StringIO(), width=400, force_terminal=True, color_system=None)
    console.print(catalogue.table(catalogue.detections()))
    shown = console.file.getvalue()
    for d in catalogue.detections():
        assert d.id in shown
    assert "inflight_asns=[22351]" in shown  # a default in brackets is text, not rich markup
