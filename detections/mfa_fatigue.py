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

import bisect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import requester_signals
from detections.confidence import Action, Evidence, EvidenceClass, assess
from detections.event import Event, PushResponse
from detections.finding import Finding, Severity

PRESSURE = frozenset({PushResponse.DENY, PushResponse.TIMEOUT, PushResponse.WRONG_NUMBER})


@dataclass(frozen=True, slots=True)
class MfaFatigueConfig:
    window_s: float = 600.0  # the attempt: min_denials within this
    min_denials: int = 5
    accept_min_denials: int = 3  # the accepted variant: this many denials ...
    accept_window_s: float = 900.0  # ... within this before the accept
    suppress_s: float = 3600.0  # one finding per variant per user per hour
    lateness_s: float = 900.0  # how late an event may arrive and still count
    max_entries: int = 512  # bound per-user memory under a flood


@dataclass(slots=True)
class _Entry:
    time: float
    kind: str  # a PushResponse value
    uuid: str
    ip: str | None
    signals: str  # letters: G new geo, D new device, P anonymizer, T threat suspected
    authn: str | None  # debugData.authnRequestId: ties a push to the sign-in that requested it


@dataclass(slots=True)
class PushHistory:
    entries: list[_Entry] = field(default_factory=list)
    high_water: float = 0.0
    last_fired: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "e": [[e.time, e.kind, e.uuid, e.ip, e.signals, e.authn] for e in self.entries],
            "h": self.high_water,
            "f": self.last_fired,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PushHistory:
        return cls([_Entry(*row) for row in data["e"]], data["h"], dict(data["f"]))


