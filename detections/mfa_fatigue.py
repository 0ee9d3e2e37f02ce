"""MFA fatigue (push bombing): many push denials for one user, and the accept that ends them.

An attacker who holds the password sends push after push until the user gives
in. Denials alone mean an attack is in progress but nobody got in
(``mfa_push_bombing``, medium). Denials followed by an accepted push mean the
attacker probably holds a session now (``mfa_push_accepted``, high): the
accepted variant earns session clearing and a password expiry when the
evidence is strong enough (Elastic "Potentially Successful Okta MFA Bombing via Push Notifications").

Counted as pressure: denials (Classic ``deny_push``, OIE ``auth_via_mfa``
FAILURE on Okta Verify), unanswered pushes and wrong number-challenge answers;
never password-as-factor failures. Windows use event time and keep a lateness
margin, because the System Log delivers events in storage order, not
``published`` order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from detections.baseline import Novelty
from detections.columns import columns, rows
from detections.common import Suppression, make_finding, requester_signals
from detections.confidence import Action, Evidence, EvidenceClass, assess
from detections.directory import NO_DIRECTORY, DirectoryFacts, TargetContext, target_context
from detections.event import PUSH_EVENT_TYPES, Event, PushResponse
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Episode, Window

PRESSURE = frozenset({PushResponse.DENY, PushResponse.TIMEOUT, PushResponse.WRONG_NUMBER})
FANOUT_S = 2.0  # one prompt is logged once per enrolled device (Okta bins them at 2 s)


@dataclass(frozen=True, slots=True)
class MfaFatigueConfig:
    window_s: float = 600.0  # the attempt: min_denials within this
    min_denials: int = 5
    accept_min_denials: int = 3  # the accepted variant: this many denials ...
    accept_window_s: float = 900.0  # ... within this before the accept
    suppress_s: float = 3600.0  # a pause this long ends the bombing; one accepted finding per user per hour
    lateness_s: float = 900.0  # how late an event may arrive and still count
    max_entries: int = 512  # bound per-user memory under a flood (per kind: prompts, pressure, accepts)


@dataclass(slots=True)
class _Entry:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "k", "ip", "sg", "au", "w")
    time: float
    key: str  # the uuid
    ip: str | None
    signals: str  # letters (common.requester_signals): G new place, N new network, D new device, H odd hour, P, T
    authn: str | None  # debugData.authnRequestId: ties a push to the sign-in that requested it
    why: str = ""  # what was new for the user about the requester, and the user's usual

    @property
    def uuid(self) -> str:
        return self.key


@dataclass(slots=True)
class PushHistory:
    """One user's pushes by kind, on one clock: prompts sent, pressure (denied, ignored, wrong number), accepts."""

    prompts: Window[_Entry]
    pressure: Window[_Entry]
    accepts: Window[_Entry]
    bombing: Episode | None  # the bombing reported and still going on
    sup: Suppression  # the accepted variant: once per user per hour

    def windows(self) -> tuple[Window[_Entry], ...]:
        return self.prompts, self.pressure, self.accepts

    def to_dict(self) -> dict[str, Any]:
        return {
            "w": [columns(_Entry, w) for w in self.windows()],
            "h": self.pressure.high_water,
            "b": self.bombing.to_dict() if self.bombing else None,
            "sup": self.sup.to_dict(),
        }


