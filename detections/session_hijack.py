"""Session hijack / cookie replay: one Okta session used from two networks by two different clients.

Why: an Okta session cookie (or an AiTM-captured one) replayed by an attacker
keeps the victim's ``externalSessionId`` but arrives from the attacker's network
and browser. A legitimate user moving networks keeps the same browser (UA
family and ``dtHash`` device-token cookie); a thief changes the network *and*
the client (Panther Okta.PotentiallyStolenSession; Okta's catalog "Suspicious Use of an Okta Session Cookie").

How (per session: ``authenticationContext.externalSessionId``, falling back to
``rootSessionId``; any event of a human actor carrying an ASN):

* every distinct client sighting (ASN, IP, country, UA family, dtHash) is kept,
  earliest first, for the session lifetime (1 day), at most ``max_sightings``
  per session;
* a sighting on ASN B fires against an earlier-or-later sighting on ASN A of
  the same session when the UA family (OS/browser, or the raw UA by difflib
  ratio < 0.95 when Okta did not parse it) **or** the dtHash differs. A country
  change is a booster, not a requirement (replay from the victim's own country
  must still fire). The pair {A, B} is unordered, so out-of-order arrival finds
  the same pair, and the dedup key is tenant + session + ASN pair;
* evidence: session attribute change +55 (ANOMALY 20 + ACCESS 35, as Okta's
  own roaming signal is scored); boosters on the newer side: another country
  +15, anonymizer +15, scripted/headless UA +15, ThreatInsight +15;
* dampeners: mobile carrier ↔ Wi-Fi inside one country on the same device
  (same dtHash) −20; allowlisted corporate VPN/SWG egress (CIDR or ASN, the
  tenant context's merged in) on either side −40;
* ignored: Okta's internal Admin Console client (it makes IP/UA appear to
  change inside a session), non-human actors, the tenant's listed service
  accounts (``human_only``: the engine skips them).

State is keyed by the **user** (actor id), not by the session: the state stores
(embedded SQLite, Kafka/Faust tables) never delete a key, and a key per session
would add one key per sign-in forever. Per user there is one key, holding a
bounded map of that user's live sessions: a session whose last sighting is
older than the session lifetime before the user's newest event (event time)
is evicted, and beyond ``max_sessions`` the least recently seen session goes.
Pair suppression lives in its session (it ends with it); the replay guard is
the actor record's. A sighting keeps the dtHash as a digest (it is only compared).

Offered action: clear sessions (low-regret; needs the high-confidence tier,
i.e. a corroborator on top of the session change).
"""

from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.columns import columns, rows
from detections.common import (
    Suppression,
    digest,
    is_allowlisted_egress,
    is_mobile_carrier,
    is_scripted_user_agent,
    make_finding,
)
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, assess
from detections.directory import NO_DIRECTORY, DirectoryFacts, target_context
from detections.event import OKTA_ADMIN_CONSOLE_CLIENT, Event, PushResponse
from detections.finding import Finding, Severity
from detections.lifecycle import horizon

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class SessionHijackConfig:
    session_ttl_s: float = DAY  # Okta's default maximum session lifetime
    ua_similarity: float = 0.95  # raw UA ratio below this = a different client (Panther)
    country_change_points: int = 15
    anonymizer_points: int = 15
    scripted_ua_points: int = 15
    threat_points: int = 15
    carrier_wifi_dampening: int = 20
    allowlist_cidrs: tuple[str, ...] = ()  # corporate VPN / SWG egress
    allowlist_asns: frozenset[int] = frozenset()  # corporate VPN / SWG egress (Zscaler, Netskope ...)
    allowlist_dampening: int = 40
    min_confidence: int = 25  # dampened below this → nothing is emitted
    max_sightings: int = 32  # per session
    max_sessions: int = 16  # live sessions kept per user; beyond, the least recently seen is evicted
    ignored_client_ids: frozenset[str] = frozenset({OKTA_ADMIN_CONSOLE_CLIENT})