class MfaFatigue:
    id: ClassVar[str] = "mfa_fatigue"
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True  # the tenant's listed service accounts are skipped by the engine

    def __init__(self, config: MfaFatigueConfig | None = None) -> None:
        self.config = config or MfaFatigueConfig()

    def state_key(self, event: Event) -> str | None:
        if event.push is None or not event.actor_id or not event.is_human:
            return None
        return event.actor_id

    def new_state(self) -> PushHistory:
        return PushHistory()

    def load_state(self, data: dict[str, Any]) -> PushHistory:
        return PushHistory.from_dict(data)

    def detect(self, event: Event, state: PushHistory) -> list[Finding]:
        cfg = self.config
        horizon = max(cfg.window_s, cfg.accept_window_s) + cfg.lateness_s
        if event.time < state.high_water - horizon:
            return []  # later than any window we still hold
        if any(e.uuid == event.uuid for e in state.entries):
            return []  # a replayed event
        assert event.push is not None
        authn = event.debug.get("authnrequestid")
        entry = _Entry(event.time, event.push.value, event.uuid, event.ip, requester_signals(event), authn or None)
        if entry.kind == PushResponse.SENT and self._is_fanout(state, entry):
            return []
        bisect.insort(state.entries, entry, key=lambda e: e.time)
        state.high_water = max(state.high_water, event.time)
        cutoff = state.high_water - horizon
        state.entries = [e for e in state.entries if e.time >= cutoff][-cfg.max_entries :]

        findings = []
        if entry.kind in PRESSURE:
            findings += self._attempt(event, state, entry)
        findings += self._accepted(event, state, entry)
        return findings

    def _is_fanout(self, state: PushHistory, entry: _Entry) -> bool:
        """One prompt is logged once per enrolled device: count it once (Okta bins at 2 s)."""
        return any(e.kind == PushResponse.SENT and abs(e.time - entry.time) <= 2.0 for e in state.entries)

    def _attempt(self, event: Event, state: PushHistory, new: _Entry) -> list[Finding]:
        cfg = self.config
        pressure = [e for e in state.entries if e.kind in PRESSURE]
        best: list[_Entry] = []
        for start in pressure:
            if not (start.time <= new.time <= start.time + cfg.window_s):
                continue
            run = [e for e in pressure if start.time <= e.time <= start.time + cfg.window_s]
            if len(run) > len(best):
                best = run
        if len(best) < cfg.min_denials or self._suppressed(state, "attempt", best[0].time):
            return []
        state.last_fired["attempt"] = best[0].time
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{len(best)} push denials or timeouts within {cfg.window_s / 60:g} min",
                30,
                tuple(e.uuid for e in best),
            ),
            *_signal_evidence(self._requests(state, best[0].time - 60, best[-1].time)),
        ]
        return [
            self._finding(
                event,
                "mfa_push_bombing",
                "MFA push bombing in progress",
                Severity.MEDIUM,
                assess(evidence),
                anchor=best[0].uuid,
                entries=best,
                summary=f"{len(best)} Okta Verify pushes denied or ignored in {cfg.window_s / 60:g} min",
            )
        ]

    def _accepted(self, event: Event, state: PushHistory, new: _Entry) -> list[Finding]:
        cfg = self.config
        accepts = (
            [new]
            if new.kind == PushResponse.ACCEPT
            else [
                e
                for e in state.entries
                if e.kind == PushResponse.ACCEPT and 0 <= e.time - new.time <= cfg.accept_window_s
            ]
        )
        findings = []
        for accept in accepts:
            before = [
                e for e in state.entries if e.kind in PRESSURE and 0 <= accept.time - e.time <= cfg.accept_window_s
            ]
            if len(before) < cfg.accept_min_denials or self._suppressed(state, "accepted", accept.time):
                continue
            state.last_fired["accepted"] = accept.time
            findings.append(self._accepted_finding(event, state, accept, before))
        return findings

    def _accepted_finding(self, event: Event, state: PushHistory, accept: _Entry, before: list[_Entry]) -> Finding:
        cfg = self.config
        in_window = [e for e in before if accept.time - e.time <= cfg.window_s]
        if len(in_window) >= cfg.min_denials:
            pattern = Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{len(in_window)} push denials or timeouts within {cfg.window_s / 60:g} min",
                30,
                tuple(e.uuid for e in in_window),
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
            for e in self._requests(state, accept.time - 60, accept.time)
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
        assessment = assess(evidence, offered=(Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD))
        return self._finding(
            event,
            "mfa_push_accepted",
            "Push accepted after MFA bombing",
            Severity.HIGH,
            assessment,
            anchor=accept.uuid,
            entries=[*before, accept],
            summary=f"push accepted after {len(before)} denials within {cfg.accept_window_s / 60:g} min",
        )

    @staticmethod
    def _requests(state: PushHistory, start: float, end: float) -> list[_Entry]:
        """Push prompts sent in [start, end]: they carry the requester's (attacker's) IP and novelty."""
        return [e for e in state.entries if e.kind == PushResponse.SENT and start <= e.time <= end]

    def _suppressed(self, state: PushHistory, variant: str, time: float) -> bool:
        last = state.last_fired.get(variant)
        return last is not None and abs(time - last) < self.config.suppress_s

    def _finding(
        self,
        event: Event,
        detection: str,
        title: str,
        severity: Severity,
        assessment: Any,
        *,
        anchor: str,
        entries: list[_Entry],
        summary: str,
    ) -> Finding:
        return Finding(
            detection=detection,
            title=title,
            tenant=event.tenant,
            principal=event.actor_id,
            principal_login=event.actor_login,
            severity=severity,
            assessment=assessment,
            dedup_key=f"{event.tenant}:{detection}:{event.actor_id}:{anchor}",
            event_uuids=tuple(e.uuid for e in entries),
            mitre=("T1621",) if detection == "mfa_push_bombing" else ("T1621", "T1078"),
            time=max(e.time for e in entries),
            summary=summary,
        )


_SIGNAL_EVIDENCE = {
    "G": (EvidenceClass.ANOMALY, "requested from a new geo-location (Okta behavior)", 15),
    "D": (EvidenceClass.ANOMALY, "requested from a new device (Okta behavior)", 10),
    "P": (EvidenceClass.INFRASTRUCTURE, "requested through an anonymizing proxy", 15),
    "T": (EvidenceClass.INFRASTRUCTURE, "Okta ThreatInsight suspected the requesting IP", 15),
}


def _signal_evidence(entries: list[_Entry]) -> list[Evidence]:
    evidence = []
    for letter, (cls, label, points) in _SIGNAL_EVIDENCE.items():
        uuids = tuple(e.uuid for e in entries if letter in e.signals)
        if uuids:
            evidence.append(Evidence(cls, label, points, uuids))
    return evidence
