"""The explainable confidence model (docs/architecture.md#findings-and-the-confidence-model).

confidence = Σ evidence points − Σ dampener points, clipped to 0..100. Every
point a finding carries is an item a SOC analyst can read, and the action gates
are rules over those items, so "why did it suspend Bob?" always has an answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class EvidenceClass(enum.StrEnum):
    """Independent kinds of evidence; high confidence needs two of them."""

    ATTACK_PATTERN = "attack_pattern"  # (a) spray / bombing / brute-force threshold met
    ANOMALY = "anomaly"  # (b) new geo, new device, travel, session attribute change
    ACCESS = "access"  # (c) the attacker got in: accepted push, successful sign-in
    INFRASTRUCTURE = "infrastructure"  # (d) anonymizer, ThreatInsight, Okta risk
    USER_REPORT = "user_report"  # (e) the user said "this wasn't me"
    FOLLOW_ON = "follow_on"  # (f) sensitive action from the new session


class Tier(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    HIGH_CONFIDENCE = "high-confidence"


class Action(enum.StrEnum):
    """Enforcement the action worker knows how to call, least regret first."""

    CLEAR_SESSIONS = "clear_sessions"
    EXPIRE_PASSWORD = "expire_password"
    RESET_FACTORS = "reset_factors"
    SUSPEND = "suspend"


CREDENTIAL_ACTIONS = frozenset({Action.EXPIRE_PASSWORD, Action.RESET_FACTORS})


@dataclass(frozen=True, slots=True)
class Evidence:
    cls: EvidenceClass
    label: str
    points: int
    event_uuids: tuple[str, ...] = ()
    # Okta's own verdict (ITP High, ThreatInsight on a success): earns the low-regret action alone,
    # as Okta ITP answers these with Universal Logout.
    vendor_verdict: bool = False

    def to_dict(self) -> dict:
        return {
            "class": self.cls.value,
            "label": self.label,
            "points": self.points,
            "event_uuids": list(self.event_uuids),
        }


@dataclass(frozen=True, slots=True)
class Dampener:
    label: str
    points: int

    def to_dict(self) -> dict:
        return {"label": self.label, "points": -self.points}


@dataclass(frozen=True, slots=True)
class Assessment:
    evidence: tuple[Evidence, ...]
    dampeners: tuple[Dampener, ...]
    score: int
    tier: Tier
    actions: tuple[Action, ...]

    @property
    def classes(self) -> frozenset[EvidenceClass]:
        return frozenset(e.cls for e in self.evidence)


def assess(
    evidence: Iterable[Evidence],
    dampeners: Iterable[Dampener] = (),
    offered: Iterable[Action] = (),
) -> Assessment:
    """Score the evidence and decide which of the detection's offered actions it earns."""
    evidence = tuple(evidence)
    dampeners = tuple(dampeners)
    score = max(0, min(100, sum(e.points for e in evidence) - sum(d.points for d in dampeners)))
    classes = frozenset(e.cls for e in evidence)
    tier = _tier(score, classes)
    verdict = any(e.vendor_verdict for e in evidence)
    return Assessment(evidence, dampeners, score, tier, _eligible(tier, score, classes, verdict, tuple(offered)))


def _tier(score: int, classes: frozenset[EvidenceClass]) -> Tier:
    if score >= 85 and len(classes) >= 2:
        return Tier.HIGH_CONFIDENCE
    if score >= 60:
        return Tier.HIGH
    if score >= 35:
        return Tier.MEDIUM
    return Tier.LOW


def _eligible(
    tier: Tier, score: int, classes: frozenset[EvidenceClass], verdict: bool, offered: tuple[Action, ...]
) -> tuple[Action, ...]:
    """The gates: low-regret on high confidence, a user report or Okta's own verdict; credentials only after access."""
    confident = tier is Tier.HIGH_CONFIDENCE
    eligible: list[Action] = []
    for action in offered:
        if action is Action.CLEAR_SESSIONS:
            ok = confident or verdict or EvidenceClass.USER_REPORT in classes
        elif action in CREDENTIAL_ACTIONS:
            ok = confident and EvidenceClass.ACCESS in classes
        else:  # SUSPEND: a tenant must also opt in; the worker checks that
            ok = score >= 95 and len(classes) >= 3
        if ok:
            eligible.append(action)
    return tuple(eligible)