@dataclass(slots=True)
class _Sighting:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "ip", "as", "org", "c", "os", "b", "ua", "dt", "px", "th")
    time: float
    uuid: str
    ip: str | None
    asn: int
    as_org: str | None
    country: str | None
    os: str | None
    browser: str | None
    ua: str | None
    dt: str | None  # the dtHash's digest (common.digest): compared, never shown
    proxy: bool
    threat: bool

    def signature(self) -> tuple[Any, ...]:
        return (self.ip, self.asn, self.os, self.browser, self.ua, self.dt, self.proxy, self.threat)

    def family(self) -> str | None:
        if self.os or self.browser:
            return f"{self.browser or '?'} on {self.os or '?'}"
        return None


@dataclass(slots=True)
class _Session:
    sightings: list[_Sighting] = field(default_factory=list)  # sorted by event time, one per signature
    high_water: float = 0.0  # the session's newest sighting (event time)
    fired: Suppression = field(default_factory=Suppression)  # per ASN pair: when it fired (event time)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Session:
        """The previous layout's session: its own table, the whole dtHash."""
        sightings = rows(_Sighting, data["s"])
        for x in sightings:
            x.dt = digest(x.dt)
        return cls(sightings, data["h"], Suppression.from_dict(data["f"], guarded=False))


@dataclass(slots=True)
class SessionState:
    """One user's live sessions (session id -> _Session); the actor record's guard screens replays.

    Encoded ``{"u": the user's newest (left out when it is a session's), "k": session ids, "h": each one's
    newest, "n": each one's count of sightings, "s": every sighting in one table (session by session), "f":
    {index: pair suppression} (those that fired)}``: a user's sessions mostly share one client, stored once. The
    previous layout (``"x"``: a table per session) still reads."""

    sessions: dict[str, _Session] = field(default_factory=dict)
    high_water: float = 0.0  # the user's newest processed event (event time)

    def to_dict(self) -> dict[str, Any]:
        sessions = list(self.sessions.values())
        out: dict[str, Any] = {
            "k": list(self.sessions),
            "h": [x.high_water for x in sessions],
            "n": [len(x.sightings) for x in sessions],
            "s": columns(_Sighting, [y for x in sessions for y in x.sightings]),
        }
        if self.high_water != max(out["h"], default=None):  # usually the newest session's: not repeated
            out["u"] = self.high_water
        fired = {str(i): x.fired.to_dict() for i, x in enumerate(sessions) if x.fired.last_fired}
        if fired:
            out["f"] = fired
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        if "x" in data:
            return cls({sid: _Session.from_dict(x) for sid, x in data["x"].items()}, data["h"])
        sightings, fired = rows(_Sighting, data["s"]), data.get("f", {})
        sessions, start = {}, 0
        for i, (sid, high_water, count) in enumerate(zip(data["k"], data["h"], data["n"], strict=True)):
            pairs = Suppression.from_dict(fired[str(i)], guarded=False) if str(i) in fired else Suppression()
            sessions[sid] = _Session(sightings[start : start + count], high_water, pairs)
            start += count
        return cls(sessions, data.get("u", max(data["h"], default=0.0)))


