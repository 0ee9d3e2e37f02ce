"""Brute force against one user: many failed passwords, or repeated lockouts, for one account.

Why: depth against one account (from one or many sources) means someone is
guessing that user's password; lockouts repeating means the guessing outlasts
Okta's own lockout (Panther Standard.BruteForceByUser; Elastic's Okta brute-force rules). Keyed by the attempted
login (unknown usernames included).

Counted: the same wrong-password failures as ``password_spray`` (incl.
Identity Engine ``PASSWORD_AS_FACTOR``), one per transaction. Fires when
≥ 10 failures fall within 30 min (Elastic's multi-source count; the distinct IP /
ASN / country counts go into the evidence text, several sources adding an
INFRASTRUCTURE item), or ≥ 3 ``user.account.lock`` within 3 h (Elastic). The
attack then stays one finding per variant until it pauses for an hour, revised
each time its count doubles. No automatic action: Okta's lockout
already acts, and a success afterwards is a separate, stronger signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from detections.columns import columns, rows
from detections.common import PASSWORD_FAILURE_TYPES, attempt_id, event_subject, is_password_failure, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Episode, Window

LOCK = "user.account.lock"
MAX_SOURCES = 64  # source IPs one finding hands to the signal book


@dataclass(frozen=True, slots=True)
class BruteForceConfig:
    window_s: float = 1800.0
    min_attempts: int = 10
    multi_source_ips: int = 5  # this many distinct IPs adds an INFRASTRUCTURE item
    lock_window_s: float = 3 * 3600.0
    min_locks: int = 3
    lateness_s: float = 900.0
    suppress_s: float = 3600.0  # a pause this long ends the attack; the next one is a new finding
    max_entries: int = 512
    max_tracked: int = 10_000  # distinct IPs / ASNs / countries one finding counts exactly


@dataclass(slots=True)
class _Try:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "k", "id", "ip", "as", "c")
    time: float
    key: str
    uuid: str
    ip: str | None
    asn: int | None
    country: str | None


@dataclass(slots=True)
class BruteForceState:
    """Failed passwords and lockouts of one login, on one clock, and the attack of each kind under way."""

    fails: Window[_Try]
    locks: Window[_Try]
    episodes: dict[str, Episode]  # "fail" / "lock" → the attack reported and still going on

    def to_dict(self) -> dict[str, Any]:
        return {
            "f": columns(_Try, self.fails),
            "l": columns(_Try, self.locks),
            "h": self.fails.high_water,
            "e": {kind: e.to_dict() for kind, e in self.episodes.items()},
        }


class BruteForce:
    id: ClassVar[str] = "brute_force"
    event_types: ClassVar[frozenset[str] | None] = PASSWORD_FAILURE_TYPES | {LOCK}
    keyed_by_actor: ClassVar[bool] = False
    mitre: ClassVar[tuple[str, ...]] = ("T1110.001",)

    def __init__(self, config: BruteForceConfig | None = None) -> None:
        self.config = config or BruteForceConfig()
        self.horizon = max(self.config.window_s, self.config.lock_window_s) + self.config.lateness_s

    def state_key(self, event: Event) -> str | None:
        if event.event_type != LOCK and not is_password_failure(event):
            return None
        if event.actor_login == "system@okta.com" or (event.actor_type and event.actor_type.lower() != "user"):
            return None
        return event_subject(event) or None

    def new_state(self) -> BruteForceState:
        return self.load_state({"f": [], "l": [], "h": 0.0, "e": {}})

    def load_state(self, data: dict[str, Any]) -> BruteForceState:
        fails, locks = (Window(self.horizon, self.config.max_entries, rows(_Try, data[k]), data["h"]) for k in "fl")
        episodes = {kind: Episode.from_dict(e) for kind, e in data["e"].items()}
        return BruteForceState(fails, locks, {k: e for k, e in episodes.items() if e is not None})

    def expires_at(self, state: BruteForceState) -> float:
        """Its windows, and the attacks under way until a pause of ``suppress_s`` ends them."""
        episodes = (e.expires_at(self.config.suppress_s) for e in state.episodes.values())
        return horizon(state.fails.expires_at(), state.locks.expires_at(), *episodes)

    def detect(self, event: Event, state: BruteForceState) -> list[Finding]:
        cfg = self.config
        kind = "lock" if event.event_type == LOCK else "fail"
        window, width, needed = (
            (state.locks, cfg.lock_window_s, cfg.min_locks)
            if kind == "lock"
            else (state.fails, cfg.window_s, cfg.min_attempts)
        )
        new = _Try(
            event.time,
            event.uuid if kind == "lock" else attempt_id(event),
            event.uuid,
            event.ip,
            event.asn,
            event.geo.country,
        )
        if max(state.fails.high_water, state.locks.high_water) - self.horizon > new.time or not window.add(new):
            return []  # too late, a replay, or the same attempt logged twice
        for w in (state.fails, state.locks):
            w.advance(window.high_water)
        episode = state.episodes.get(kind)
        if episode is None or not episode.ongoing(new.time, cfg.suppress_s):
            start, end = window.span_around(new.time, width)
            if window.count(start, end) < needed:
                return []
            run = window.between(start, end)
            state.episodes[kind] = episode = Episode(run[0].uuid, run[0].time, run[-1].time, cfg.max_tracked)
        else:
            run = [new]
        for x in run:
            episode.add(x.uuid, x.time, ("n",), ip=x.ip, asn=None if x.asn is None else str(x.asn), country=x.country)
        return self._report(event, kind, episode, width)

    def _report(self, event: Event, kind: str, episode: Episode, window: float) -> list[Finding]:
        cfg = self.config
        count, ips = episode.count("n"), episode.distinct_count("ip")
        uuids = tuple(episode.uuids)
        what = "account lockouts" if kind == "lock" else "failed passwords"
        minutes = (episode.last - episode.start) / 60
        within = f"within {window / 60:g} min" if minutes <= window / 60 else f"in {minutes:.0f} min"
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{count} {what} {within} from {ips} IPs, {episode.distinct_count('asn')} ASNs,"
                f" {episode.distinct_count('country')} countries",
                30,
                uuids,
            )
        ]
        if kind == "fail" and ips >= cfg.multi_source_ips:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, f"distributed over {ips} source IPs", 15, uuids))
        assessment = assess(evidence)
        if not episode.grown(count, assessment.tier.value):
            return []
        return [
            make_finding(
                event,
                detection="brute_force_lockouts" if kind == "lock" else self.id,
                title="Repeated lockouts of one account" if kind == "lock" else "Password brute force against one user",
                severity=Severity.MEDIUM,
                assessment=assessment,
                anchor=(episode.anchor,),
                event_uuids=uuids,
                mitre=self.mitre,
                time=episode.last,
                summary=f"{count} {what} for {event.actor_login or event.actor_id} {within}",
                principal=event.actor_id,
                principal_login=event.actor_login,
                revision=episode.reported_as(count, assessment.tier.value),
                sources=sorted(episode.distinct.get("ip", ()))[:MAX_SOURCES],
                targeted=1,
            )
        ]
