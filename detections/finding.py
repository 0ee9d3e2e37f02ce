"""What a detection emits: a finding with its evidence, score, tier and dedup key."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detections.confidence import Assessment


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """One alertable conclusion.

    ``dedup_key`` is derived only from the events that caused the finding, so a
    replay of the same events (after a crash, or on another worker) produces the
    same key and downstream sinks can drop the repeat. An attack that keeps
    growing (a spray reaching more users) is reported again under the same
    ``dedup_key`` with a higher ``revision``; ``record_key`` tells the revisions apart.
    """

    detection: str
    title: str
    tenant: str
    principal: str  # the Okta user id acted upon
    principal_login: str
    severity: Severity
    assessment: Assessment
    dedup_key: str
    event_uuids: tuple[str, ...]
    mitre: tuple[str, ...]
    time: float  # event time of the event that completed the finding
    summary: str
    revision: int = 0  # 0: the first report; n: the n-th update of the same attack
    entity: str = ""  # whom it is about, for grouping into incidents: "user:<id>", "ip:<address>", "tenant"
    where: Mapping[str, Any] = field(default_factory=dict)  # ip, asn, as_org, country, city of the event
    # "resolved": the condition it reported holds no more (a posture check passes again), as the last revision
    # of its dedup key; detections of events only ever emit "open"
    status: str = "open"
    # A credential attack's source IPs and how many users it targeted: what the engine flags tenant-wide
    # (detections/threat_signals.py). Not part of the record: the signal that cites them is.
    sources: tuple[str, ...] = field(default=(), compare=False)
    targeted: int = field(default=0, compare=False)

    @property
    def record_key(self) -> str:
        """Unique per revision: what stores that drop repeats key on."""
        return self.dedup_key if self.revision == 0 else f"{self.dedup_key}#{self.revision}"

    @property
    def confidence(self) -> int:
        return self.assessment.score

    def to_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "detection": self.detection,
            "title": self.title,
            "tenant": self.tenant,
            "principal": self.principal,
            "principal_login": self.principal_login,
            "severity": self.severity.value,
            "tier": a.tier.value,
            "confidence": a.score,
            "evidence": [e.to_dict() for e in a.evidence],
            "dampeners": [d.to_dict() for d in a.dampeners],
            "actions": [x.value for x in a.actions],
            "dedup_key": self.dedup_key,
            "revision": self.revision,
            "event_uuids": list(self.event_uuids),
            "mitre": list(self.mitre),
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "summary": self.summary,
            "entity": self.entity,
            "where": dict(self.where),
            "status": self.status,
        }


def latest_revisions(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per dedup key, its latest revision, in the order the keys first appeared."""
    latest: dict[str, Finding] = {}
    for finding in findings:
        if finding.dedup_key not in latest or finding.revision >= latest[finding.dedup_key].revision:
            latest[finding.dedup_key] = finding
    return list(latest.values())
