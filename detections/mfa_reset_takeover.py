"""MFA reset → new factor enrolment → sign-in from somewhere new: the help-desk takeover path.

Why: Scattered Spider-style attackers call the help desk as the victim, get the
MFA factors reset, enrol their own factor and sign in. Each step is a routine
help-desk event on its own; the chain, ending in a sign-in from a device or
network the user has never used, is the takeover (Elastic "Stolen Credentials Used
to Login to Okta Account After MFA Reset"; Okta's catalog "Hunt on Factor Resets").

How (per *target* user):

* reset = ``user.mfa.factor.reset_all`` / ``user.mfa.factor.deactivate``
  SUCCESS; the actor is the admin, help desk, a service app or the user, the
  target is the user;
* within ``window_s`` (1 h) after it: a ``user.mfa.factor.activate`` SUCCESS
  for the user, **and** a ``user.session.start``/``user.authentication.sso``
  SUCCESS of the user from a new device (dtHash unseen, or Okta ``New
  Device`` POSITIVE) or a new network (ASN/country unseen, or Okta ``New
  Country``/``New Geo-Location`` POSITIVE). Enrolment and sign-in may come in
  either order (Classic starts the session before the enrolment);
* "unseen" means absent from a short baseline of the user's sign-ins
  (device, ASN, country; 30 days, ≤ 32 signatures) *before the reset*, so the
  attacker's own post-reset sign-ins never vouch for themselves, and a late
  event is judged as an in-order one. Our baseline only counts once it holds
  ≥ ``cold_start_signins`` sign-ins; before that only Okta's behaviors do.
  A sign-in that can be new for no reset (a signature of the profile a
  whole window before it, no Okta behaviour) is learnt but not kept.

The reset is keyed by its target and the enrolment/sign-in by their user, so
one state key sees events of different actors: ``keyed_by_actor = False``.

Evidence (classes as in confidence.py): reset then enrolment +30 (a), sign-in after it +35 (c), new
network/country +15 and new device +10 (b), anonymizer or ThreatInsight +15
each (d): the canonical case scores 90 with three classes. Dampeners: reset by
the user themself from a known device/network −40 (a user replacing a phone),
a new network that is a mobile carrier in a known country −20 (a new phone),
allowlisted corporate egress −40, thin baseline −15 and capped below
high-confidence. Offered: clear sessions + reset factors (the attacker's factor
goes too), only at high confidence. One finding per user per hour (event time),
except that a later chain that earns the actions still fires once; the dedup key
is the user and the reset's hour, as the uuids completing a chain depend on
arrival order (several deactivations, several sign-ins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from detections import geo
from detections.columns import columns, rows
from detections.common import Suppression, digest, is_mobile_carrier, is_successful_sign_in, make_finding
from detections.confidence import Action, Assessment, Dampener, Evidence, EvidenceClass, assess
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Window

HOUR = 3600.0
DAY = 86400.0
RESET_TYPES = frozenset({"user.mfa.factor.reset_all", "user.mfa.factor.deactivate"})
ENROL_TYPE = "user.mfa.factor.activate"
# "l" of the encoded state: rows under short column names, dtHashes as digests (common.digest: only compared);
# a state without it holds whole dtHashes, digested when read
LAYOUT = 2


@dataclass(frozen=True, slots=True)
class MfaResetTakeoverConfig:
    window_s: float = HOUR  # enrolment and sign-in at most this long after the reset
    lateness_s: float = 900.0  # how late an event may arrive and still complete a chain
    history_s: float = 30 * DAY  # baseline: the user's sign-in devices/networks seen this long ...
    max_profile: int = 32  # ... at most this many (device, ASN, country) signatures
    cold_start_signins: int = 3  # fewer sign-ins before the reset: our baseline does not count
    cold_start_dampening: int = 15
    cold_start_cap: int = 84  # below the high-confidence tier: no automatic action
    self_reset_dampening: int = 40  # the user reset their own factor from a known device/network
    mobile_carrier_dampening: int = 20
    allowlist_cidrs: tuple[str, ...] = ()  # corporate VPN / SWG egress
    allowlist_asns: frozenset[int] = frozenset()
    allowlist_dampening: int = 40
    min_confidence: int = 25  # dampened below this → nothing is emitted
    suppress_s: float = HOUR
    max_entries: int = 64  # per list: resets, enrolments, recent sign-ins


@dataclass(slots=True)
class _Reset:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "k", "by", "h", "me", "ip", "as", "dt", "ok")
    time: float
    uuid: str
    kind: str  # "reset_all" or "deactivate"
    by: str  # actor login (or id) for the summary
    by_human: bool
    by_self: bool
    ip: str | None
    asn: int | None
    dt: str | None
    okta_known: bool  # Okta New Device and New IP both NEGATIVE on the reset

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class _Enrol:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "a")
    time: float
    uuid: str
    authenticator: str

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class _SignIn:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "u", "ip", "as", "org", "c", "dt", "nd", "ng", "px", "th")
    time: float
    uuid: str
    login: str
    ip: str | None
    asn: int | None
    as_org: str | None
    country: str | None
    dt: str | None
    okta_new_device: bool
    okta_new_geo: bool
    proxy: bool
    threat: bool

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class _Seen:
    """One baseline signature: the user signed in from this device/ASN/country between first and last."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("dt", "as", "c", "f", "l", "n")
    dt: str | None
    asn: int | None
    country: str | None
    first: float
    last: float
    count: int


