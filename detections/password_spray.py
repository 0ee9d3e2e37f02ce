"""Password spray from one source: one IP failing passwords for many distinct users.

Why: spraying tries one or two common passwords against many accounts to stay
under per-user lockout; the signature is breadth per source, not depth per user
(Elastic "Potential Okta Password Spray (Single Source)"). Keyed by client IP.

Counted: wrong-password failures - ``user.session.start`` /
``user.authentication.auth*`` FAILURE with INVALID_CREDENTIALS, LOCKED_OUT,
VERIFICATION_ERROR..., and in Identity Engine ``user.authentication.auth_via_mfa``
FAILURE with ``factor=PASSWORD_AS_FACTOR`` (the password is a factor there).
Unknown usernames count too (they are the stuffing signal). One transaction
that logs the same attempt twice counts once.

Fires when ≥ 10 distinct users and ≥ 10 attempts fail from one IP within 1 h
(event time, ≤ 15 min lateness tolerated). The spray then stays one finding
until it pauses for an hour: each time the number of users it reached doubles
(or its tier changes) the finding is revised under the same dedup key, and
its tier matches the threat: ten users are medium (35), ≥ 100 users add +25 and
an anonymizer +25 (either makes it high), ≥ 1,000 users +15 more, ThreatInsight +15. Allowlisted
corporate egress is skipped (the anchors' main FP): CIDRs only, the tenant
context's ``egress_cidrs`` merged in; an ASN or a VPN operator is shared with
attackers, too coarse to silence a spray. Service accounts count as targets.
No user to act on, so no automatic action: blocking the IP in a network zone
is a human decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from detections import geo
from detections.columns import columns, rows
from detections.common import PASSWORD_FAILURE_TYPES, attempt_id, event_subject, is_password_failure, make_finding
from detections.confidence import Evidence, EvidenceClass, Tier, assess
from detections.event import Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Episode, LastSeen, Window


@dataclass(frozen=True, slots=True)
class PasswordSprayConfig:
    window_s: float = 3600.0
    min_users: int = 10
    min_attempts: int = 10
    lateness_s: float = 900.0
    suppress_s: float = 3600.0  # a pause this long ends the spray; the next one is a new finding
    allowlist_cidrs: tuple[str, ...] = ()  # corporate egress / VPN concentrators
    max_entries: int = 2000
    max_tracked: int = 50_000  # distinct users one spray's finding counts exactly ("at least" beyond)
    large_users: int = 100  # this many users is a large spray (+15) ...
    massive_users: int = 1000  # ... and this many a massive one (+15 more)


@dataclass(slots=True)
class _Attempt:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "k", "id", "u", "fl")
    time: float
    key: str  # attempt id (transaction + user, or uuid)
    uuid: str
    user: str
    flags: str  # T ThreatInsight suspected, P anonymizer


@dataclass(slots=True)
class SprayState:
    attempts: Window[_Attempt]
    users: LastSeen  # distinct users in the window, by their latest attempt
    spray: Episode | None = None  # the spray reported and still going on

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": columns(_Attempt, self.attempts),
            "h": self.attempts.high_water,
            "u": self.users.to_dict(),
            "e": self.spray.to_dict() if self.spray else None,
        }


class PasswordSpray:
    id: ClassVar[str] = "password_spray"
    event_types: ClassVar[frozenset[str] | None] = PASSWORD_FAILURE_TYPES
    keyed_by_actor: ClassVar[bool] = False
    mitre: ClassVar[tuple[str, ...]] = ("T1110.003",)

    def __init__(self, config: PasswordSprayConfig | None = None) -> None:
        self.config = config or PasswordSprayConfig()

    def state_key(self, event: Event) -> str | None:
        if not event.ip or not is_password_failure(event) or event.actor_login == "system@okta.com":
            return None
        if geo.ip_in(event.ip, self.config.allowlist_cidrs):
            return None
        return event.ip

    def new_state(self) -> SprayState:
        return self.load_state({"a": [], "h": 0.0, "u": {}, "e": None})

    def load_state(self, data: dict[str, Any]) -> SprayState:
        cfg = self.config
        attempts = Window(cfg.window_s + cfg.lateness_s, cfg.max_entries, rows(_Attempt, data["a"]), data["h"])
        return SprayState(attempts, LastSeen(cfg.max_entries, data["u"]), Episode.from_dict(data["e"]))

    def expires_at(self, state: SprayState) -> float:
        """Its attempts and users, and the spray under way until a pause of ``suppress_s`` ends it."""
        cfg = self.config
        spray = state.spray.expires_at(cfg.suppress_s) if state.spray else None
        return horizon(state.attempts.expires_at(), state.users.expires_at(cfg.window_s + cfg.lateness_s), spray)

    def detect(self, event: Event, state: SprayState) -> list[Finding]:
        cfg = self.config
        flags = ("T" if event.threat_suspected else "") + ("P" if event.is_proxy else "")
        new = _Attempt(event.time, attempt_id(event), event.uuid, event_subject(event), flags)
        if not state.attempts.add(new):
            return []  # too late, a replay, or the same attempt logged twice
        state.users.see(new.user, new.time)
        state.users.forget_before(state.attempts.high_water - cfg.window_s - cfg.lateness_s)
        spray = state.spray
        if spray is not None and spray.ongoing(new.time, cfg.suppress_s):
            spray.add(new.uuid, new.time, ("n", *flags), users=new.user)
            return self._report(event, spray)
        start, end = state.attempts.span_around(new.time, cfg.window_s)
        if state.users.count_since(start) < cfg.min_users or state.attempts.count(start, end) < cfg.min_attempts:
            return []
        run = state.attempts.between(start, end)
        if end < state.attempts.high_water and len({a.user for a in run}) < cfg.min_users:
            return []  # a late event: users seen since `start` include some after `end`
        state.spray = spray = Episode(run[0].uuid, run[0].time, run[-1].time, cfg.max_tracked)
        for a in run:
            spray.add(a.uuid, a.time, ("n", *a.flags), users=a.user)
        return self._report(event, spray)

    def _report(self, event: Event, spray: Episode) -> list[Finding]:
        """The spray's finding, when it opens and each time it has grown enough to say so again."""
        cfg = self.config
        users, attempts = spray.distinct_count("users"), spray.count("n")
        span = (spray.last - spray.start) / 60
        who = f"{users}{'+' if spray.saturated('users') else ''} distinct users"
        uuids = tuple(spray.uuids)
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{who}, {attempts} failed passwords from {event.ip} in {span:.0f} min",
                35,  # ten users or more: medium on its own
                uuids,
            )
        ]
        for threshold, label, points in (
            (cfg.large_users, "a large spray", 25),
            (cfg.massive_users, "a massive spray", 15),
        ):
            if users >= threshold:  # large: high on its own
                evidence.append(Evidence(EvidenceClass.ATTACK_PATTERN, f"{label}: ≥ {threshold} users", points, uuids))
        if spray.count("T"):
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "ThreatInsight suspected the IP", 15, uuids))
        if spray.count("P"):  # hiding behind an anonymizer: high on its own
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "attempts came through an anonymizer", 25, uuids))
        assessment = assess(evidence)
        if not spray.grown(users, assessment.tier.value):
            return []
        return [
            make_finding(
                event,
                detection=self.id,
                title="Password spray from one IP",
                severity=Severity.HIGH if assessment.tier in (Tier.HIGH, Tier.HIGH_CONFIDENCE) else Severity.MEDIUM,
                assessment=assessment,
                anchor=(event.ip or "", spray.anchor),
                event_uuids=uuids,
                mitre=self.mitre,
                time=spray.last,
                summary=f"{event.ip} failed passwords for {who} ({attempts} attempts) in {span:.0f} min",
                principal="",
                principal_login="",
                revision=spray.reported_as(users, assessment.tier.value),
                sources=(event.ip or "",),
                targeted=users,
            )
        ]
