"""Distributed password spray and credential stuffing: many IPs, each quiet, failing across many users.

Why: a botnet or a residential-proxy pool spreads a spray over so many source
IPs that no single one reaches the per-IP threshold of ``password_spray``; only
the tenant-wide picture shows it (Elastic "Potential Okta Password Spray
(Multi-Source)"). Credential stuffing replays leaked username:password pairs: many
logins each tried once or twice, a large share of them not even users of the
tenant (ThreatInsight's "Login failures with high unknown users count").
One state for the whole tenant (key ``tenant``).

Counted: the same wrong-password failures as ``password_spray`` (incl. Identity
Engine ``PASSWORD_AS_FACTOR``), one per attempt (transaction + login), so the
same attempt logged twice or replayed counts once; unknown usernames (actor id
``unknown`` or missing) are kept under the login that was typed. Allowlisted
corporate egress is skipped.

Windows are hopping, in event time: 30 min long every 10 min (a burst of up to
20 min always lies inside one), so the result does not depend on arrival order;
events up to 15 min behind the high-water mark still count. Per window, before
counting:

* an IP that tried ≥ 10 users in it is a single-source spray (``password_spray``'s
  finding), not part of a distributed one: its attempts are left out;
* a login tried > 5 times in it is depth (``brute_force``), not breadth: left out.

Fires when what remains spans ≥ 5 IPs, ≥ 10 users and ≥ 20 attempts (Elastic's
multi-source spray: ≥ 5 IPs, ≥ 8 users, ≥ 25 attempts, ≤ 5 per user per 15 min;
the window is longer here, so the user floor is higher). Variant
``credential_stuffing`` when ≥ 25 % of the logins are unknown usernames,
``distributed_spray`` otherwise. The campaign then stays one finding until it
pauses for an hour, revised each time the number of users it reached doubles. No user to act on,
so no automatic action (severity medium).

Evidence: the pattern +30; ≥ 5 IPs that each tried several users (botnet
reuse) +15; unknown usernames ≥ 25 % +15; ThreatInsight-suspected or
anonymizer share of the attempts ≥ 20 % +15 each. Users mistyping their
password in a large tenant have the same breadth (one user per home IP, one or
two tries each) and stay at the bare 30 (low tier, digest): raise ``min_users``
/ ``min_attempts`` for such a tenant if even that is noise. Elastic's other FP,
an org-wide password rotation, looks the same and scores the same.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections import geo
from detections.columns import columns, rows
from detections.common import PASSWORD_FAILURE_TYPES, attempt_id, event_subject, is_password_failure, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import GROWTH, MAX_EPISODE_UUIDS, Episode, Window

TENANT_KEY = "tenant"
MAX_SOURCES = 64  # source IPs one finding hands to the signal book
STUFFING = "credential_stuffing"


@dataclass(frozen=True, slots=True)
class DistributedSprayConfig:
    window_s: float = 1800.0
    hop_s: float = 600.0  # windows start every hop_s (aligned to the epoch)
    min_ips: int = 5  # distinct source IPs, each below single_source_users
    min_users: int = 10
    min_attempts: int = 20
    max_attempts_per_user: int = 5  # a login tried more often is brute force, not spray: left out
    single_source_users: int = 10  # an IP trying this many users is a single-source spray: left out
    stuffing_unknown_share: float = 0.25  # unknown usernames among the logins → credential stuffing
    booster_share: float = 0.2  # ThreatInsight / anonymizer share of attempts that adds evidence
    lateness_s: float = 900.0
    suppress_s: float = 3600.0
    allowlist_cidrs: tuple[str, ...] = ()  # corporate egress / VPN concentrators
    max_entries: int = 2000
    max_tracked: int = 50_000  # distinct users / IPs one campaign's finding counts exactly ("at least" beyond)

    def __post_init__(self) -> None:
        if not 0 < self.hop_s <= self.window_s:
            raise ValueError("hop_s must be > 0 and ≤ window_s (windows must overlap or touch)")


@dataclass(slots=True)
class _Attempt:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "k", "id", "u", "ip", "fl")
    time: float
    key: str  # attempt id (transaction + login, or uuid)
    uuid: str
    user: str  # the attempted login
    ip: str
    flags: str  # U unknown username, T ThreatInsight suspected, P anonymizer


@dataclass(slots=True)
class _Tally:
    """Raw breadth of one hopping window, kept as attempts arrive: a cheap upper bound on what ``_count`` finds,
    so the exact count (which filters loud IPs and brute-forced logins) runs only when it could pass."""

    attempts: int = 0
    users: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    checked: int = 0  # attempts at the last exact count that fell short

    def add(self, attempt: _Attempt, cap: int) -> None:
        self.attempts += 1
        if len(self.users) < cap:
            self.users.add(attempt.user)
        if len(self.ips) < cap:
            self.ips.add(attempt.ip)

    @staticmethod
    def encode(tallies: dict[float, _Tally]) -> dict[str, list[Any]]:
        """Hopping window start → tally, as named columns."""
        if not tallies:
            return {}
        ts = tallies.values()
        return {
            "start": list(tallies),
            "attempts": [t.attempts for t in ts],
            "users": [sorted(t.users) for t in ts],
            "ips": [sorted(t.ips) for t in ts],
            "checked": [t.checked for t in ts],
        }

    @staticmethod
    def decode(data: dict[str, list[Any]] | list[list[Any]]) -> dict[float, _Tally]:
        """Named columns, or the first encoding's positional rows [start, attempts, users, ips, checked]."""
        if isinstance(data, list):
            return {row[0]: _Tally(row[1], set(row[2]), set(row[3]), row[4]) for row in data}
        cols = zip(data["start"], data["attempts"], data["users"], data["ips"], data["checked"], strict=True)
        return {start: _Tally(n, set(users), set(ips), checked) for start, n, users, ips, checked in cols}