class SessionHijack:
    id: ClassVar[str] = "session_hijack"
    event_types: ClassVar[frozenset[str] | None] = None  # any event carrying a session
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True
    reads_directory: ClassVar[bool] = True  # a stolen admin session pages
    mitre: ClassVar[tuple[str, ...]] = ("T1539", "T1550.004", "T1557", "T1078.004")

    def __init__(self, config: SessionHijackConfig | None = None) -> None:
        self.config = config or SessionHijackConfig()

    @staticmethod
    def session_of(event: Event) -> str | None:
        return event.session_id or event.root_session_id

    def state_key(self, event: Event) -> str | None:
        if not event.is_human or not event.actor_id or event.asn is None:
            return None
        if event.client_id is not None and event.client_id in self.config.ignored_client_ids:
            return None
        if event.push not in (None, PushResponse.SENT):
            return None  # answered on the user's phone: another network by design, not the session's browser
        if self.session_of(event) is None:
            return None
        return event.actor_id  # one key per user (bounded), the sessions live inside it

    def new_state(self) -> SessionState:
        return SessionState()

    def load_state(self, data: dict[str, Any]) -> SessionState:
        return SessionState.from_dict(data)

    def expires_at(self, state: SessionState) -> float:
        """A session (and the pair suppression inside it) lasts a session lifetime after its newest sighting."""
        return horizon(*(x.high_water + self.config.session_ttl_s for x in state.sessions.values()))

    def detect(self, event: Event, state: SessionState, *, directory: DirectoryFacts = NO_DIRECTORY) -> list[Finding]:
        cfg = self.config
        sid = self.session_of(event)
        if event.asn is None or sid is None:
            return []
        session = state.sessions.get(sid)
        # older than the session's lifetime before its newest sighting (or, for a session not kept, before the
        # user's newest event: it would be evicted at once, with nothing to pair with)
        horizon = (session.high_water if session is not None else state.high_water) - cfg.session_ttl_s
        if event.time < horizon:
            return []
        if session is None:
            session = state.sessions[sid] = _Session()
        here = _Sighting(
            event.time,
            event.uuid,
            event.ip,
            event.asn,
            event.as_org,
            event.geo.country,
            event.ua_os,
            event.ua_browser,
            event.user_agent,
            digest(event.dt_hash),
            event.is_proxy,
            event.threat_suspected,
        )
        findings = []
        others = {x.asn for x in session.sightings if x.asn != here.asn}  # usually none: one network per session
        for asn in sorted(others) if others else ():
            other = next((x for x in session.sightings if x.asn == asn and self._client_changed(x, here)), None)
            if other is None:
                continue
            finding = self._evaluate(event, session, other, here, directory)
            if finding is not None:
                findings.append(finding)
        self._remember(session, here)
        self._evict(state, event.time)
        return findings

    # -- pieces --

    def _client_changed(self, a: _Sighting, b: _Sighting) -> bool:
        if a.dt and b.dt and a.dt != b.dt:
            return True
        fa, fb = a.family(), b.family()
        if fa is not None and fb is not None:
            return fa.lower() != fb.lower()
        if a.ua and b.ua:
            return difflib.SequenceMatcher(None, a.ua, b.ua).ratio() < self.config.ua_similarity
        return False

    def _evaluate(
        self, event: Event, state: _Session, x: _Sighting, y: _Sighting, directory: DirectoryFacts
    ) -> Finding | None:
        cfg = self.config
        old, new = (x, y) if (x.time, x.uuid) <= (y.time, y.uuid) else (y, x)
        pair = f"AS{min(old.asn, new.asn)}-AS{max(old.asn, new.asn)}"
        session = self.session_of(event) or "-"
        changes = [f"AS{old.asn} → AS{new.asn}"]
        if old.dt and new.dt and old.dt != new.dt:
            changes.append("new device token (dtHash)")
        if (old.family() or old.ua) != (new.family() or new.ua):
            changes.append(f"client {old.family() or old.ua} → {new.family() or new.ua}")
        u = (old.uuid, new.uuid)
        evidence = [
            Evidence(
                EvidenceClass.ANOMALY, f"session attribute change inside one session: {', '.join(changes)}", 20, u
            ),
            Evidence(EvidenceClass.ACCESS, "the session is being used from the new network and client", 35, u),
        ]
        if old.country and new.country and old.country != new.country:
            evidence.append(
                Evidence(
                    EvidenceClass.ANOMALY,
                    f"new network is in another country ({old.country} → {new.country})",
                    cfg.country_change_points,
                    (new.uuid,),
                )
            )
        if new.proxy:
            evidence.append(
                Evidence(
                    EvidenceClass.INFRASTRUCTURE, "new network is an anonymizer/VPN", cfg.anonymizer_points, (new.uuid,)
                )
            )
        if is_scripted_user_agent(new.ua):
            evidence.append(
                Evidence(
                    EvidenceClass.ANOMALY,
                    f"scripted/headless user agent: {new.ua}",
                    cfg.scripted_ua_points,
                    (new.uuid,),
                )
            )
        if new.threat:
            evidence.append(
                Evidence(
                    EvidenceClass.INFRASTRUCTURE,
                    "Okta ThreatInsight suspected the new IP",
                    cfg.threat_points,
                    (new.uuid,),
                )
            )
        dampeners = []
        same_device = old.dt is not None and old.dt == new.dt
        if (
            same_device
            and old.country == new.country
            and (is_mobile_carrier(old.as_org) or is_mobile_carrier(new.as_org))
        ):
            dampeners.append(
                Dampener("mobile carrier ↔ Wi-Fi inside one country on the same device", cfg.carrier_wifi_dampening)
            )
        if is_allowlisted_egress(cfg, old.ip, old.asn) or is_allowlisted_egress(cfg, new.ip, new.asn):
            dampeners.append(Dampener("allowlisted corporate VPN/SWG network on one side", cfg.allowlist_dampening))
        assessment = assess(evidence, dampeners, (Action.CLEAR_SESSIONS,))
        if assessment.score < cfg.min_confidence or state.fired.suppressed(pair, new.time, cfg.session_ttl_s):
            return None
        state.fired.fire(pair, new.time)
        severity = Severity.HIGH if assessment.score >= 60 else Severity.MEDIUM
        assessment, severity = target_context(directory, event.actor_id).apply(assessment, severity)
        return make_finding(
            event,
            detection=self.id,
            title="Session used from a second network and client (possible stolen session cookie)",
            severity=severity,
            assessment=assessment,
            anchor=(session, pair),
            event_uuids=u,
            mitre=self.mitre,
            time=new.time,
            summary=f"session {session} of {event.actor_login} seen from {old.ip} (AS{old.asn}, {old.country},"
            f" {old.family() or old.ua}) and {new.ip} (AS{new.asn}, {new.country}, {new.family() or new.ua})",
        )

    def _remember(self, state: _Session, here: _Sighting) -> None:
        cfg = self.config
        sig = here.signature()
        # signatures are unique in a session, so the newest-first scan finds the same one, usually at once; the IP
        # test spares building a tuple per other client
        same = None
        for x in reversed(state.sightings):
            if x.ip == here.ip and x.signature() == sig:
                same = x
                break
        if same is not None:
            if here.time >= same.time:
                state.high_water = max(state.high_water, here.time)
                return
            state.sightings.remove(same)  # keep the earliest sighting of each client
        bisect.insort(state.sightings, here, key=lambda x: x.time)
        state.high_water = max(state.high_water, here.time)
        horizon = state.high_water - cfg.session_ttl_s
        kept = [x for x in state.sightings if x.time >= horizon]
        if len(kept) > cfg.max_sightings:  # keep the session's first sighting plus the newest ones
            kept = [kept[0], *kept[-(cfg.max_sightings - 1) :]]
        state.sightings = kept

    def _evict(self, state: SessionState, time: float) -> None:
        """Drop the user's sessions last seen more than a session lifetime before the user's newest event, then
        the least recently seen beyond ``max_sessions``."""
        cfg = self.config
        state.high_water = max(state.high_water, time)
        horizon = state.high_water - cfg.session_ttl_s
        for sid in [sid for sid, x in state.sessions.items() if x.high_water < horizon]:
            del state.sessions[sid]
        if len(state.sessions) > cfg.max_sessions:
            newest = sorted(state.sessions.items(), key=lambda kv: (kv[1].high_water, kv[0]))[-cfg.max_sessions :]
            state.sessions = dict(newest)