class MfaFatigue:
    id: ClassVar[str] = "mfa_fatigue"
    event_types: ClassVar[frozenset[str] | None] = PUSH_EVENT_TYPES
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True  # the tenant's listed service accounts are skipped by the engine
    reads_baseline: ClassVar[bool] = True  # is the requester new for the user?
    reads_directory: ClassVar[bool] = True  # is the user an admin, are all their factors ones fatigue wears down?

    def __init__(self, config: MfaFatigueConfig | None = None) -> None:
        self.config = config or MfaFatigueConfig()
        self.horizon = max(self.config.window_s, self.config.accept_window_s) + self.config.lateness_s

    def state_key(self, event: Event) -> str | None:
        if event.push is None or not event.actor_id or not event.is_human:
            return None
        return event.actor_id

    def new_state(self) -> PushHistory:
        return self.load_state({"w": [[], [], []], "h": 0.0, "b": None, "sup": {}})

    def load_state(self, data: dict[str, Any]) -> PushHistory:
        prompts, pressure, accepts = (
            Window(self.horizon, self.config.max_entries, rows(_Entry, entries), data["h"]) for entries in data["w"]
        )
        return PushHistory(prompts, pressure, accepts, Episode.from_dict(data["b"]), Suppression.from_dict(data["sup"]))

    def expires_at(self, state: PushHistory) -> float:
        """Its windows, the bombing under way until a pause of ``suppress_s`` ends it, the accepted suppression."""
        bombing = state.bombing.expires_at(self.config.suppress_s) if state.bombing else None
        windows = (w.expires_at() for w in state.windows())
        return horizon(*windows, bombing, state.sup.expires_at(self.config.suppress_s))

    def detect(
        self, event: Event, state: PushHistory, novelty: Novelty, *, directory: DirectoryFacts = NO_DIRECTORY
    ) -> list[Finding]:
        assert event.push is not None
        authn = event.debug.get("authnrequestid")
        signals, why = requester_signals(event, novelty) if event.push is PushResponse.SENT else ("", "")
        entry = _Entry(event.time, event.uuid, event.ip, signals, authn or None, why)
        kind = self._window(state, event.push)
        if kind is None or any(w.holds(entry.key) for w in state.windows()):
            return []  # not a push we count, or a replayed event
        if kind is state.prompts and self._is_fanout(state, entry):
            return []
        if not kind.add(entry):
            return []  # later than any window we still hold
        for window in state.windows():
            window.advance(kind.high_water)
        findings = []
        if kind is state.pressure:
            findings += self._bombing(event, state, entry, directory)
        elif kind is state.prompts and state.bombing is not None and state.bombing.ongoing(entry.time, 60):
            state.bombing.note(*(f"sig:{x}" for x in entry.signals))
        findings += self._accepted(event, state, entry, kind, directory)
        return findings

    @staticmethod
    def _window(state: PushHistory, push: PushResponse) -> Window[_Entry] | None:
        if push is PushResponse.SENT:
            return state.prompts
        if push is PushResponse.ACCEPT:
            return state.accepts
        return state.pressure if push in PRESSURE else None

    @staticmethod
    def _is_fanout(state: PushHistory, entry: _Entry) -> bool:
        """One prompt is logged once per enrolled device: count it once."""
        return state.prompts.count(entry.time - FANOUT_S, entry.time + FANOUT_S) > 0

    def _bombing(self, event: Event, state: PushHistory, new: _Entry, directory: DirectoryFacts) -> list[Finding]:
        cfg = self.config
        bombing = state.bombing
        if bombing is not None and bombing.ongoing(new.time, cfg.suppress_s):
            bombing.add(new.key, new.time, ("n",))
            return self._report(event, state, bombing, directory)
        start, end = state.pressure.span_around(new.time, cfg.window_s)
        if state.pressure.count(start, end) < cfg.min_denials:
            return []
        run = state.pressure.between(start, end)
        state.bombing = bombing = Episode(run[0].key, run[0].time, run[-1].time, 0)
        for e in run:
            bombing.add(e.key, e.time, ("n",))
        for prompt in state.prompts.between(run[0].time - 60, run[-1].time):
            bombing.note(*(f"sig:{x}" for x in prompt.signals))
        return self._report(event, state, bombing, directory)

    def _report(self, event: Event, state: PushHistory, bombing: Episode, directory: DirectoryFacts) -> list[Finding]:
        """The bombing's finding, when it opens and each time the pressure has doubled (or the tier moved)."""
        cfg = self.config
        count = bombing.count("n")
        minutes = (bombing.last - bombing.start) / 60
        within = f"within {cfg.window_s / 60:g} min" if minutes <= cfg.window_s / 60 else f"in {minutes:.0f} min"
        uuids = tuple(bombing.uuids)
        letters = [letter for letter in _SIGNAL_EVIDENCE if bombing.count(f"sig:{letter}")]
        pattern = Evidence(EvidenceClass.ATTACK_PATTERN, f"{count} push denials or timeouts {within}", 30, uuids)
        context = _context(directory, event)

        def evidence(label: Callable[[str, str], str]) -> list[Evidence]:
            signals = [(letter, *_SIGNAL_EVIDENCE[letter]) for letter in letters]
            items = (Evidence(cls, label(text, letter), pts, uuids) for letter, cls, text, pts in signals)
            return [pattern, *items, *context.evidence]

        assessment = assess(evidence(lambda text, _: text))
        if not bombing.grown(count, assessment.tier.value):
            return []  # decided on the points alone: the explanations below read the prompts, only when reporting
        prompts = state.prompts.between(bombing.start - 60, bombing.last)
        assessment = assess(evidence(lambda text, letter: _explained(text, letter, prompts)))
        return [
            self._finding(
                event,
                "mfa_push_bombing",
                "MFA push bombing in progress",
                context.severity(Severity.MEDIUM),
                assessment,
                anchor=bombing.anchor,
                uuids=uuids,
                time=bombing.last,
                summary=f"{count} Okta Verify pushes denied or ignored {within}",
                revision=bombing.reported_as(count, assessment.tier.value),
            )
        ]

    def _accepted(
        self, event: Event, state: PushHistory, new: _Entry, kind: Window[_Entry], directory: DirectoryFacts
    ) -> list[Finding]:
        """An accept after enough pressure: on the accept itself, or when late pressure completes the chain."""
        cfg = self.config
        if kind is state.accepts:
            accepts = [new]
        elif kind is state.pressure:
            accepts = state.accepts.between(new.time, new.time + cfg.accept_window_s)
        else:
            return []
        findings = []
        for accept in accepts:
            if state.sup.suppressed("accepted", accept.time, cfg.suppress_s):
                continue
            if state.pressure.count(accept.time - cfg.accept_window_s, accept.time) < cfg.accept_min_denials:
                continue
            state.sup.fire("accepted", accept.time)
            before = state.pressure.between(accept.time - cfg.accept_window_s, accept.time)
            findings.append(self._accepted_finding(event, state, accept, before, _context(directory, event)))
        return findings

    def _accepted_finding(
        self, event: Event, state: PushHistory, accept: _Entry, before: list[_Entry], context: TargetContext
    ) -> Finding:
        cfg = self.config
        in_window = state.pressure.count(accept.time - cfg.window_s, accept.time)
        if in_window >= cfg.min_denials:
            pattern = Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{in_window} push denials or timeouts within {cfg.window_s / 60:g} min",
                30,
                tuple(e.uuid for e in state.pressure.between(accept.time - cfg.window_s, accept.time)),
            )
        else:
            pattern = Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{len(before)} push denials or timeouts before the accept",
                20,
                tuple(e.uuid for e in before),
            )
        # Novelty counts where the accepted prompt was requested (the sign-in), not where it was answered (the phone).
        requests = [
            e
            for e in state.prompts.between(accept.time - 60, accept.time)
            if accept.authn is None or e.authn in (None, accept.authn)
        ]
        evidence = [
            pattern,
            Evidence(EvidenceClass.ACCESS, f"push accepted after {len(before)} denials", 35, (accept.uuid,)),
            *_signal_evidence(requests),
        ]
        mismatched = [e for e in requests if e.ip != accept.ip and ("G" in e.signals or "D" in e.signals)]
        if mismatched:
            evidence.append(
                Evidence(
                    EvidenceClass.ACCESS,
                    f"push requested from new device/location {mismatched[-1].ip}, answered from {accept.ip}",
                    20,
                    tuple(e.uuid for e in mismatched),
                )
            )
        assessment = assess([*evidence, *context.evidence], offered=(Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD))
        return self._finding(
            event,
            "mfa_push_accepted",
            "Push accepted after MFA bombing",
            context.severity(Severity.HIGH),
            assessment,
            anchor=accept.uuid,
            uuids=tuple(e.uuid for e in [*before, accept]),
            time=accept.time,
            summary=f"push accepted after {len(before)} denials within {cfg.accept_window_s / 60:g} min",
        )

    def _finding(
        self,
        event: Event,
        detection: str,
        title: str,
        severity: Severity,
        assessment: Any,
        *,
        anchor: str,
        uuids: tuple[str, ...],
        time: float,
        summary: str,
        revision: int = 0,
    ) -> Finding:
        return make_finding(
            event,
            detection=detection,
            title=title,
            severity=severity,
            assessment=assessment,
            anchor=(anchor,),
            event_uuids=uuids,
            mitre=("T1621",) if detection == "mfa_push_bombing" else ("T1621", "T1078"),
            time=time,
            summary=summary,
            revision=revision,
        )


