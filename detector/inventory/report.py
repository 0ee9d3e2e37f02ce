"""The current posture of a tenant, from its stored inventory: one view for ``detector posture`` and the admin
API's ``GET /api/v1/tenants/{name}/posture``.

Current, not on change: every check that fails now is a finding (revision 0), as an analyst asking "what is
wrong today" wants it; the findings raised after each sync (detector/inventory/review.py) are what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from detector.inventory.model import Inventory
from detector.inventory.posture import REMEDIATION, UNKNOWN, WHY, Fail, assess_all, judge
from detector.respond.escaping import terminal_text

if TYPE_CHECKING:
    from detector.config import PostureSettings

_SEVERITY_STYLE = {"info": "dim", "low": "dim", "medium": "yellow", "high": "bold red", "critical": "bold white on red"}


def posture_report(inventory: Inventory, settings: PostureSettings, now: float) -> dict[str, Any]:
    """``{tenant, synced_at, checks: [{id, title, severity, status}], findings: [Finding.to_dict()]}``; a
    status is ``fail``, ``pass`` or ``unknown`` (the inventory lacks what the check reads)."""
    outcomes = assess_all(inventory, settings, now)
    checks = [
        {
            "id": c.id,
            "title": c.title,
            "severity": (o.severity or c.severity).value if isinstance(o, Fail) else c.severity.value,
            "status": "fail" if isinstance(o, Fail) else "unknown" if o is UNKNOWN else "pass",
        }
        for c, o in outcomes
    ]
    findings = judge({}, inventory.tenant, outcomes, settings, now)[1]
    return {
        "tenant": inventory.tenant,
        "synced_at": _iso(inventory.synced_at),
        "checks": checks,
        "findings": [f.to_dict() for f in findings],
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def table(report: dict[str, Any]) -> Table:
    """The failing checks of one tenant; every string shown through ``terminal_text`` in a ``Text`` (the
    records' names are the tenant's users' and admins' to choose)."""
    counts = {s: sum(1 for c in report["checks"] if c["status"] == s) for s in ("fail", "pass", "unknown")}
    synced = report["synced_at"] or "never"
    title = (
        f"posture of {terminal_text(report['tenant'])} (synced {synced}): {counts['fail']} failing, "
        f"{counts['pass']} passing, {counts['unknown']} unknown"
    )
    out = Table(title=Text(title), title_justify="left", show_lines=True)
    for column in ("severity", "check", "what", "records", "remediation"):
        out.add_column(column, overflow="fold")
    for f in report["findings"]:
        evidence = [e["label"] for e in f["evidence"]]
        records = [e for e in evidence[1:] if not e.startswith((WHY, REMEDIATION))]
        remediation = next((e.removeprefix(REMEDIATION) for e in evidence if e.startswith(REMEDIATION)), "")
        out.add_row(
            Text(f["severity"], style=_SEVERITY_STYLE.get(f["severity"], "")),
            Text(terminal_text(f["detection"].removeprefix("posture_"))),
            Text(terminal_text(f"{f['title']}: {f['summary']}")),
            Text("\n".join(terminal_text(r) for r in records) or "-"),
            Text(terminal_text(remediation)),
        )
    return out
