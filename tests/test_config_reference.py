"""docs/config.md is generated from the config models, is current, and documents every field with a description."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from detections.registry import DetectionSettings
from detector.config import PollSettings
from detector.config_reference import COMMAND, models, render, undescribed
from tests.deploy_support import ROOT

DOC = ROOT / "docs" / "config.md"


def test_config_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/config.md is stale: run {COMMAND}"


def test_the_command_in_the_file_writes_it():
    out = subprocess.run([sys.executable, "-m", "detector.config_reference"], cwd=ROOT, capture_output=True, check=True)
    assert out.stdout.decode() == render()


def test_every_field_has_a_description():
    assert not undescribed(), f"fields without Field(description=...): {undescribed()}"


def test_a_field_without_a_description_is_found(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(PollSettings.model_fields["page_limit"], "description", None)
    assert undescribed() == ["PollSettings.page_limit"]


def test_every_model_field_has_a_row_in_its_section():
    sections = {s.split("\n", 1)[0]: s for s in render().split("\n## ")[1:]}
    for model in models():
        section = sections[model.__name__]
        for name in model.model_fields:
            assert f"\n| `{name}`" in section, f"{model.__name__}.{name}"
    for name in ("allow_suspend", "page_limit", "log_level", "slow_sync_s", "token_id", "web_port"):
        assert f"| `{name}` |" in render(), name


def test_every_detection_setting_is_listed_with_its_range():
    section = render().split("\n## Detection settings\n", 1)[1]
    for detection in dataclasses.fields(DetectionSettings):
        assert f"[`{detection.name}`](detections.md#{detection.name})" in section
        settings = typing.get_type_hints(DetectionSettings)[detection.name]
        for setting in dataclasses.fields(settings):
            assert section.count(f"`{setting.name}`") >= 2, f"{detection.name}.{setting.name}: listed and ranged"


def test_constraints_come_from_the_models():
    text = render()
    assert "| `page_limit` | integer | `1000` | strict; ≥ 1; ≤ 1000 |" in text
    assert '| `log_level` | string | `"info"` | one of `debug`, `info`, `warning`, `error` |' in text
    assert "| `http` (or `metrics`) |" in text
    assert r"matches `^(memory\|rocksdb)://$`" in text, "a pipe in a table cell is escaped"
