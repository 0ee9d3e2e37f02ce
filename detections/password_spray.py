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
(event time, ≤ 15 min lateness tolerated), once per IP per hour. Allowlisted
corporate egress is skipped (the anchors' main FP): CIDRs only, the tenant
context's ``egress_cidrs`` merged in; an ASN or a VPN operator is shared with
attackers, too coarse to silence a spray. Service accounts count as targets.
No user to act on, so no automatic action: blocking the IP in a network zone
is a human decision.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections import geo
from detections.common import Suppression, attempt_id, event_subject, is_password_failure, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity


@dataclass(frozen=True, slots=True)
class PasswordSprayConfig:
    window_s: float = 3600.0
    min_users: int = 10
    min_attempts: int = 10
    lateness_s: float = 900.0
    suppress_s: float = 3600.0
    allowlist_cidrs: tuple[str, ...] = ()  # corporate egress / VPN concentrators
    max_entries: int = 2000


@dataclass(slots=True)
class _Attempt:
    time: float
    key: str  # attempt id (transaction + user, or uuid)
    uuid: str
    user: str
    flags: str  # T ThreatInsight suspected, P anonymizer


@dataclass(slots=True)
class SprayState:
    attempts: list[_Attempt] = field(default_factory=list)
    high_water: float = 0.0
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": [[a.time, a.key, a.uuid, a.user, a.flags] for a in self.attempts],
            "h": self.high_water,
            "sup": self.sup.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SprayState:
        return cls([_Attempt(*row) for row in data["a"]], data["h"], Suppression.from_dict(data["sup"]))


class PasswordSpray:
    id: ClassVar[str] = "password_spray"
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
        return SprayState()

    def load_state(self, data: dict[str, Any]) -> SprayState:
        return SprayState.from_dict(data)

    def detect(self, event: Event, state: SprayState) -> list[Finding]:
        cfg = self.config
        if event.time < state.high_water - cfg.window_s - cfg.lateness_s:
            return []
        key = attempt_id(event)
        if any(a.key == key for a in state.attempts):
            return []  # replay, or the same attempt logged twice
        flags = ("T" if event.threat_suspected else "") + ("P" if event.is_proxy else "")
        new = _Attempt(event.time, key, event.uuid, event_subject(event), flags)
        bisect.insort(state.attempts, new, key=lambda a: a.time)
        state.high_water = max(state.high_water, event.time)
        cutoff = state.high_water - cfg.window_s - cfg.lateness_s
        state.attempts = [a for a in state.attempts if a.time >= cutoff][-cfg.max_entries :]

        best: list[_Attempt] = []
        best_users = 0
        for start in state.attempts:
            if not (start.time <= new.time <= start.time + cfg.window_s):
                continue
            run = [a for a in state.attempts if start.time <= a.time <= start.time + cfg.window_s]
            users = len({a.user for a in run})
            if users > best_users:
                best, best_users = run, users
        if best_users < cfg.min_users or len(best) < cfg.min_attempts:
            return []
        if state.sup.suppressed("spray", best[0].time, cfg.suppress_s):
            return []
        state.sup.fire("spray", best[0].time)
        span = (best[-1].time - best[0].time) / 60
        uuids = tuple(a.uuid for a in best)
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{best_users} distinct users, {len(best)} failed passwords from {event.ip} in {span:.0f} min",
                30,
                uuids,
            )
        ]
        threat = tuple(a.uuid for a in best if "T" in a.flags)
        if threat:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "ThreatInsight suspected the IP", 15, threat))
        proxy = tuple(a.uuid for a in best if "P" in a.flags)
        if proxy:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "attempts came through an anonymizer", 15, proxy))
        return [
            make_finding(
                event,
                detection=self.id,
                title="Password spray from one IP",
                severity=Severity.MEDIUM,
                assessment=assess(evidence),
                anchor=(event.ip or "", best[0].uuid),
                event_uuids=uuids,
                mitre=self.mitre,
                time=best[-1].time,
                summary=f"{event.ip} failed passwords for {best_users} users ({len(best)} attempts) in {span:.0f} min",
                principal="",
                principal_login="",
            )
        ]
