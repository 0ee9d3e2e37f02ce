"""The explainable confidence model (docs/architecture.md#findings-and-the-confidence-model).

confidence = Σ evidence points − Σ dampener points, clipped to 0..100. Every
point a finding carries is an item a SOC analyst can read, and the action gates
are rules over those items, so "why did it suspend Bob?" always has an answer.
"""

from __future__ import annotations

import dataclasses
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
    # (g) who the target is, from the directory inventory (an admin, only weak factors): what is at stake, not
    # whether the attack happened, so it lifts a finding to high at most and never earns an action
    CONTEXT = "context"


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
    """Score the evidence and decide which of the detection's offered actions it earns.

    Context evidence (class ``context``) counts in the score, but the tier and the actions are decided on the
    rest: context can then lift the tier up to high (paged), never to high-confidence."""
    evidence = tuple(evidence)
    dampeners = tuple(dampeners)
    damped = sum(d.points for d in dampeners)
    context = sum(e.points for e in evidence if e.cls is EvidenceClass.CONTEXT)
    own = max(0, min(100, sum(e.points for e in evidence) - context - damped))
    classes = frozenset(e.cls for e in evidence if e.cls is not EvidenceClass.CONTEXT)
    tier = _tier(own, classes)
    score = own
    if context:
        score = max(0, min(100, own + context))
        lifted = min(_tier(score, classes), Tier.HIGH, key=_TIER_RANK.__getitem__)
        tier = max(tier, lifted, key=_TIER_RANK.__getitem__)
    verdict = any(e.vendor_verdict for e in evidence)
    return Assessment(evidence, dampeners, score, tier, _eligible(tier, own, classes, verdict, tuple(offered)))


_TIER_RANK = {tier: i for i, tier in enumerate(Tier)}


def with_context(assessment: Assessment, context: Iterable[Evidence]) -> Assessment:
    """``assessment`` with context items added (a detection's thresholds are met first, on its own evidence):
    they count in the score and may lift the tier up to high; the actions stay those the rest earned."""
    items = tuple(context)
    if not items:
        return assessment
    rescored = assess((*assessment.evidence, *items), assessment.dampeners)
    return dataclasses.replace(rescored, actions=assessment.actions)


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
