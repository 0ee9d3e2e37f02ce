"""Impossible travel: two successful sign-ins of one user too far apart for the time between them.

Why: a password or session used from two places that no traveller could cover
in the time between them means two parties hold the credentials (Panther
Standard.ImpossibleTravel.Login). The location is Okta's own ``client.geographicalContext``
(lat/lon, country) and ``securityContext.asNumber`` - no GeoIP database.

How (per user, on ``user.session.start``/``user.authentication.sso`` SUCCESS by
a human actor):

* compare against the *trusted* sign-in nearest in event time on each side (the
  previous one, and for a late event also the next one); trusted = not through
  an anonymizer and not from allowlisted corporate egress (the tenant's egress
  CIDRs/ASNs, or only VPN tunnels the organisation uses), so a VPN hop never
  poisons the baseline (Panther's rule); allowlisted sign-ins are not evaluated;
* the trusted sign-ins are kept 30 days (at most 32); those more than ``EXACT_S`` (6 h) behind the user's
  newest only as the latest per place, which is all the nearest-neighbour comparison reads for any event
  within that lateness (an ordinary user signing in from home keeps one old row, not one per sign-in);
* flag when distance ≥ 500 km **and** speed ≥ 1000 km/h (Datadog's pair), Δt
  floored at 1 min; skip same IP, same /24 and same ASN; skip events without
  lat/lon/country ("geo missing": every anchor bails out);
* dampen: the current side through an anonymizer (Apple Private Relay, VPN,
  ``tunnels[].anonymous``) or an in-flight satellite ASN −30, same or bordering
  country −20, a mobile-carrier side inside one country another −20 (carrier
  egress geolocates far from the handset: the Wi-Fi ↔ LTE jump),
  an A→B transition already seen for the user −30, a known traveller (tenant
  context ``known_travellers``) −30, the user's baseline still learning
  (detections.baseline: < 10 sign-ins or < 14 days) −15 and the score capped
  below high-confidence;
* boost, from the user's baseline combined with Okta's behaviours: the far side
  in a country, city or network operator new for the user +15, on a device new
  for the user +10 (together they keep the hop at least medium while learning),
  ThreatInsight ``threatSuspected`` +15.

Service accounts listed in the tenant context never reach this detection
(``human_only``: the engine skips them). Travel alone (+40) pages at most;
clearing sessions needs a second evidence class (e.g. ThreatInsight, session
change, sensitive action).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections import geo
from detections.baseline import Novelty
from detections.columns import columns, rows
from detections.common import (
    Suppression,
    is_allowlisted_egress,
    is_mobile_carrier,
    is_successful_sign_in,
    make_finding,
    tunnel_operators,
)
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, Tier, assess
from detections.directory import NO_DIRECTORY, DirectoryFacts, target_context
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.tenant_profile import is_listed

DAY = 86400.0
# Trusted sign-ins this close (event time) to the user's newest are all kept; older ones only as the latest per
# place. A sign-in is compared with its nearest trusted neighbours in time, and for one that arrives within EXACT_S
# of the newest those are the same either way (the latest older sign-in is the latest of its place); the stores
# already take an event later than ``lifecycle.LATENESS_S`` (1 h) as too late to count on its state.
EXACT_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class ImpossibleTravelConfig:
    min_distance_km: float = 500.0
    min_speed_kmh: float = 1000.0
    min_interval_s: float = 60.0  # Δt floor
    same_network_suppresses: bool = True  # same IP, /24 or ASN → no alert
    proxy_dampening: int = 30
    inflight_asns: frozenset[int] = frozenset({22351})  # Intelsat in-flight Wi-Fi (Panther)
    nearby_country_dampening: int = 20
    known_transition_dampening: int = 30
    cold_start_dampening: int = 15  # the user's baseline is still learning
    cold_start_cap: int = 84  # below the high-confidence tier: no automatic action
    min_confidence: int = 25  # dampened below this → nothing is emitted
    allowlist_cidrs: tuple[str, ...] = ()  # corporate VPN / SWG egress: neither evaluated nor a baseline
    allowlist_asns: frozenset[int] = frozenset()
    allowlist_operators: frozenset[str] = frozenset()  # VPN tunnels the org uses (debugData.tunnels operator)
    known_travellers: frozenset[str] = frozenset()  # user ids or logins whose travel is expected
    known_traveller_dampening: int = 30
    suppress_s: float = 3600.0  # one finding per user per hour
    history_s: float = 30 * DAY  # trusted locations kept this long ...
    max_locations: int = 32  # ... at most this many
    max_transitions: int = 64


@dataclass(slots=True)
class _Loc:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "ip", "la", "lo", "c", "ci", "as", "org", "nv", "dn", "th")
    time: float
    uuid: str
    ip: str | None
    lat: float
    lon: float
    country: str
    city: str | None
    asn: int | None
    as_org: str | None = None
    novel: str = ""  # why this sign-in's place was new for the user when it arrived ("" = not new)
    device_new: str = ""  # why its device was new for the user ("" = not new)
    threat: bool = False

    def sighting(self) -> tuple[Any, ...]:
        """All a hop reads of it but when and which event: sign-ins alike in this are one place."""
        return (
            self.ip,
            self.lat,
            self.lon,
            self.country,
            self.city,
            self.asn,
            self.as_org,
            self.novel,
            self.device_new,
            self.threat,
        )

    def place(self) -> str:
        return f"{self.city}, {self.country}" if self.city else self.country


@dataclass(slots=True)
class TravelHistory:
    locations: list[_Loc] = field(default_factory=list)  # trusted sign-ins, sorted by event time
    transitions: dict[str, list[Any]] = field(default_factory=dict)  # "A>B" → [time of B, uuid of B]
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        """``{"l": locations, "t": transitions, "sup": suppression}``, the last two only when they hold any."""
        out: dict[str, Any] = {"l": columns(_Loc, self.locations)}
        if self.transitions:
            out["t"] = {k: list(v) for k, v in self.transitions.items()}
        if sup := self.sup.to_dict():
            out["sup"] = sup
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TravelHistory:
        return cls(
            rows(_Loc, data["l"]),
            {k: list(v) for k, v in data.get("t", {}).items()},
            Suppression.from_dict(data.get("sup", {}), guarded=False),
        )


class ImpossibleTravel:
    id: ClassVar[str] = "impossible_travel"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True
    reads_baseline: ClassVar[bool] = True
    reads_directory: ClassVar[bool] = True  # an admin's travel pages
    mitre: ClassVar[tuple[str, ...]] = ("T1078", "T1078.004")

    def __init__(self, config: ImpossibleTravelConfig | None = None) -> None:
        self.config = config or ImpossibleTravelConfig()
        self._travellers = frozenset(u.lower() for u in self.config.known_travellers)

    def state_key(self, event: Event) -> str | None:
        if not is_successful_sign_in(event) or not event.is_human or not event.actor_id:
            return None
        return event.actor_id

    def new_state(self) -> TravelHistory:
        return TravelHistory()

    def load_state(self, data: dict[str, Any]) -> TravelHistory:
        return TravelHistory.from_dict(data)

    def expires_at(self, state: TravelHistory) -> float:
        """Trusted locations and known transitions (``history_s`` after the newest), and the suppression."""
        cfg = self.config
        newest = [*(loc.time for loc in state.locations[-1:]), *(t[0] for t in state.transitions.values())]
        return horizon(max(newest, default=-math.inf) + cfg.history_s, state.sup.expires_at(cfg.suppress_s))

    def detect(
        self, event: Event, state: TravelHistory, novelty: Novelty, *, directory: DirectoryFacts = NO_DIRECTORY
    ) -> list[Finding]:
        cfg = self.config
        if self._allowlisted(event):
            return []
        if event.geo.lat is None or event.geo.lon is None or not event.geo.country:
            return []  # geo missing: do not evaluate
        here = _Loc(
            event.time,
            event.uuid,
            event.ip,
            event.geo.lat,
            event.geo.lon,
            event.geo.country,
            event.geo.city,
            event.asn,
            event.as_org,
        )
        place = novelty.new_place or novelty.get("asn")
        here.novel = novelty.explain(place) if place is not None else ""
        device = novelty.new_device
        here.device_new = novelty.explain(device) if device is not None else ""
        here.threat = event.threat_suspected
        findings: list[Finding] = []
        for other in self._neighbours(state, here):
            earlier, later = (other, here) if other.time <= here.time else (here, other)
            finding = self._evaluate(event, state, earlier, later, novelty, directory)
            if finding is not None:
                findings.append(finding)
        if not event.is_proxy and (event.asn is None or event.asn not in cfg.inflight_asns):
            self._remember(state, here)
        return findings

    # -- pieces --

    def _allowlisted(self, event: Event) -> bool:
        return is_allowlisted_egress(self.config, event.ip, event.asn, tunnel_operators(event))

    @staticmethod
    def _neighbours(state: TravelHistory, here: _Loc) -> list[_Loc]:
        """The trusted sign-in just before ``here`` and, for a late arrival, the one just after."""
        i = bisect.bisect_right(state.locations, here.time, key=lambda loc: loc.time)  # sorted by time
        out = []
        if i > 0:
            out.append(state.locations[i - 1])
        if i < len(state.locations):
            out.append(state.locations[i])
        return out

    def _evaluate(
        self, event: Event, state: TravelHistory, a: _Loc, b: _Loc, novelty: Novelty, directory: DirectoryFacts
    ) -> Finding | None:
        """Judge the hop a → b (a earlier). Novelty/device/threat are those of the *far* (later) side b."""
        cfg = self.config
        baseline = not novelty.learning
        if cfg.same_network_suppresses and (
            (a.ip is not None and a.ip == b.ip) or geo.same_prefix(a.ip, b.ip) or (a.asn is not None and a.asn == b.asn)
        ):
            return None
        km = geo.haversine_km(a.lat, a.lon, b.lat, b.lon)
        seconds = b.time - a.time
        kmh = geo.speed_kmh(km, seconds, cfg.min_interval_s)
        transition = f"{a.country}/{a.asn}>{b.country}/{b.asn}"
        seen = state.transitions.get(transition)
        # known only when an *earlier, different* arrival in B made the same hop (not this B seen from another A)
        known = seen is not None and seen[1] != b.uuid and seen[0] < a.time
        if seen is None or b.time < seen[0]:
            state.transitions[transition] = [b.time, b.uuid]
        if len(state.transitions) > cfg.max_transitions:
            oldest = min(state.transitions, key=lambda k: state.transitions[k][0])
            del state.transitions[oldest]
        if km < cfg.min_distance_km or kmh < cfg.min_speed_kmh:
            return None

        evidence = [
            Evidence(
                EvidenceClass.ANOMALY,
                f"impossible travel: {km:.0f} km from {a.place()} to {b.place()} in {abs(seconds) / 60:.0f} min"
                f" ({kmh:.0f} km/h)",
                40,
                (a.uuid, b.uuid),
            )
        ]
        if b.novel:
            evidence.append(Evidence(EvidenceClass.ANOMALY, f"far side new for the user: {b.novel}", 15, (b.uuid,)))
        if b.device_new:
            evidence.append(Evidence(EvidenceClass.ANOMALY, f"far side on a {b.device_new}", 10, (b.uuid,)))
        if b.threat or a.threat:
            evidence.append(
                Evidence(
                    EvidenceClass.INFRASTRUCTURE,
                    "Okta ThreatInsight suspected the IP",
                    15,
                    (b.uuid if b.threat else a.uuid,),
                )
            )
        dampeners = []
        if event.is_proxy:
            dampeners.append(
                Dampener("sign-in through an anonymizer/VPN/relay (location unreliable)", cfg.proxy_dampening)
            )
        elif event.asn is not None and event.asn in cfg.inflight_asns:
            dampeners.append(Dampener(f"in-flight satellite network AS{event.asn}", cfg.proxy_dampening))
        if a.country == b.country or geo.bordering(a.country, b.country):
            dampeners.append(
                Dampener(f"same or bordering country ({a.country} / {b.country})", cfg.nearby_country_dampening)
            )
        if a.country == b.country and (is_mobile_carrier(a.as_org) or is_mobile_carrier(b.as_org)):
            dampeners.append(
                Dampener(
                    "mobile carrier egress inside one country (carrier geolocation is coarse)",
                    cfg.nearby_country_dampening,
                )
            )
        if known:
            dampeners.append(
                Dampener(f"transition {transition} seen before for this user", cfg.known_transition_dampening)
            )
        traveller = is_listed(event, self._travellers)
        if traveller:
            dampeners.append(
                Dampener(
                    f"known traveller: travel is expected for {event.actor_login or event.actor_id}",
                    cfg.known_traveller_dampening,
                )
            )
        if not baseline:
            dampeners.append(
                Dampener(
                    f"cold start: the user's baseline is still learning ({novelty.context()})",
                    cfg.cold_start_dampening,
                )
            )
        offered = (Action.CLEAR_SESSIONS,)
        assessment = assess(evidence, dampeners, offered)
        if not baseline and assessment.score > cfg.cold_start_cap:
            dampeners.append(
                Dampener("cold start: capped below high-confidence", assessment.score - cfg.cold_start_cap)
            )
            assessment = assess(evidence, dampeners, offered)
        if assessment.score < cfg.min_confidence:
            return None
        if state.sup.suppressed("travel", b.time, cfg.suppress_s):
            return None
        state.sup.fire("travel", b.time)
        if assessment.tier is Tier.LOW:
            severity = Severity.LOW
        elif b.novel and not traveller:  # a new country is what a known traveller's travel looks like
            severity = Severity.HIGH
        else:
            severity = Severity.MEDIUM
        assessment, severity = target_context(directory, event.actor_id).apply(assessment, severity)
        return make_finding(
            event,
            detection=self.id,
            title="Impossible travel between sign-ins",
            severity=severity,
            assessment=assessment,
            anchor=(a.uuid, b.uuid),
            event_uuids=(a.uuid, b.uuid),
            mitre=self.mitre,
            time=b.time,
            summary=f"{event.actor_login} signed in from {a.place()} ({a.ip}) and {b.place()} ({b.ip}),"
            f" {km:.0f} km apart in {abs(seconds) / 60:.0f} min ({kmh:.0f} km/h)",
        )

    def _remember(self, state: TravelHistory, here: _Loc) -> None:
        """Keep ``here``; of the sign-ins more than ``EXACT_S`` behind the newest, only the latest per place."""
        cfg = self.config
        bisect.insort(state.locations, here, key=lambda loc: loc.time)
        newest = state.locations[-1].time
        kept = [loc for loc in state.locations if loc.time >= newest - cfg.history_s][-cfg.max_locations :]
        recent = bisect.bisect_left(kept, newest - EXACT_S, key=lambda loc: loc.time)
        if recent > 1:
            latest = {loc.sighting(): loc for loc in kept[:recent]}  # in time order: the last one per place stays
            kept = sorted(latest.values(), key=lambda loc: loc.time) + kept[recent:]
        state.locations = kept
