"""What a detection emits: a finding with its evidence, score, tier and dedup key."""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
    same key and downstream sinks can drop the repeat.
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
            "event_uuids": list(self.event_uuids),
            "mitre": list(self.mitre),
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "summary": self.summary,
        }