# A network or a device new to the user, requesting the pushes, lifts the bombing to medium on its own.
_SIGNAL_EVIDENCE = {
    "G": (EvidenceClass.ANOMALY, "requested from a place new for the user", 15),
    "N": (EvidenceClass.ANOMALY, "requested from a network new for the user", 10),
    "D": (EvidenceClass.ANOMALY, "requested from a device new for the user", 10),
    "H": (EvidenceClass.ANOMALY, "requested at an hour the user never signs in (per the user's baseline)", 5),
    "P": (EvidenceClass.INFRASTRUCTURE, "requested through an anonymizing proxy", 15),
    "T": (EvidenceClass.INFRASTRUCTURE, "Okta ThreatInsight suspected the requesting IP", 15),
}
_NOVELTY = frozenset("GND")


def _context(directory: DirectoryFacts, event: Event) -> TargetContext:
    """The directory's word on the pushed user (the event's actor): an admin, factors fatigue wears down."""
    return target_context(directory, event.actor_id, weak_factors=True)


def _explained(label: str, letter: str, prompts: list[_Entry]) -> str:
    """A novelty's label with what was new and the user's usual, from the newest prompt that showed it."""
    if letter not in _NOVELTY:
        return label
    why = next((e.why for e in reversed(prompts) if letter in e.signals and e.why), "")
    return f"{label}: {why}" if why else label


def _signal_evidence(entries: list[_Entry]) -> list[Evidence]:
    evidence = []
    for letter, (cls, label, points) in _SIGNAL_EVIDENCE.items():
        uuids = tuple(e.uuid for e in entries if letter in e.signals)
        if uuids:
            evidence.append(Evidence(cls, _explained(label, letter, entries), points, uuids))
    return evidence
