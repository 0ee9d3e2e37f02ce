"""Findings about the directory rather than about an event: what posture checks and inventory changes emit.

They are built like the configuration-change detections' (detections/config_change.py): a fixed severity, never
auto-enforced, the statement as one FOLLOW_ON evidence item whose points encode the severity so the tier routes
it, then one item (0 points) per record it names. No event caused them, so they carry no event uuids and no
``where``; their dedup key is built by ``build_finding`` from what they are about (``anchor``).

Every string here comes from the tenant's directory (app labels, token names, logins, group names), written by
its admins and users: the finding keeps it as it is, and every output escapes it (detector/respond/escaping.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from detections.common import build_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.config_change import SEVERITY_POINTS
from detections.finding import Finding, Severity

OPEN = "open"
RESOLVED = "resolved"


def directory_finding(
    tenant: str,
    *,
    detection: str,
    title: str,
    severity: Severity,
    statement: str,
    items: Sequence[str] = (),
    mitre: tuple[str, ...],
    time: float,
    anchor: Iterable[str],
    entity: str,
    principal: str = "",
    principal_login: str = "",
    revision: int = 0,
    status: str = OPEN,
) -> Finding:
    """One finding: ``statement`` scored by ``severity``, then ``items`` (the records it names) as evidence."""
    evidence = [Evidence(EvidenceClass.FOLLOW_ON, statement, SEVERITY_POINTS[severity])]
    evidence += [Evidence(EvidenceClass.FOLLOW_ON, item, 0) for item in items]
    return build_finding(
        tenant,
        {},
        detection=detection,
        anchor=anchor,
        principal=principal,
        event_uuids=(),
        title=title,
        principal_login=principal_login,
        severity=severity,
        assessment=assess(evidence),  # nothing offered: never auto-enforced
        mitre=mitre,
        time=time,
        summary=statement,
        revision=revision,
        entity=entity,
        status=status,
    )


def day(epoch: float | None) -> str:
    """A record's time as a date (what an analyst compares), or ``never`` / ``unknown``."""
    if epoch is None:
        return "unknown"
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):  # a time no calendar holds: shown, not raised
        return "unknown"


def bounded(items: Sequence[str], limit: int) -> list[str]:
    """At most ``limit`` items, the rest counted in one last item, so a finding stays small however many
    records fail."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"... and {len(items) - limit} more"]