@dataclass(slots=True)
class DistributedSprayState:
    attempts: Window[_Attempt]
    tallies: dict[float, _Tally]  # hopping window start → its raw breadth
    campaign: Episode | None = None  # the spray reported and still going on

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": columns(_Attempt, self.attempts),
            "h": self.attempts.high_water,
            "t": _Tally.encode(self.tallies),
            "c": self.campaign.to_dict() if self.campaign else None,
        }


@dataclass(frozen=True, slots=True)
class _Window:
    start: float
    run: tuple[_Attempt, ...]  # the counted attempts, by time
    ips: int
    users: int
    skipped_ips: int  # single-source IPs left out


def is_unknown_user(event: Event) -> bool:
    """Okta logs a login that matches no user with actor id ``unknown`` (the typed login stays in alternateId)."""
    return event.actor_id.lower() in ("", "unknown")


class DistributedSpray:
    id: ClassVar[str] = "distributed_spray"
    event_types: ClassVar[frozenset[str] | None] = PASSWORD_FAILURE_TYPES
    keyed_by_actor: ClassVar[bool] = False
    mitre: ClassVar[tuple[str, ...]] = ("T1110.003", "T1110.004")

    def __init__(self, config: DistributedSprayConfig | None = None) -> None:
        self.config = config or DistributedSprayConfig()

    def state_key(self, event: Event) -> str | None:
        if not event.ip or not is_password_failure(event) or event.actor_login == "system@okta.com":
            return None
        if event.actor_type and event.actor_type.lower() != "user":
            return None
        if not event_subject(event) or geo.ip_in(event.ip, self.config.allowlist_cidrs):
            return None
        return TENANT_KEY

    def new_state(self) -> DistributedSprayState:
        return self.load_state({"a": [], "h": 0.0, "t": [], "c": None})

    def load_state(self, data: dict[str, Any]) -> DistributedSprayState:
        cfg = self.config
        attempts = Window(cfg.window_s + cfg.lateness_s, cfg.max_entries, rows(_Attempt, data["a"]), data["h"])
        return DistributedSprayState(attempts, _Tally.decode(data["t"]), Episode.from_dict(data["c"]))

    def expires_at(self, state: DistributedSprayState) -> float:
        """Its attempts, and the spray under way until a pause of ``suppress_s`` ends it."""
        campaign = state.campaign.expires_at(self.config.suppress_s) if state.campaign else None
        return horizon(state.attempts.expires_at(), campaign)

    def detect(self, event: Event, state: DistributedSprayState) -> list[Finding]:
        cfg = self.config
        flags = (
            ("U" if is_unknown_user(event) else "")
            + ("T" if event.threat_suspected else "")
            + ("P" if event.is_proxy else "")
        )
        new = _Attempt(event.time, attempt_id(event), event.uuid, event_subject(event), event.ip or "", flags)
        if not state.attempts.add(new):
            return []  # too late, a replay, or the same attempt logged twice (session.start + auth_via_mfa)
        starts = self._window_starts(new.time)
        for start in starts:
            state.tallies.setdefault(start, _Tally()).add(new, cfg.max_entries)
        oldest = state.attempts.high_water - cfg.window_s - cfg.lateness_s - cfg.window_s
        for start in [s for s in state.tallies if s < oldest]:
            del state.tallies[start]
        campaign = state.campaign
        if campaign is not None and campaign.ongoing(new.time, cfg.suppress_s):
            campaign.add(new.uuid, new.time, ("n",), users=new.user, ips=new.ip)
            if campaign.distinct_count("users") < campaign.reported * GROWTH:
                return []
            best = self._best(state, starts, force=True)
            if best is None:
                return []
            return [self._finding(event, best, campaign.anchor, campaign)]
        best = self._best(state, starts)
        if best is None:
            return []
        state.campaign = campaign = Episode(f"{best.start:.0f}", best.run[0].time, best.run[-1].time, cfg.max_tracked)
        for a in best.run:
            campaign.add(a.uuid, a.time, ("n",), users=a.user, ips=a.ip)
        return [self._finding(event, best, campaign.anchor, campaign)]

    def _best(self, state: DistributedSprayState, starts: list[float], *, force: bool = False) -> _Window | None:
        """The broadest of the windows holding the new attempt that passes every threshold. A window's exact
        count runs only when its raw breadth could pass and it grew since the last count fell short (by a
        sixteenth: amortised O(1) per attempt however large the window), or when ``force``d."""
        cfg = self.config
        best: _Window | None = None
        for start in starts:
            tally = state.tallies[start]
            if tally.attempts < cfg.min_attempts or len(tally.users) < cfg.min_users or len(tally.ips) < cfg.min_ips:
                continue
            if not force and tally.checked and tally.attempts < tally.checked + max(1, tally.checked // 16):
                continue
            window = self._count(state, start)
            if window is None:
                tally.checked = tally.attempts
            elif best is None or window.users > best.users:
                best = window
        return best

    def _window_starts(self, t: float) -> list[float]:
        """Starts of the aligned hopping windows [start, start + window_s) that hold time ``t``, earliest first."""
        cfg = self.config
        last = math.floor(t / cfg.hop_s) * cfg.hop_s
        n = max(1, math.ceil(cfg.window_s / cfg.hop_s))
        return [s for s in (last - i * cfg.hop_s for i in range(n - 1, -1, -1)) if s + cfg.window_s > t]

    def _count(self, state: DistributedSprayState, start: float) -> _Window | None:
        """The window's breadth once single-source IPs and brute-forced logins are left out; None below thresholds."""
        cfg = self.config
        run = [a for a in state.attempts.between(start, start + cfg.window_s) if a.time < start + cfg.window_s]
        if len(run) < cfg.min_attempts:
            return None
        heavy = {ip for ip, users in _users_per_ip(run).items() if len(users) >= cfg.single_source_users}
        run = [a for a in run if a.ip not in heavy]
        per_user = Counter(a.user for a in run)
        run = [a for a in run if per_user[a.user] <= cfg.max_attempts_per_user]
        ips = len({a.ip for a in run})
        users = len({a.user for a in run})
        if ips < cfg.min_ips or users < cfg.min_users or len(run) < cfg.min_attempts:
            return None
        return _Window(start, tuple(run), ips, users, len(heavy))

    def _finding(self, event: Event, w: _Window, anchor: str, campaign: Episode) -> Finding:
        """The finding for the broadest current window; a revision adds what the whole campaign reached."""
        cfg = self.config
        run = w.run
        uuids = tuple(a.uuid for a in run)
        per_user = Counter(a.user for a in run)
        unknown = {a.user for a in run if "U" in a.flags}
        unknown_share = len(unknown) / w.users
        low = sum(1 for n in per_user.values() if n <= 2) / w.users
        several = sorted(ip for ip, users in _users_per_ip(run).items() if len(users) > 1)
        multi_user_ips = len(several)
        stuffing = unknown_share >= cfg.stuffing_unknown_share
        span = (run[-1].time - run[0].time) / 60
        shape = (
            f"{w.users} users, {len(run)} failed passwords from {w.ips} IPs in {span:.0f} min"
            f" (each IP < {cfg.single_source_users} users; {multi_user_ips} IPs tried several;"
            f" {low:.0%} of logins tried ≤ 2 times"
        )
        shape += f"; {unknown_share:.0%} unknown usernames)" if unknown else ")"
        if w.skipped_ips:
            shape += f"; {w.skipped_ips} single-source IP(s) left to password_spray"
        evidence = [Evidence(EvidenceClass.ATTACK_PATTERN, shape, 30, uuids)]
        if multi_user_ips >= cfg.min_ips:
            evidence.append(
                Evidence(
                    EvidenceClass.ATTACK_PATTERN,
                    f"{multi_user_ips} IPs each tried several users (a typo comes from one user's own IP)",
                    15,
                    uuids,
                )
            )
        if stuffing:
            unknown_uuids = tuple(a.uuid for a in run if "U" in a.flags)
            evidence.append(
                Evidence(
                    EvidenceClass.ATTACK_PATTERN,
                    f"{len(unknown)} of {w.users} logins ({unknown_share:.0%}) are not users of the tenant",
                    15,
                    unknown_uuids,
                )
            )
        for flag, label in (("T", "ThreatInsight suspected"), ("P", "came through an anonymizer")):
            hits = tuple(a.uuid for a in run if flag in a.flags)
            if hits and len(hits) / len(run) >= cfg.booster_share:
                evidence.append(
                    Evidence(
                        EvidenceClass.INFRASTRUCTURE,
                        f"{len(hits)} of {len(run)} attempts ({len(hits) / len(run):.0%}) {label}",
                        15,
                        hits,
                    )
                )
        what = "Credential stuffing" if stuffing else "Distributed password spray"
        summary = f"{w.users} users ({unknown_share:.0%} unknown) failed {len(run)} passwords from {w.ips} IPs"
        summary += f" in {span:.0f} min"
        so_far = campaign.distinct_count("users")
        revision = campaign.reported_as(so_far, campaign.tier)
        if revision:
            summary += (
                f"; the campaign so far: {so_far} users, {campaign.count('n')} attempts from"
                f" {campaign.distinct_count('ips')} IPs in {(campaign.last - campaign.start) / 60:.0f} min"
            )
        return make_finding(
            event,
            detection=STUFFING if stuffing else self.id,
            title=f"{what} from many IPs",
            severity=Severity.MEDIUM,
            assessment=assess(evidence),
            anchor=(anchor,),
            event_uuids=uuids[:MAX_EPISODE_UUIDS],
            mitre=("T1110.004",) if stuffing else ("T1110.003",),
            time=run[-1].time,
            summary=summary,
            principal="",
            principal_login="",
            revision=revision,
            sources=several[:MAX_SOURCES],  # a typo comes from one user's own IP: only those that tried several
            targeted=so_far,
        )


def _users_per_ip(run: Sequence[_Attempt]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a in run:
        out.setdefault(a.ip, set()).add(a.user)
    return out
