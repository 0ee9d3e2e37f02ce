"""Brute force against one user: many failed passwords, or repeated lockouts, for one account.

Why: depth against one account (from one or many sources) means someone is
guessing that user's password; lockouts repeating means the guessing outlasts
Okta's own lockout (Panther Standard.BruteForceByUser; Elastic's Okta brute-force rules). Keyed by the attempted
login (unknown usernames included).

Counted: the same wrong-password failures as ``password_spray`` (incl.
Identity Engine ``PASSWORD_AS_FACTOR``), one per transaction. Fires when
≥ 10 failures fall within 30 min (Elastic's multi-source count; the distinct IP /
ASN / country counts go into the evidence text, several sources adding an
INFRASTRUCTURE item), or ≥ 3 ``user.account.lock`` within 3 h (Elastic). One
finding per variant per user per hour. No automatic action: Okta's lockout
already acts, and a success afterwards is a separate, stronger signal.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import Suppression, attempt_id, event_subject, is_password_failure, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity

LOCK = "user.account.lock"


@dataclass(frozen=True, slots=True)
class BruteForceConfig:
    window_s: float = 1800.0
    min_attempts: int = 10
    multi_source_ips: int = 5  # this many distinct IPs adds an INFRASTRUCTURE item
    lock_window_s: float = 3 * 3600.0
    min_locks: int = 3
    lateness_s: float = 900.0
    suppress_s: float = 3600.0
    max_entries: int = 512


@dataclass(slots=True)
class _Try:
    time: float
    key: str
    uuid: str
    kind: str  # "fail" or "lock"
    ip: str | None
    asn: int | None
    country: str | None


@dataclass(slots=True)
class BruteForceState:
    tries: list[_Try] = field(default_factory=list)
    high_water: float = 0.0
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": [[x.time, x.key, x.uuid, x.kind, x.ip, x.asn, x.country] for x in self.tries],
            "h": self.high_water,
            "sup": self.sup.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BruteForceState:
        return cls([_Try(*row) for row in data["t"]], data["h"], Suppression.from_dict(data["sup"]))


class BruteForce:
    id: ClassVar[str] = "brute_force"
    keyed_by_actor: ClassVar[bool] = False
    mitre: ClassVar[tuple[str, ...]] = ("T1110.001",)

    def __init__(self, config: BruteForceConfig | None = None) -> None:
        self.config = config or BruteForceConfig()

    def state_key(self, event: Event) -> str | None:
        if event.event_type != LOCK and not is_password_failure(event):
            return None
        if event.actor_login == "system@okta.com" or (event.actor_type and event.actor_type.lower() != "user"):
            return None
        return event_subject(event) or None

    def new_state(self) -> BruteForceState:
        return BruteForceState()

    def load_state(self, data: dict[str, Any]) -> BruteForceState:
        return BruteForceState.from_dict(data)

    def detect(self, event: Event, state: BruteForceState) -> list[Finding]:
        cfg = self.config
        horizon = max(cfg.window_s, cfg.lock_window_s) + cfg.lateness_s
        if event.time < state.high_water - horizon:
            return []
        kind = "lock" if event.event_type == LOCK else "fail"
        key = event.uuid if kind == "lock" else attempt_id(event)
        if any(x.key == key for x in state.tries):
            return []
        new = _Try(event.time, key, event.uuid, kind, event.ip, event.asn, event.geo.country)
        bisect.insort(state.tries, new, key=lambda x: x.time)
        state.high_water = max(state.high_water, event.time)
        state.tries = [x for x in state.tries if x.time >= state.high_water - horizon][-cfg.max_entries :]
        window = cfg.lock_window_s if kind == "lock" else cfg.window_s
        needed = cfg.min_locks if kind == "lock" else cfg.min_attempts
        run = self._densest(state, new, kind, window)
        if len(run) < needed or state.sup.suppressed(kind, run[0].time, cfg.suppress_s):
            return []
        state.sup.fire(kind, run[0].time)
        return [self._finding(event, kind, run, window)]

    @staticmethod
    def _densest(state: BruteForceState, new: _Try, kind: str, window: float) -> list[_Try]:
        same = [x for x in state.tries if x.kind == kind]
        best: list[_Try] = []
        for start in same:
            if start.time <= new.time <= start.time + window:
                run = [x for x in same if start.time <= x.time <= start.time + window]
                if len(run) > len(best):
                    best = run
        return best

    def _finding(self, event: Event, kind: str, run: list[_Try], window: float) -> Finding:
        cfg = self.config
        uuids = tuple(x.uuid for x in run)
        ips = {x.ip for x in run if x.ip}
        asns = {x.asn for x in run if x.asn is not None}
        countries = {x.country for x in run if x.country}
        what = "account lockouts" if kind == "lock" else "failed passwords"
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{len(run)} {what} within {window / 60:g} min from {len(ips)} IPs, {len(asns)} ASNs,"
                f" {len(countries)} countries",
                30,
                uuids,
            )
        ]
        if kind == "fail" and len(ips) >= cfg.multi_source_ips:
            evidence.append(
                Evidence(EvidenceClass.INFRASTRUCTURE, f"distributed over {len(ips)} source IPs", 15, uuids)
            )
        return make_finding(
            event,
            detection="brute_force_lockouts" if kind == "lock" else self.id,
            title="Repeated lockouts of one account" if kind == "lock" else "Password brute force against one user",
            severity=Severity.MEDIUM,
            assessment=assess(evidence),
            anchor=(run[0].uuid,),
            event_uuids=uuids,
            mitre=self.mitre,
            time=run[-1].time,
            summary=f"{len(run)} {what} for {event.actor_login or event.actor_id} within {window / 60:g} min",
            principal=event.actor_id,
            principal_login=event.actor_login,
        )