@dataclass(slots=True)
class TakeoverState:
    """Resets, enrolments and recent sign-ins of one user on one clock, and the baseline of where they sign in."""

    resets: Window[_Reset]
    enrols: Window[_Enrol]
    sign_ins: Window[_SignIn]
    profile: list[_Seen]
    sup: Suppression

    @property
    def high_water(self) -> float:
        return self.resets.high_water

    def windows(self) -> tuple[Window[Any], ...]:
        return self.resets, self.enrols, self.sign_ins

    def to_dict(self) -> dict[str, Any]:
        """Resets, enrolments, sign-ins, profile, high water, suppression, layout; the empty ones left out."""
        out = {
            "r": columns(_Reset, self.resets),
            "e": columns(_Enrol, self.enrols),
            "s": columns(_SignIn, self.sign_ins),
            "p": columns(_Seen, self.profile),
            "h": self.high_water,
            "sup": self.sup.to_dict(),
            "l": LAYOUT,
        }
        return {k: v for k, v in out.items() if v != {}}


@dataclass(frozen=True, slots=True)
class _Baseline:
    """What the user's history said just before a reset."""

    established: bool
    devices: frozenset[str]
    asns: frozenset[int]
    countries: frozenset[str]


class MfaResetTakeover:
    id: ClassVar[str] = "mfa_reset_takeover"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS | RESET_TYPES | {ENROL_TYPE}
    keyed_by_actor: ClassVar[bool] = False
    human_only: ClassVar[bool] = True  # a person's sign-in and factors: listed service accounts are skipped
    mitre: ClassVar[tuple[str, ...]] = ("T1556.006", "T1098.005", "T1656", "T1078.004")

    def __init__(self, config: MfaResetTakeoverConfig | None = None) -> None:
        self.config = config or MfaResetTakeoverConfig()

    def state_key(self, event: Event) -> str | None:
        if event.outcome != "SUCCESS":
            return None
        if event.event_type in RESET_TYPES:
            return _target_user(event)
        if event.event_type == ENROL_TYPE:
            return _target_user(event) or (event.actor_id if event.is_human else None)
        if is_successful_sign_in(event) and event.is_human:
            return event.actor_id or None
        return None

    def new_state(self) -> TakeoverState:
        return self.load_state({"r": [], "e": [], "s": [], "p": [], "h": 0.0, "sup": {}})

    def load_state(self, data: dict[str, Any]) -> TakeoverState:
        cfg = self.config
        width, cap, h = cfg.window_s + cfg.lateness_s, cfg.max_entries, data["h"]
        resets, sign_ins = rows(_Reset, data.get("r", {})), rows(_SignIn, data.get("s", {}))
        profile = rows(_Seen, data.get("p", {}))
        if data.get("l") != LAYOUT:  # written before: whole dtHashes
            written: list[_Reset | _SignIn | _Seen] = [*resets, *sign_ins, *profile]
            for row in written:
                row.dt = digest(row.dt)
        return TakeoverState(
            Window(width, cap, resets, h),
            Window(width, cap, rows(_Enrol, data.get("e", {})), h),
            Window(width, cap, sign_ins, h),
            profile,
            Suppression.from_dict(data.get("sup", {})),
        )

    def expires_at(self, state: TakeoverState) -> float:
        """Its chains (windows), the baseline of where the user signs in (``history_s`` after the newest
        signature) and the suppression."""
        cfg = self.config
        baseline = max((p.last for p in state.profile), default=-math.inf) + cfg.history_s
        windows = (w.expires_at() for w in state.windows())
        return horizon(*windows, baseline, state.sup.expires_at(cfg.suppress_s))

    def detect(self, event: Event, state: TakeoverState) -> list[Finding]:
        cfg = self.config
        keep = not (is_successful_sign_in(event) and self._routine(state, event))  # the guard: only what counts
        if state.sup.replayed(event.uuid, event.time, keep) or any(w.holds(event.uuid) for w in state.windows()):
            return []
        if is_successful_sign_in(event):
            self._learn(state, event)
        if state.resets.too_late(event.time):
            return []  # later than any chain we still hold (the baseline above still learnt from it)
        self._store(state, event)
        for window in state.windows():
            window.advance(event.time)
        if event.event_type in RESET_TYPES:
            resets = [r for r in state.resets.between(event.time, event.time) if r.uuid == event.uuid]
        else:
            resets = state.resets.between(event.time - cfg.window_s, event.time)
        for reset in resets:
            finding = self._evaluate(event, state, reset)
            if finding is not None:
                return [finding]
        return []

    # -- state --

    def _store(self, state: TakeoverState, event: Event) -> None:
        if event.event_type in RESET_TYPES:
            target = event.target("User") or {}
            target_login = str(target.get("alternateId") or "").lower()
            by_self = event.actor_id == target.get("id") or (
                bool(event.actor_login) and event.actor_login.lower() == target_login
            )
            reset = _Reset(
                event.time,
                event.uuid,
                event.event_type.rsplit(".", 1)[-1],
                event.actor_login or event.actor_id,
                event.is_human,
                by_self,
                event.ip,
                event.asn,
                digest(event.dt_hash),
                event.behaviors.get("New Device") == "NEGATIVE" and event.behaviors.get("New IP") == "NEGATIVE",
            )
            state.resets.add(reset)
        elif event.event_type == ENROL_TYPE:
            enrolled = event.target("AuthenticatorEnrollment") or {}
            name = str(enrolled.get("displayName") or event.factor or "a factor")
            state.enrols.add(_Enrol(event.time, event.uuid, name))
        else:
            sign_in = _SignIn(
                event.time,
                event.uuid,
                event.actor_login,
                event.ip,
                event.asn,
                event.as_org,
                event.geo.country,
                digest(event.dt_hash),
                event.behavior_positive("New Device"),
                event.behavior_positive("New Country") or event.behavior_positive("New Geo-Location"),
                event.is_proxy,
                event.threat_suspected,
            )
            if not self._ordinary(state, sign_in):
                state.sign_ins.add(sign_in)

    def _ordinary(self, state: TakeoverState, s: _SignIn) -> bool:
        """The sign-in can complete no chain, so it is not kept: Okta saw nothing new, and its device, network and
        country were the user's (one signature of the profile) a whole window before it, so before any reset it
        could follow (only one that is new for the user scores: ``_assess``). Most sign-ins of most users are.
        (The one case it differs: ``max_profile`` newer signatures within the window pushing that one out of the
        profile before a late reset arrives.)"""
        return self._known(state, (s.dt, s.asn, s.country), s.time, s.okta_new_device or s.okta_new_geo)

    def _routine(self, state: TakeoverState, event: Event) -> bool:
        """An ordinary sign-in (``_ordinary``) whose signature the profile already counts ``cold_start_signins``
        times: learnt again (a replay), it would change nothing a chain reads, so the guard need not keep it."""
        sig = (digest(event.dt_hash), event.asn, event.geo.country)
        new = any(event.behavior_positive(b) for b in ("New Device", "New Country", "New Geo-Location"))
        return self._known(state, sig, event.time, new, self.config.cold_start_signins)

    def _known(self, state: TakeoverState, sig: tuple[Any, ...], time: float, new: bool, counted: int = 0) -> bool:
        """Okta saw nothing ``new``, and the profile has the signature from a whole window before ``time`` on,
        counted at least ``counted`` times."""
        before = time - self.config.window_s
        return not new and any(
            (p.dt, p.asn, p.country) == sig and p.first < before and p.count >= counted for p in state.profile
        )

    def _learn(self, state: TakeoverState, event: Event) -> None:
        """Add a successful sign-in to the user's baseline of devices and networks (any arrival order)."""
        cfg = self.config
        newest = max(state.high_water, event.time)
        if event.time < newest - cfg.history_s:
            return
        sig = (digest(event.dt_hash), event.asn, event.geo.country)
        seen = next((p for p in state.profile if (p.dt, p.asn, p.country) == sig), None)
        if seen is None:
            state.profile.append(_Seen(*sig, event.time, event.time, 1))
        else:
            seen.first, seen.last, seen.count = min(seen.first, event.time), max(seen.last, event.time), seen.count + 1
        kept = [p for p in state.profile if p.last >= newest - cfg.history_s]
        kept.sort(key=lambda p: p.last)
        state.profile = kept[-cfg.max_profile :]

    def _baseline(self, state: TakeoverState, before: float) -> _Baseline:
        cfg = self.config
        known = [p for p in state.profile if p.first < before and p.last >= before - cfg.history_s]
        return _Baseline(
            sum(p.count for p in known) >= cfg.cold_start_signins,
            frozenset(p.dt for p in known if p.dt),
            frozenset(p.asn for p in known if p.asn is not None),
            frozenset(p.country for p in known if p.country),
        )

    # -- the chain --

    def _evaluate(self, event: Event, state: TakeoverState, reset: _Reset) -> Finding | None:
        cfg = self.config
        end = reset.time + cfg.window_s
        enrol = next(iter(state.enrols.between(reset.time, end)), None)
        if enrol is None:
            return None
        base = self._baseline(state, reset.time)
        best: tuple[int, _SignIn, Assessment] | None = None
        for sign_in in state.sign_ins:
            if not reset.time <= sign_in.time <= end:
                continue
            assessment = self._assess(reset, enrol, sign_in, base)
            if assessment is not None and (best is None or assessment.score > best[0]):
                best = (assessment.score, sign_in, assessment)
        if best is None:
            return None
        _, sign_in, assessment = best
        if assessment.score < cfg.min_confidence:
            return None
        if state.sup.suppressed("takeover", reset.time, cfg.suppress_s) and (
            not assessment.actions or state.sup.suppressed("takeover+actions", reset.time, cfg.suppress_s)
        ):
            return None
        state.sup.fire("takeover", reset.time)
        if assessment.actions:
            state.sup.fire("takeover+actions", reset.time)
        user = self.state_key(event) or ""
        who = "the user themself" if reset.by_self else reset.by if reset.by_human else f"{reset.by} (non-human)"
        return make_finding(
            event,
            detection=self.id,
            title="MFA reset followed by a new factor and a sign-in from a new device/network",
            severity=Severity.HIGH if assessment.score >= 60 else Severity.MEDIUM,
            assessment=assessment,
            anchor=self._anchor(reset, bool(assessment.actions)),
            event_uuids=(reset.uuid, enrol.uuid, sign_in.uuid),
            mitre=self.mitre,
            time=max(reset.time, enrol.time, sign_in.time),
            summary=f"MFA {reset.kind} for {sign_in.login} by {who}, {enrol.authenticator} enrolled"
            f" {(enrol.time - reset.time) / 60:.0f} min later, sign-in from {sign_in.ip}"
            f" (AS{sign_in.asn}, {sign_in.country}) {(sign_in.time - reset.time) / 60:.0f} min after the reset",
            principal=user,
            principal_login=sign_in.login,
        )

    def _anchor(self, reset: _Reset, acts: bool) -> tuple[str, ...]:
        """The user's suppression bucket of the reset, not an event uuid: unenrolling Okta Verify logs several
        deactivations and a takeover several sign-ins, so the uuids that complete a chain depend on arrival
        order, while at most one finding (plus one that earns the actions) fires per bucket."""
        size = max(self.config.suppress_s, 1.0)
        start = datetime.fromtimestamp(reset.time // size * size, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (start, "actions") if acts else (start,)

    def _assess(self, reset: _Reset, enrol: _Enrol, s: _SignIn, base: _Baseline) -> Assessment | None:
        """Score one (reset, enrolment, sign-in) chain; None when the sign-in is not new for the user."""
        cfg = self.config
        network = []
        if s.okta_new_geo:
            network.append("Okta New Country/New Geo-Location")
        if base.established and s.country and s.country not in base.countries:
            network.append(f"country {s.country} unseen before the reset")
        if base.established and s.asn is not None and s.asn not in base.asns:
            network.append(f"network AS{s.asn} ({s.as_org}) unseen before the reset")
        device = []
        if s.okta_new_device:
            device.append("Okta New Device")
        if base.established and s.dt and base.devices and s.dt not in base.devices:
            device.append("device token (dtHash) unseen before the reset")
        if not network and not device:
            return None
        minutes = (enrol.time - reset.time) / 60
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"MFA {reset.kind} by {'the user' if reset.by_self else reset.by}, then {enrol.authenticator}"
                f" enrolled {minutes:.0f} min later",
                30,
                (reset.uuid, enrol.uuid),
            ),
            Evidence(
                EvidenceClass.ACCESS,
                f"successful sign-in {(s.time - reset.time) / 60:.0f} min after the reset",
                35,
                (s.uuid,),
            ),
        ]
        if network:
            evidence.append(Evidence(EvidenceClass.ANOMALY, f"new network: {'; '.join(network)}", 15, (s.uuid,)))
        if device:
            evidence.append(Evidence(EvidenceClass.ANOMALY, f"new device: {'; '.join(device)}", 10, (s.uuid,)))
        if s.proxy:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "sign-in through an anonymizer/VPN", 15, (s.uuid,)))
        if s.threat:
            evidence.append(
                Evidence(EvidenceClass.INFRASTRUCTURE, "Okta ThreatInsight suspected the sign-in IP", 15, (s.uuid,))
            )
        dampeners = []
        if reset.by_self and (
            reset.okta_known
            or (reset.dt is not None and reset.dt in base.devices)
            or (reset.asn is not None and reset.asn in base.asns)
        ):
            dampeners.append(
                Dampener("the user reset their own factor from a known device/network", cfg.self_reset_dampening)
            )
        if network and is_mobile_carrier(s.as_org) and not s.okta_new_geo and s.country in base.countries:
            dampeners.append(
                Dampener(
                    f"new network is a mobile carrier ({s.as_org}) in a known country", cfg.mobile_carrier_dampening
                )
            )
        if geo.ip_in(s.ip, cfg.allowlist_cidrs) or (s.asn is not None and s.asn in cfg.allowlist_asns):
            dampeners.append(Dampener("sign-in from allowlisted corporate egress", cfg.allowlist_dampening))
        if not base.established:
            dampeners.append(
                Dampener(f"cold start: < {cfg.cold_start_signins} sign-ins before the reset", cfg.cold_start_dampening)
            )
        offered = (Action.CLEAR_SESSIONS, Action.RESET_FACTORS)
        assessment = assess(evidence, dampeners, offered)
        if not base.established and assessment.score > cfg.cold_start_cap:
            dampeners.append(
                Dampener("cold start: capped below high-confidence", assessment.score - cfg.cold_start_cap)
            )
            assessment = assess(evidence, dampeners, offered)
        return assessment


def _target_user(event: Event) -> str | None:
    target = event.target("User")
    return str(target.get("id") or "") or None if target else None
