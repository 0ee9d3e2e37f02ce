"""The response policy of a tenant: which actions a finding gets, and how each runs (its mode).

Pure: no I/O, so the same decision is made in embedded mode, the Kafka action worker and a test. A
finding *earns* actions through its evidence (``detections.confidence``); the policy says what to do
with them. Per detection × tier (``response.policy``, the detection or tier may be ``"*"``) the actions
and their modes are stated outright; a finding no rule covers keeps today's behaviour: the earned actions
in ``response.actions``, each ``auto`` unless ``response.modes`` says otherwise, suspend ``approve``.

An action a rule names but the finding did not earn never runs by itself: ``auto`` becomes ``approve``
and a person decides on the evidence there is. Quarantine (a group the tenant's sign-on policy
restricts) is no detection's offer: it is earned wherever clearing sessions is, being as reversible.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detections.confidence import Action

ANY = "*"


class Mode(enum.StrEnum):
    AUTO = "auto"  # act at once
    APPROVE = "approve"  # ask a person; nothing is called until enough of them approve
    SHADOW = "shadow"  # decide and record "would have acted"; never call Okta
    OFF = "off"  # not at all


class ResponseAction(enum.StrEnum):
    """What the action worker can do to a user, least regret first: the detections' actions and quarantine."""

    CLEAR_SESSIONS = Action.CLEAR_SESSIONS.value
    EXPIRE_PASSWORD = Action.EXPIRE_PASSWORD.value
    RESET_FACTORS = Action.RESET_FACTORS.value
    SUSPEND = Action.SUSPEND.value
    QUARANTINE = "quarantine"


REVERSIBLE = frozenset({ResponseAction.SUSPEND, ResponseAction.QUARANTINE})
ORDER = {action: i for i, action in enumerate(ResponseAction)}
NOT_EARNED = "not earned by the finding's evidence: a person decides"

Rules = Mapping[str, Mapping[str, Mapping[ResponseAction, Mode]]]  # detection → tier → action → mode


@dataclass(frozen=True, slots=True)
class Planned:
    action: ResponseAction
    mode: Mode
    note: str = ""  # why the mode is not the one configured


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    allowed: frozenset[ResponseAction] = frozenset({ResponseAction.CLEAR_SESSIONS})
    modes: Mapping[ResponseAction, Mode] = field(default_factory=dict)
    rules: Rules = field(default_factory=dict)

    def plan(self, finding: Mapping[str, Any]) -> list[Planned]:
        """The actions this finding gets and the mode of each, least regret first; ``off`` ones left out."""
        earned = earned_actions(finding)
        rule = self.rule(finding.get("detection", ""), finding.get("tier", ""))
        if rule is None:  # today's behaviour: the earned actions the tenant allows
            rule = {a: self.modes.get(a, default_mode(a)) for a in earned & self.allowed}
        planned = []
        for action, mode in sorted(rule.items(), key=lambda item: ORDER[item[0]]):
            if mode is Mode.OFF:
                continue
            if mode is Mode.AUTO and action not in earned:
                planned.append(Planned(action, Mode.APPROVE, NOT_EARNED))
            else:
                planned.append(Planned(action, mode))
        return planned

    def rule(self, detection: str, tier: str) -> Mapping[ResponseAction, Mode] | None:
        """The most specific rule: this detection's (its tier, then any tier), then any detection's."""
        for name in (detection, ANY):
            tiers = self.rules.get(name)
            if tiers is not None:
                for key in (tier, ANY):
                    if key in tiers:
                        return tiers[key]
        return None


def default_mode(action: ResponseAction) -> Mode:
    """Suspend is never automatic; everything else a tenant allows runs by itself, as it always has."""
    return Mode.APPROVE if action is ResponseAction.SUSPEND else Mode.AUTO


def earned_actions(finding: Mapping[str, Any]) -> frozenset[ResponseAction]:
    known = {a.value for a in ResponseAction}
    earned = {ResponseAction(a) for a in finding.get("actions", ()) if a in known}
    if ResponseAction.CLEAR_SESSIONS in earned:
        earned.add(ResponseAction.QUARANTINE)
    return frozenset(earned)


@functools.cache
def finding_ids() -> frozenset[str]:
    """Every ``detection`` a finding can carry (the catalogue reads them from the detections' code)."""
    from detections.catalogue import entries

    return frozenset(f for entry in entries() for f in entry.findings)
