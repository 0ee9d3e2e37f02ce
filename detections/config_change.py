"""Shared machinery for single-event tenant-configuration detections (admin grants, API tokens, tampering, support).

Configuration changes are not scored: each has a fixed severity and is
never auto-enforced. A finding still carries one FOLLOW_ON evidence item so the
analyst sees *what* changed; its points encode the fixed severity so the tier
routes it (high → page, medium → alert). Dedup keys use the changed object and
the event uuid (Panther dedups admin grants on the request), and a short
per-object suppression window absorbs bulk edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import Suppression, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity

SEVERITY_POINTS = {Severity.CRITICAL: 60, Severity.HIGH: 60, Severity.MEDIUM: 35, Severity.LOW: 20, Severity.INFO: 0}


@dataclass(frozen=True, slots=True)
class Change:
    """What one event changed, as a detection classifies it."""

    variant: str  # suppression bucket inside the object's state
    severity: Severity
    title: str
    label: str  # the evidence text
    mitre: tuple[str, ...]
    scope: str  # the changed object (state key)
    principal: str
    principal_login: str


@dataclass(slots=True)
class ChangeState:
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeState:
        return cls(Suppression.from_dict(data["sup"]))


class ConfigChangeDetection:
    """Subclasses set ``id`` and implement ``classify``; ``config.suppress_s`` is the per-object window."""

    id: ClassVar[str] = ""
    keyed_by_actor: ClassVar[bool] = False
    config: Any

    def classify(self, event: Event) -> Change | None:
        raise NotImplementedError

    def state_key(self, event: Event) -> str | None:
        if event.outcome == "FAILURE":
            return None
        change = self.classify(event)
        return change.scope if change is not None else None

    def new_state(self) -> ChangeState:
        return ChangeState()

    def load_state(self, data: dict[str, Any]) -> ChangeState:
        return ChangeState.from_dict(data)

    def expires_at(self, state: ChangeState) -> float:
        """The change only suppresses its repeats."""
        return state.sup.expires_at(self.config.suppress_s)

    def detect(self, event: Event, state: ChangeState) -> list[Finding]:
        change = self.classify(event)
        if change is None or not self.admit(event, state.sup, change.variant):
            return []
        return [self.finding(event, change)]

    def admit(self, event: Event, sup: Suppression, variant: str) -> bool:
        """Replay guard (the actor record's, when keyed by actor: the engine's), then the per-object suppression
        window; records the firing when admitted."""
        replayed = not self.keyed_by_actor and sup.replayed(event.uuid, event.time)
        if replayed or sup.suppressed(variant, event.time, self.config.suppress_s):
            return False
        sup.fire(variant, event.time)
        return True

    def finding(
        self, event: Event, change: Change, extra: Sequence[Evidence] = (), severity: Severity | None = None
    ) -> Finding:
        """The finding for one change: the change itself as evidence, plus ``extra`` items (escalations)."""
        severity = severity or change.severity
        by = event.actor_login or event.actor_id or "unknown actor"
        evidence = Evidence(EvidenceClass.FOLLOW_ON, change.label, SEVERITY_POINTS[severity], (event.uuid,))
        uuids = dict.fromkeys([event.uuid, *(u for e in extra for u in e.event_uuids)])
        return make_finding(
            event,
            detection=self.id,
            title=change.title,
            severity=severity,
            assessment=assess([evidence, *extra]),  # nothing offered: never auto-enforced
            anchor=(change.scope, event.uuid),
            event_uuids=tuple(uuids),
            mitre=change.mitre,
            time=event.time,
            summary=f"{change.label} (by {by} from {event.ip or 'no IP'})",
            principal=change.principal,
            principal_login=change.principal_login,
        )


def target_ref(target: dict[str, Any] | None) -> tuple[str, str]:
    """(id, alternateId or displayName) of a target entry; empty strings when absent."""
    if not target:
        return "", ""
    ident = target.get("id") or ""
    alternate = target.get("alternateId") or target.get("alternateid") or ""
    if alternate in ("", "unknown"):  # Okta writes "unknown" for non-user objects
        alternate = target.get("displayName") or target.get("displayname") or ""
    return str(ident), str(alternate)


def first_target(event: Event) -> dict[str, Any] | None:
    return event.targets[0] if event.targets else None
