"""docs/metrics.md is generated from the registry, is current, and says what /metrics really exposes."""

from __future__ import annotations

import subprocess
import sys

from detector.metrics_reference import COMMAND, ROLES, families, render, started_by
from detector.ops.metrics import Metrics
from tests.deploy_support import ROOT

DOC = ROOT / "docs" / "metrics.md"


def rows() -> dict[str, list[str]]:
    """Metric name -> its cells, from the generated table."""
    out = {}
    for line in render().splitlines():
        if line.startswith("| `itdr_"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0].strip("`")] = cells
    return out


def test_metrics_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/metrics.md is stale: run {COMMAND}"


def test_the_command_in_the_file_writes_it():
    out = subprocess.run(
        [sys.executable, "-m", "detector.metrics_reference"], cwd=ROOT, capture_output=True, check=True
    )
    assert out.stdout.decode() == render()


def test_every_family_has_a_row_with_its_type_and_help():
    table = rows()
    for family in families(Metrics()):
        (described,) = family.describe()
        _, kind, *_, help_text = table[described.name]
        assert (kind, help_text) == (described.type, described.documentation.replace("|", "\\|"))
    assert len(table) == len(families(Metrics()))


def test_exposed_names_and_labels_are_what_a_started_role_serves():
    table = rows()
    for stage in ROLES:
        for family in started_by(stage).registry.collect():
            if not family.samples:
                continue
            _, _, labels, names, *_ = table[family.name]
            assert {f"`{s.name}`" for s in family.samples} <= set(names.split(", ")), family.name
            served = {label for s in family.samples for label in s.labels if label != "le"}
            assert served == {label.strip("`") for label in labels.split(", ") if label != "-"}, family.name


def test_the_roles_that_start_a_family_are_named():
    table = rows()
    assert table["itdr_findings"][3] == "`itdr_findings_total`, `itdr_findings_created`"
    assert table["itdr_events_processed"][4] == "worker"
    assert table["itdr_rate_limited"][4] == "poller, actions"
    assert table["itdr_build"][4] == "every process"
    assert table["itdr_consumer_lag"][4] == "-", "a reading, not a count: it appears with the first one"
