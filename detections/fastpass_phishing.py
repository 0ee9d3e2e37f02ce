"""Okta FastPass declined a phishing attempt, and a later sign-in from the flagged phishing IP.

Why: FastPass checks the origin a sign-in comes through. A real-time phishing
proxy (AiTM) relaying the Okta page fails that check and Okta logs
``user.authentication.auth_via_mfa`` FAILURE with ``outcome.reason`` "FastPass
declined phishing attempt": the user is being phished right now, by
infrastructure Okta can name (Panther Okta.Phishing.Attempt.Blocked.FastPass, Elastic,
Sigma, Splunk and Okta's catalog match that exact event type and reason).

* ``fastpass_phishing`` - the blocked attempt: attack on the user +30 and Okta's
  verdict on the source +30 (boosters: anonymizer +15, ThreatInsight +15).
  Severity high; FastPass already stopped it, so no action. Once per user per
  30 min (Panther dedup).
* ``fastpass_phishing_success`` - the same user then signs in successfully
  (``user.session.start``/``user.authentication.sso``) from the IP FastPass
  flagged, ≤ 24 h later: the user fell back to a phishable factor through the
  proxy, or the attacker replays what it captured (Okta ITP "Suspicious login
  from an IP flagged by FastPass", High, answered with Universal Logout and a
  password reset). Scored as success_after_credential_attack: attack +30, access +35, access from the
  flagged IP +20 = 85 with two classes, which earns clear sessions + expire
  password. Dampeners likewise: the success from the user's known device and IP
  (Okta ``New Device``/``New IP`` NEGATIVE) −30, allowlisted egress −40, each
  keeping it below the action tier. Once per user per hour.

The flagged IP is ``client.ipAddress`` of the blocked event (the proxy, per
Okta's and Datadog's guides). When that event's client is Okta Verify itself
(its user agent), the address is the user's device, not the proxy, so it is not
used for the follow-on. Keyed by the actor id (the blocked event and the
sign-in carry the same user); a blocked event logged under a non-human actor
still alerts, with the target user as principal, but cannot be chained. Event
time throughout: a sign-in seen ≤ 15 min before a late blocked event still
completes the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from detections import geo
from detections.columns import columns, rows
from detections.common import Suppression, is_successful_sign_in, make_finding
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, assess
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Window

PHISHING_REASON = "fastpass declined phishing attempt"
_OKTA_VERIFY_UA_MARKERS = ("oktadevicesdk", "com.okta.mobile", "oktaverify", "okta verify")


def is_fastpass_phishing_block(event: Event) -> bool:
    return (
        event.event_type == "user.authentication.auth_via_mfa"
        and event.outcome == "FAILURE"
        and event.outcome_reason.strip().lower() == PHISHING_REASON
    )


def _is_okta_verify_client(ua: str | None) -> bool:
    low = (ua or "").lower()
    return any(marker in low for marker in _OKTA_VERIFY_UA_MARKERS)


@dataclass(frozen=True, slots=True)
class FastPassPhishingConfig:
    follow_s: float = 86400.0  # a success from the flagged IP at most this long after the blocked attempt
    lateness_s: float = 900.0
    suppress_s: float = 1800.0  # blocked attempts: once per user per 30 min (Panther dedup)
    success_suppress_s: float = 3600.0
    known_client_dampening: int = 30
    allowlist_cidrs: tuple[str, ...] = ()  # corporate egress / NAT
    allowlist_dampening: int = 40
    max_entries: int = 32  # per user, for each of blocked attempts and recent sign-ins


@dataclass(slots=True)
class _Phish:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "ip", "fl")
    time: float
    uuid: str
    ip: str | None  # the flagged proxy IP, None when the event's IP is not the proxy's
    flags: str  # P anonymizer, T ThreatInsight suspected

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class _Success:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "ip", "kc", "fl")
    time: float
    uuid: str
    ip: str | None
    known_client: bool
    flags: str

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class PhishingState:
    """Blocked attempts (kept follow_s) and recent sign-ins (kept for blocked events that arrive late)."""

    phishes: Window[_Phish]
    successes: Window[_Success]
    sup: Suppression

    def to_dict(self) -> dict[str, Any]:
        return {
            "p": columns(_Phish, self.phishes),
            "s": columns(_Success, self.successes),
            "h": max(self.phishes.high_water, self.successes.high_water),
            "sup": self.sup.to_dict(),
        }


def _flags(event: Event) -> str:
    return ("P" if event.is_proxy else "") + ("T" if event.threat_suspected else "")


class FastPassPhishing:
    id: ClassVar[str] = "fastpass_phishing"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS | {"user.authentication.auth_via_mfa"}
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True  # a person's sign-in and factors: listed service accounts are skipped
    mitre: ClassVar[tuple[str, ...]] = ("T1566.002", "T1557")

    def __init__(self, config: FastPassPhishingConfig | None = None) -> None:
        self.config = config or FastPassPhishingConfig()

    def state_key(self, event: Event) -> str | None:
        if not event.actor_id or event.actor_id.lower() == "unknown":
            return None
        if is_fastpass_phishing_block(event):
            if event.is_human:
                return event.actor_id
            # Logged under Okta's own actor: one state per (that actor, target user), still one actor per key.
            users = event.target_ids("User")
            return f"{event.actor_id}>{users[0] if users else event.ip or event.uuid}"
        if is_successful_sign_in(event) and event.is_human:
            return event.actor_id
        return None

    def new_state(self) -> PhishingState:
        return self.load_state({"p": [], "s": [], "h": 0.0, "sup": {}})

    def load_state(self, data: dict[str, Any]) -> PhishingState:
        cfg = self.config
        phishes = Window(cfg.follow_s + cfg.lateness_s, cfg.max_entries, rows(_Phish, data["p"]), data["h"])
        successes = Window(cfg.lateness_s, cfg.max_entries, rows(_Success, data["s"]), data["h"])
        return PhishingState(phishes, successes, Suppression.from_dict(data["sup"], guarded=False))

    def expires_at(self, state: PhishingState) -> float:
        """Blocked attempts (``follow_s``), sign-ins kept for late blocked events, and both suppressions."""
        sup = state.sup.expires_at(max(self.config.suppress_s, self.config.success_suppress_s))
        return horizon(state.phishes.expires_at(), state.successes.expires_at(), sup)

    def detect(self, event: Event, state: PhishingState) -> list[Finding]:
        cfg = self.config
        if state.phishes.too_late(event.time):
            return []
        findings: list[Finding] = []
        if is_fastpass_phishing_block(event):
            proxy_ip = None if _is_okta_verify_client(event.user_agent) else event.ip
            phish = _Phish(event.time, event.uuid, proxy_ip, _flags(event))
            if not state.phishes.add(phish):
                return []
            findings += self._blocked(event, state, phish)
            candidates = state.successes.between(phish.time, phish.time + cfg.follow_s)
        else:
            known = event.behaviors.get("New Device") == "NEGATIVE" and event.behaviors.get("New IP") == "NEGATIVE"
            success = _Success(event.time, event.uuid, event.ip, known, _flags(event))
            if state.successes.too_late(success.time):  # kept only for blocked events that arrive late:
                candidates = [success]  # still judged against the blocked attempts held
            elif not state.successes.add(success):
                return []
            else:
                candidates = [success]
        for window in (state.phishes, state.successes):
            window.advance(max(state.phishes.high_water, state.successes.high_water, event.time))
        for success in candidates:
            matched = self._match(state, success)
            if matched is None or state.sup.suppressed("success", success.time, cfg.success_suppress_s):
                continue
            state.sup.fire("success", success.time)
            findings.append(self._chained(event, matched, success))
        return findings

    def _match(self, state: PhishingState, success: _Success) -> _Phish | None:
        """The latest blocked attempt from the success's IP at most follow_s before it."""
        hits = [
            p for p in state.phishes.between(success.time - self.config.follow_s, success.time) if p.ip == success.ip
        ]
        return hits[-1] if hits and success.ip else None

    def _blocked(self, event: Event, state: PhishingState, phish: _Phish) -> list[Finding]:
        if state.sup.suppressed("blocked", phish.time, self.config.suppress_s):
            return []
        state.sup.fire("blocked", phish.time)
        u = (event.uuid,)
        via = f"through {event.ip}" if event.ip else "through an unknown address"
        evidence = [
            Evidence(EvidenceClass.ATTACK_PATTERN, f"real-time phishing (AiTM) of the user {via}", 30, u),
            Evidence(
                EvidenceClass.INFRASTRUCTURE,
                "Okta FastPass origin check: the sign-in came through a page that is not the org's"
                + ("" if phish.ip else " (logged from Okta Verify: the IP is the user's device)"),
                30,
                u,
            ),
            *_booster_evidence(phish.flags, u, "the phishing request"),
        ]
        principal, login = event.actor_id, event.actor_login
        if not event.is_human:
            target = event.target("User") or {}
            principal = str(target.get("id") or "")
            login = str(target.get("alternateId") or target.get("alternateid") or "")
        return [
            make_finding(
                event,
                detection=self.id,
                title="Okta FastPass blocked a phishing (AiTM) sign-in",
                severity=Severity.HIGH,
                assessment=assess(evidence),
                anchor=u,
                event_uuids=u,
                mitre=self.mitre,
                time=event.time,
                summary=f"FastPass declined a phishing attempt on {login or principal or 'a user'} {via}",
                principal=principal,
                principal_login=login,
            )
        ]

    def _chained(self, event: Event, phish: _Phish, success: _Success) -> Finding:
        cfg = self.config
        minutes = (success.time - phish.time) / 60
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"FastPass declined a phishing attempt on the user through {phish.ip}",
                30,
                (phish.uuid,),
            ),
            Evidence(
                EvidenceClass.ACCESS,
                f"successful sign-in {minutes:.0f} min after the blocked attempt",
                35,
                (success.uuid,),
            ),
            Evidence(EvidenceClass.ACCESS, f"the sign-in came from the phishing IP {success.ip}", 20, (success.uuid,)),
            *_booster_evidence(success.flags, (success.uuid,), "the sign-in"),
        ]
        dampeners = []
        if success.known_client:
            dampeners.append(
                Dampener(
                    "sign-in from the user's known device and IP (Okta New Device/New IP NEGATIVE): likely the user",
                    cfg.known_client_dampening,
                )
            )
        if geo.ip_in(success.ip, cfg.allowlist_cidrs):
            dampeners.append(Dampener("allowlisted corporate egress", cfg.allowlist_dampening))
        return make_finding(
            event,
            detection="fastpass_phishing_success",
            title="Sign-in from an IP FastPass flagged as phishing",
            severity=Severity.HIGH,
            assessment=assess(evidence, dampeners, (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)),
            anchor=(success.uuid,),
            event_uuids=(phish.uuid, success.uuid),
            mitre=(*self.mitre, "T1078.004"),
            time=success.time,
            summary=f"{event.actor_login or event.actor_id} signed in from {success.ip} {minutes:.0f} min after"
            " FastPass blocked a phishing attempt from it",
        )


def _booster_evidence(flags: str, uuids: tuple[str, ...], what: str) -> list[Evidence]:
    out = []
    if "P" in flags:
        out.append(Evidence(EvidenceClass.INFRASTRUCTURE, f"{what} came through an anonymizer", 15, uuids))
    if "T" in flags:
        out.append(Evidence(EvidenceClass.INFRASTRUCTURE, f"ThreatInsight suspected {what}'s IP", 15, uuids))
    return out
