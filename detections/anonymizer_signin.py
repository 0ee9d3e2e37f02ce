"""Sign-in through an anonymizer from a new device or a new location.

Why: attackers replaying stolen passwords hide behind VPNs, residential
proxies and Tor, and they arrive from a device and place Okta has never seen
for the user. Either alone is a standing false positive (privacy VPN users,
Apple Private Relay, travellers); together on a *successful* sign-in they are
Okta's own "new device + new geo + proxy" detection (Okta's catalog "User
Authenticates from a New Device through a Proxy").

How (per user, on ``user.session.start``/``user.authentication.sso`` SUCCESS by
a human actor):

* anonymizer = ``securityContext.isProxy`` or a ``debugData.tunnels`` entry with
  ``anonymous: true`` (both folded into ``Event.is_proxy``); the tunnel operator
  is named in the evidence when present;
* novelty = a device new for the user (the user's baseline, which learns
  devices through anonymizers too, combined with Okta's ``New Device``), or
  Okta's ``New Geo-Location``/``New Country`` POSITIVE: the baseline does not
  judge places through an anonymizer, whose location is the relay's, so a
  privacy-VPN user is not "somewhere new" at every sign-in. UNKNOWN/BAD_REQUEST
  mean "no history" and do not count (docs/okta-quirks.md#behaviors). No
  novelty → nothing;
* evidence: anonymizer +15, new geo +15, new device +10, ThreatInsight
  ``threatSuspected`` +15;
* dampeners: Apple Private Relay / a privacy relay or VPN ASN the org accepts
  −30 (config ``relay_asns``); allowlisted corporate egress (CIDRs, ASNs) or
  tunnels whose operators the org uses are not evaluated at all (the tenant
  context's egress is merged into these allowlists);
* listed service accounts never reach this detection (``human_only``).

Severity medium (high for listed privileged users). No automatic action: the
finding contributes context and pages at most (privacy VPN users make it noisy alone). One
finding per user per 6 h (Panther's 360 min), event-time based.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.baseline import Novelty
from detections.common import (
    Suppression,
    is_allowlisted_egress,
    is_successful_sign_in,
    make_finding,
    tunnel_operators,
)
from detections.confidence import Dampener, Evidence, EvidenceClass, assess
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity


@dataclass(frozen=True, slots=True)
class AnonymizerSignInConfig:
    geo_behaviors: tuple[str, ...] = ("New Geo-Location", "New Country")
    device_behaviors: tuple[str, ...] = ("New Device",)
    anonymizer_points: int = 15
    new_geo_points: int = 15
    new_device_points: int = 10
    threat_points: int = 15
    # Apple iCloud Private Relay egress (Akamai, Cloudflare, Fastly): privacy, not evasion
    relay_asns: frozenset[int] = frozenset({36183, 13335, 54113})
    relay_dampening: int = 30
    allowlist_cidrs: tuple[str, ...] = ()  # corporate VPN egress: not evaluated
    allowlist_asns: frozenset[int] = frozenset()  # corporate VPN egress: not evaluated
    allowlist_operators: frozenset[str] = frozenset()  # tunnel operators the org uses (e.g. "ZSCALER", "NordVPN")
    privileged_user_ids: frozenset[str] = frozenset()  # severity high for these (admins)
    min_confidence: int = 20  # dampened below this → nothing is emitted
    suppress_s: float = 6 * 3600.0


@dataclass(slots=True)
class AnonymizerState:
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnonymizerState:
        return cls(Suppression.from_dict(data["sup"], guarded=False))


class AnonymizerSignIn:
    id: ClassVar[str] = "anonymizer_signin"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True
    reads_baseline: ClassVar[bool] = True  # is the device new for the user?
    mitre: ClassVar[tuple[str, ...]] = ("T1090", "T1090.003", "T1078.004")

    def __init__(self, config: AnonymizerSignInConfig | None = None) -> None:
        self.config = config or AnonymizerSignInConfig()

    def state_key(self, event: Event) -> str | None:
        if not is_successful_sign_in(event) or not event.is_human or not event.actor_id or not event.is_proxy:
            return None
        return event.actor_id

    def new_state(self) -> AnonymizerState:
        return AnonymizerState()

    def load_state(self, data: dict[str, Any]) -> AnonymizerState:
        return AnonymizerState.from_dict(data)

    def expires_at(self, state: AnonymizerState) -> float:
        return state.sup.expires_at(self.config.suppress_s)

    def detect(self, event: Event, state: AnonymizerState, novelty: Novelty) -> list[Finding]:
        cfg = self.config
        operators = tunnel_operators(event)
        if is_allowlisted_egress(cfg, event.ip, event.asn, operators):
            return []
        new_geo = [b for b in cfg.geo_behaviors if event.behavior_positive(b)]
        device = novelty.new_device  # the baseline, with Okta's New Device
        new_device = device is not None or any(event.behavior_positive(b) for b in cfg.device_behaviors)
        if not new_geo and not new_device:
            return []
        u = (event.uuid,)
        via = f" ({', '.join(operators)})" if operators else ""
        evidence = [
            Evidence(
                EvidenceClass.INFRASTRUCTURE,
                f"successful sign-in through an anonymizer/VPN{via} from AS{event.asn} {event.as_org or ''}".rstrip(),
                cfg.anonymizer_points,
                u,
            )
        ]
        if new_geo:
            evidence.append(
                Evidence(
                    EvidenceClass.ANOMALY,
                    f"new location for the user (Okta {', '.join(new_geo)})",
                    cfg.new_geo_points,
                    u,
                )
            )
        if new_device:
            label = novelty.explain(device) if device is not None else "new device for the user (Okta New Device)"
            evidence.append(Evidence(EvidenceClass.ANOMALY, label, cfg.new_device_points, u))
        if event.threat_suspected:
            evidence.append(
                Evidence(EvidenceClass.INFRASTRUCTURE, "Okta ThreatInsight suspected the IP", cfg.threat_points, u)
            )
        dampeners = []
        if event.asn is not None and event.asn in cfg.relay_asns:
            dampeners.append(
                Dampener(f"privacy relay network AS{event.asn} (e.g. Apple Private Relay)", cfg.relay_dampening)
            )
        assessment = assess(evidence, dampeners)
        if assessment.score < cfg.min_confidence or state.sup.suppressed("proxy", event.time, cfg.suppress_s):
            return []
        state.sup.fire("proxy", event.time)
        new_what = " and ".join(x for x in ("new location" if new_geo else "", "new device" if new_device else "") if x)
        return [
            make_finding(
                event,
                detection=self.id,
                title="Sign-in through an anonymizer from a new device or location",
                severity=Severity.HIGH if event.actor_id in cfg.privileged_user_ids else Severity.MEDIUM,
                assessment=assessment,
                anchor=u,
                event_uuids=u,
                mitre=self.mitre,
                time=event.time,
                summary=f"{event.actor_login} signed in through an anonymizer{via} from {event.ip}"
                f" ({event.geo.country or 'unknown country'}, AS{event.asn}) with {new_what}",
            )
        ]
