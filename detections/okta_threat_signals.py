"""Okta's own threat verdicts: ThreatInsight, ITP entity risk, admin-session roaming.

Why: Okta already did the intelligence; the daemon should consume it rather than
re-invent it (Panther Okta.ThreatInsight.Security.Threat.Detected; Okta's catalog ITP rules). Four variants:

* ``threatinsight_request`` - ``security.threat.detected``. Logged *before* the user
  is identified (no user actor), so it is keyed by client IP, never by user.
  Severity = the highest level in ``debugData.threatDetections``; DENY/RATE_LIMIT
  were already blocked and drop to INFO (Panther). No user → no action.
* ``threatinsight_on_success`` - ``threatSuspected="true"`` on a *successful* sign-in
  (``user.session.start``/``user.authentication.sso`` SUCCESS) by a human.
  INFRASTRUCTURE +40; boosters: anonymizer +15, Okta New Device +10 / New
  Geo-Location +15, and Okta sign-in risk HIGH +5 *only* for users with a baseline
  (Okta rates every new user HIGH until it has one - risk HIGH alone is never
  evidence and never produces a finding).
* ``itp_user_risk`` - ITP ``user.risk.detect`` (formerly ``user.risk.change``) raising a
  user to HIGH (+40, severity high) or MEDIUM (+20, severity medium); logged by Okta
  itself, so the principal is the target user, not the (system) actor.
* ``okta_session_roaming`` - ``security.session.detect_client_roaming``: Okta's admin
  session ASN binding saw the session move networks mid-session (+55 split into
  ANOMALY 20 + ACCESS 35, as the session-hijack detection scores it).

Offered action for the user variants: clear sessions (Okta's own answer to ITP High / ThreatInsight
on success → Universal Logout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections import debugdata
from detections.common import Suppression, is_successful_sign_in, make_finding
from detections.confidence import Action, Evidence, EvidenceClass, assess
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity

THREAT_DETECTED = "security.threat.detected"
RISK_EVENTS = frozenset({"user.risk.detect", "user.risk.change"})
ROAMING = "security.session.detect_client_roaming"
_LEVELS = {
    "INFO": Severity.INFO,
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
_ORDER = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


@dataclass(frozen=True, slots=True)
class OktaThreatSignalsConfig:
    suppress_s: float = 3600.0  # per key and variant (Panther ThreatInsight dedup 60 min)
    baseline_sign_ins: int = 10  # before this many successful sign-ins Okta's risk HIGH is ignored
    alert_on_blocked: bool = True  # emit DENY/RATE_LIMIT ThreatInsight verdicts at INFO
    baseline_keep_s: float = 90 * 86400.0  # a user's sign-in count is forgotten after this long without one


@dataclass(slots=True)
class SignalState:
    sign_ins: int = 0
    sup: Suppression = field(default_factory=Suppression)
    last: float | None = None  # the newest counted sign-in (None: counted by a version that kept no time)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.sign_ins, "sup": self.sup.to_dict(), "t": self.last}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalState:
        return cls(data["n"], Suppression.from_dict(data["sup"]), data.get("t"))


class OktaThreatSignals:
    id: ClassVar[str] = "okta_threat_signals"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS | RISK_EVENTS | {THREAT_DETECTED, ROAMING}
    keyed_by_actor: ClassVar[bool] = False

    def __init__(self, config: OktaThreatSignalsConfig | None = None) -> None:
        self.config = config or OktaThreatSignalsConfig()

    def state_key(self, event: Event) -> str | None:
        if event.event_type == THREAT_DETECTED:
            ip = request_ip(event)
            return f"ip:{ip}" if ip else None
        if event.event_type in RISK_EVENTS:
            users = event.target_ids("User")
            return f"user:{users[0]}" if users and users[0] else None
        if (event.event_type == ROAMING or is_successful_sign_in(event)) and event.is_human and event.actor_id:
            return f"user:{event.actor_id}"
        return None

    def new_state(self) -> SignalState:
        return SignalState()

    def load_state(self, data: dict[str, Any]) -> SignalState:
        return SignalState.from_dict(data)

    def expires_at(self, state: SignalState) -> float | None:
        """Suppression, and a user's sign-in count (the baseline) until ``baseline_keep_s`` after the last."""
        sup = state.sup.expires_at(self.config.suppress_s)
        if state.sign_ins == 0:
            return sup
        if state.last is None:
            return None  # counted before times were kept: until the next sign-in dates it
        return max(sup, state.last + self.config.baseline_keep_s)

    def detect(self, event: Event, state: SignalState) -> list[Finding]:
        if state.sup.replayed(event.uuid, event.time, keep=not self._ordinary(event, state)):
            return []
        if event.event_type == THREAT_DETECTED:
            return self._threat_request(event, state)
        if event.event_type in RISK_EVENTS:
            return self._itp(event, state)
        if event.event_type == ROAMING:
            return self._roaming(event, state)
        baseline = state.sign_ins >= self.config.baseline_sign_ins
        state.sign_ins += 1
        state.last = event.time if state.last is None else max(state.last, event.time)
        return self._on_success(event, state, baseline)

    def _ordinary(self, event: Event, state: SignalState) -> bool:
        """A sign-in without a verdict of a user with a baseline already: counted again, it would change nothing
        a finding reads (the count only says whether it reached ``baseline_sign_ins``), so the guard does not
        keep it (most sign-ins of most users)."""
        return (
            event.event_type in SUCCESSFUL_SIGN_INS
            and not event.threat_suspected
            and state.sign_ins >= self.config.baseline_sign_ins
        )

    def _fire(self, state: SignalState, variant: str, time: float) -> bool:
        if state.sup.suppressed(variant, time, self.config.suppress_s):
            return False
        state.sup.fire(variant, time)
        return True

    def _threat_request(self, event: Event, state: SignalState) -> list[Finding]:
        detections = debugdata.parse_json_map(event.debug.get("threatdetections"))
        levels = [str(v).upper() for v in detections.values() if str(v).upper() in _LEVELS]
        level = max(levels, key=_ORDER.index) if levels else "HIGH"
        blocked = event.outcome in ("DENY", "RATE_LIMIT")
        if blocked and not self.config.alert_on_blocked:
            return []
        if not self._fire(state, "blocked" if blocked else "allowed", event.time):
            return []
        what = event.outcome_reason or ", ".join(detections) or "threat"
        ip = request_ip(event)
        if blocked:
            evidence = Evidence(
                EvidenceClass.INFRASTRUCTURE,
                f"ThreatInsight {what} from {ip}, blocked ({event.outcome})",
                15,
                (event.uuid,),
            )
            severity = Severity.INFO
        else:
            evidence = Evidence(
                EvidenceClass.INFRASTRUCTURE,
                f"ThreatInsight {what} from {ip} let through ({event.outcome or 'log-only'})",
                40,
                (event.uuid,),
            )
            severity = _LEVELS[level]
        spray = "spray" in what.lower()
        return [
            make_finding(
                event,
                detection="threatinsight_request",
                title="Okta ThreatInsight flagged a request",
                severity=severity,
                assessment=assess([evidence]),
                anchor=(event.uuid,),
                event_uuids=(event.uuid,),
                mitre=("T1110.003",) if spray else ("T1110",),
                time=event.time,
                summary=f"ThreatInsight: {what} from {ip} ({level}), outcome {event.outcome or 'unknown'}",
                principal="",
                principal_login="",
                sources=(ip or "",),
            )
        ]

    def _on_success(self, event: Event, state: SignalState, baseline: bool) -> list[Finding]:
        if not event.threat_suspected or not self._fire(state, "threat_on_success", event.time):
            return []
        u = (event.uuid,)
        evidence = [
            Evidence(
                EvidenceClass.INFRASTRUCTURE,
                f"ThreatInsight suspected {event.ip} on a successful sign-in",
                40,
                u,
                vendor_verdict=True,
            )
        ]
        if event.is_proxy:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "signed in through an anonymizer", 15, u))
        if event.behavior_positive("New Geo-Location") or event.behavior_positive("New Country"):
            evidence.append(Evidence(EvidenceClass.ANOMALY, "new geo-location (Okta behavior)", 15, u))
        if event.behavior_positive("New Device"):
            evidence.append(Evidence(EvidenceClass.ANOMALY, "new device (Okta behavior)", 10, u))
        if event.risk_level == "HIGH" and baseline:
            evidence.append(
                Evidence(EvidenceClass.INFRASTRUCTURE, "Okta sign-in risk HIGH (user has a baseline)", 5, u)
            )
        return [
            make_finding(
                event,
                detection="threatinsight_on_success",
                title="Successful sign-in from an IP ThreatInsight suspects",
                severity=Severity.HIGH,
                assessment=assess(evidence, offered=(Action.CLEAR_SESSIONS,)),
                anchor=u,
                event_uuids=u,
                mitre=("T1078", "T1078.004"),
                time=event.time,
                summary=f"{event.actor_login} signed in successfully from {event.ip}, which ThreatInsight suspects",
            )
        ]

    def _itp(self, event: Event, state: SignalState) -> list[Finding]:
        level = event.risk_level
        if level not in ("HIGH", "MEDIUM"):
            return []
        previous = event.risk.get("previousLevel", "").upper()
        if previous == "HIGH" and level == "MEDIUM":
            return []  # a downgrade
        if not self._fire(state, f"itp_{level}", event.time):
            return []
        name = event.risk.get("detectionName", "") or "entity risk"
        reasons = event.risk.get("reasons", "")
        high = level == "HIGH"
        evidence = Evidence(
            EvidenceClass.INFRASTRUCTURE,
            f"Okta ITP {name}: user risk {previous or '?'} → {level}" + (f" ({reasons})" if reasons else ""),
            40 if high else 20,
            (event.uuid,),
            vendor_verdict=high,
        )
        target = event.target("User") or {}
        hijack = "hijack" in f"{name} {reasons}".lower()
        return [
            make_finding(
                event,
                detection="itp_user_risk",
                title=f"Okta ITP raised user risk to {level}",
                severity=Severity.HIGH if high else Severity.MEDIUM,
                assessment=assess([evidence], offered=(Action.CLEAR_SESSIONS,)),
                anchor=(event.uuid,),
                event_uuids=(event.uuid,),
                mitre=("T1539",) if hijack else ("T1078",),
                time=event.time,
                summary=f"ITP {name} → {level}" + (f": {reasons}" if reasons else ""),
                principal=str(target.get("id") or ""),
                principal_login=str(target.get("alternateId") or target.get("alternateid") or ""),
            )
        ]

    def _roaming(self, event: Event, state: SignalState) -> list[Finding]:
        if not self._fire(state, "roaming", event.time):
            return []
        u = (event.uuid,)
        evidence = [
            Evidence(
                EvidenceClass.ANOMALY, "Okta session binding: the session changed network (ASN) mid-session", 20, u
            ),
            Evidence(EvidenceClass.ACCESS, "the session is being used from the new network", 35, u),
        ]
        if event.is_proxy:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "new network is an anonymizer", 15, u))
        if event.threat_suspected:
            evidence.append(Evidence(EvidenceClass.INFRASTRUCTURE, "ThreatInsight suspected the new IP", 15, u))
        return [
            make_finding(
                event,
                detection="okta_session_roaming",
                title="Okta detected a roaming (possibly stolen) session",
                severity=Severity.HIGH,
                assessment=assess(evidence, offered=(Action.CLEAR_SESSIONS,)),
                anchor=u,
                event_uuids=u,
                mitre=("T1539", "T1550.004"),
                time=event.time,
                summary=f"session {event.session_id} of {event.actor_login} roamed to {event.ip} (AS{event.asn})",
            )
        ]


def request_ip(event: Event) -> str | None:
    """The client IP of a ThreatInsight verdict: ``client.ipAddress``, else the actor, which Okta sets to the
    IP itself (type "IP address") because the request is judged before any user is identified."""
    if event.ip:
        return event.ip
    if event.actor_type.lower() == "ip address" and event.actor_id:
        return event.actor_id
    return None
