"""docs/posture.md, generated from the code: ``python -m detector.inventory.catalogue > docs/posture.md``.

The posture checks (their id, finding name, severity, MITRE ATT&CK techniques, rationale from the check's
docstring, remediation) and the inventory-change findings, as registered in posture.py and changes.py, and
the settings they read (``PostureSettings``, with defaults and descriptions). ``tests/posture/test_doc.py`` fails
when the file is stale.
"""

from __future__ import annotations

import sys

from detector.config import PostureSettings
from detector.inventory.changes import CHANGE_KINDS
from detector.inventory.posture import CHECKS

COMMAND = "python -m detector.inventory.catalogue > docs/posture.md"


def finding_names() -> tuple[str, ...]:
    """Every ``detection`` a posture or inventory-change finding carries (what the metrics start at 0)."""
    return tuple(c.detection for c in CHECKS) + tuple(k.id for k in CHANGE_KINDS)


def render() -> str:
    lines = [
        "# Posture checks and inventory changes",
        "",
        f"Generated from the code by `{COMMAND}`; do not edit by hand (`tests/posture/test_doc.py` fails when",
        "this file is stale). Both run over the directory inventory after each sync (`detector/inventory/`) and",
        "raise findings like the [detections](detections.md): a fixed severity, evidence naming the records, MITRE",
        "ATT&CK techniques, never auto-enforced. `detector posture --config F [--tenant T]` prints what fails now.",
        "",
        "A posture check raises a finding only when its result changes: when it starts failing, again (the next",
        "revision) when other records are at fault, and a last revision with status `resolved` when it passes",
        "again. A check that cannot tell (the sync did not read what it needs) raises nothing and keeps its last",
        "result. Checks listed in `posture.skip` do not run.",
        "",
        "## Posture checks",
        "",
        "| check | finding | severity | MITRE ATT&CK | title |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| [`{c.id}`](#{c.id}) | `{c.detection}` | {c.severity.value} | {', '.join(c.mitre)} | {c.title} |"
        for c in CHECKS
    ]
    for c in CHECKS:
        lines += [
            "",
            f"### {c.id}",
            "",
            f"**{c.title}.** {c.rationale}",
            "",
            f"* Finding: `{c.detection}`, {c.severity.value}; MITRE ATT&CK: {', '.join(c.mitre)}",
            f"* Remediation: {c.remediation}",
        ]
    lines += [
        "",
        "## Inventory changes",
        "",
        "Raised from the difference between the previous sync's inventory and this one (see",
        "[`detector/inventory/changes.py`](../detector/inventory/changes.py) for how they relate to",
        "`api_token_created` and `admin_privilege_granted`, which raise the same changes from the System Log as",
        "they happen: nothing is raised twice).",
        "",
        "| finding | severity | MITRE ATT&CK | what |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k.id}` | {k.severity} | {', '.join(k.mitre)} | **{k.title}.** {k.summary} |" for k in CHANGE_KINDS]
    lines += [
        "",
        "## Settings",
        "",
        "Per tenant under `tenants[].posture` ([PostureSettings](config.md#posturesettings)):",
        "",
        "| setting | default | description |",
        "|---|---|---|",
    ]
    for name, field in PostureSettings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"| `{name}` | `{default}` | {field.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render().encode("utf-8"))
