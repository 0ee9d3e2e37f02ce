"""Small pieces shared by detections: finding construction, suppression, replay guards, event classifiers.

Nothing here decides *whether* something is an attack; it only keeps the
detections consistent about keys, windows and Okta event semantics.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detections import debugdata, geo
from detections.baseline import Novelty
from detections.confidence import Assessment
from detections.event import SUCCESSFUL_SIGN_INS as SUCCESSFUL_SIGN_INS  # re-exported: detections import it here
from detections.event import Event
from detections.event import is_successful_sign_in as is_successful_sign_in
from detections.finding import Finding, Severity
from detections.tenant_profile import operator_key

# Failed-credential reasons (docs/okta-quirks.md#wrong-password-reasons): Identity Engine uses INVALID_CREDENTIALS,
# Classic/migration examples INVALID_LOGIN, and VERIFICATION_ERROR appears on user.session.start.
PASSWORD_FAILURE_REASONS = frozenset(
    {"INVALID_CREDENTIALS", "LOCKED_OUT", "INVALID_LOGIN", "VERIFICATION_ERROR", "INVALID_PASSWORD"}
)
_PASSWORD_FAILURE_TYPES = frozenset(
    {
        "user.session.start",
        "user.authentication.auth",
        "user.authentication.auth_via_richclient",
        "user.authentication.verify",
    }
)
# Every event type ``is_password_failure`` can be true of (the detections of credential attacks declare them).
PASSWORD_FAILURE_TYPES = _PASSWORD_FAILURE_TYPES | {"user.authentication.auth_via_mfa"}

_SCRIPTED_UA_MARKERS = (
    "python-requests",
    "curl/",
    "httpx",
    "aiohttp",
    "go-http-client",
    "headless",
    "java/",
    "okhttp",
    "wget/",
    "libwww-perl",
    "powershell",
)


# Okta Support acting through the vendor's own back end (docs/okta-quirks.md#okta-support-resets): the system actor, no
# request transaction, no client user agent and no client geo (Panther Okta.Support.Reset).
OKTA_SUPPORT_RESETS = frozenset(
    {
        "user.account.reset_password",
        "user.mfa.factor.update",
        "system.mfa.factor.deactivate",
        "user.mfa.attempt_bypass",
    }
)


def is_okta_support_reset(event: Event) -> bool:
    """A password / MFA reset done by Okta Support rather than by an admin of the tenant."""
    return (
        event.event_type in OKTA_SUPPORT_RESETS
        and event.actor_login.lower() == "system@okta.com"
        and event.transaction_id == "unknown"
        and not event.user_agent
        and not event.geo.country
    )


def is_password_failure(event: Event) -> bool:
    """A wrong password (or a locked-out attempt), in Classic or Identity Engine spelling.

    In Identity Engine the password is a factor, so a wrong password is also a
    ``user.authentication.auth_via_mfa`` FAILURE with ``factor=PASSWORD_AS_FACTOR``;
    for credential attacks those count (the opposite of MFA fatigue).
    """
    if event.outcome != "FAILURE":
        return False
    if event.event_type == "user.authentication.auth_via_mfa":
        return event.is_password_as_factor
    if event.event_type not in _PASSWORD_FAILURE_TYPES:
        return False
    if event.event_type == "user.authentication.verify" and event.factor not in (None, "PASSWORD_AS_FACTOR"):
        return False
    return event.outcome_reason.upper() in PASSWORD_FAILURE_REASONS


def attempt_id(event: Event) -> str:
    """One credential attempt: OIE logs the same wrong password as session.start *and* auth_via_mfa in one
    transaction, so the transaction (per user) identifies the attempt; the uuid is the fallback."""
    who = event.actor_login.lower() or event.actor_id
    return f"{event.transaction_id}|{who}" if event.transaction_id else event.uuid


_MOBILE_CARRIER_MARKERS = (
    "mobile",
    "wireless",
    "cellular",
    "cellco",
    "t-mobile",
    "vodafone",
    "telefonica",
    "sprint",
    "lte",
)


def is_mobile_carrier(as_org: str | None) -> bool:
    """Okta's ``securityContext.asOrg`` names a mobile network (heuristic on the operator name)."""
    if not as_org:
        return False
    low = as_org.lower()
    return any(marker in low for marker in _MOBILE_CARRIER_MARKERS)


def requester_signals(event: Event, novelty: Novelty) -> tuple[str, str]:
    """What a push prompt's requester (the sign-in) looks like, as letters, and why: G a place new for the user,
    N a network new for the user, D a device new for the user (the user's baseline combined with Okta's
    behaviours, detections.baseline), H at an hour the user never signs in, P anonymizer, T ThreatInsight
    suspected."""
    letters = ""
    new = [n for n in (novelty.new_place, novelty.new_network, novelty.new_device)]
    for letter, novel in zip("GND", new, strict=True):
        if novel is not None:
            letters += letter
    if novelty.odd_hour:
        letters += "H"
    if event.is_proxy:
        letters += "P"
    if event.threat_suspected:
        letters += "T"
    return letters, (novelty.explain(*new) if any(new) else "")


def is_scripted_user_agent(ua: str | None) -> bool:
    if not ua:
        return False
    low = ua.lower()
    return any(marker in low for marker in _SCRIPTED_UA_MARKERS)


def tunnel_operators(event: Event) -> list[str]:
    """``debugData.tunnels[].operator``: the VPN/proxy services Okta saw in front of the client."""
    return [
        str(t.get("operator"))
        for t in debugdata.parse_json_list(event.debug.get("tunnels"))
        if isinstance(t, dict) and t.get("operator")
    ]


def is_allowlisted_egress(config: Any, ip: str | None, asn: int | None, operators: Iterable[str] = ()) -> bool:
    """The network is the tenant's own egress per the detection config's ``allowlist_cidrs`` / ``allowlist_asns``
    / ``allowlist_operators`` (each optional: a detection declares the kinds it trusts; the tenant profile is
    merged into them). Operators match only when *every* tunnel in front of the client is one the org uses."""
    if geo.ip_in(ip, tuple(getattr(config, "allowlist_cidrs", ()))):
        return True
    if asn is not None and asn in getattr(config, "allowlist_asns", ()):
        return True
    allowed = _operator_keys(frozenset(getattr(config, "allowlist_operators", ())))
    if not allowed:
        return False
    keys = [operator_key(o) for o in operators]
    return bool(keys) and all(k in allowed for k in keys)


@functools.lru_cache(maxsize=64)
def _operator_keys(operators: frozenset[str]) -> frozenset[str]:
    """A detection's allowlisted operators (a per-tenant constant asked on every sign-in), spelled once."""
    return frozenset(operator_key(o) for o in operators)


def event_subject(event: Event) -> str:
    """The attempted login for credential attacks: unknown usernames have no actor id but keep the login."""
    return (event.actor_login or event.actor_id).lower()


DIGEST_CHARS = 11  # a replay guard's digest of a uuid; digests are encoded back to back
GUARD_S = 86400.0  # a replay guard forgets an event this long (event time) behind the newest event it recorded


@functools.lru_cache(maxsize=1024)
def guard_digest(uuid: str) -> str:
    """What a replay guard keeps of an event uuid: 64 bits of BLAKE2b as 11 characters, not 36. A forged uuid
    matching a real one's digest (to have its event skipped) is a second preimage: ~2^64 hashes. Memoised: the
    detections an event reaches each ask for its digest."""
    return base64.urlsafe_b64encode(hashlib.blake2b(uuid.encode(), digest_size=8).digest())[:DIGEST_CHARS].decode()


@functools.lru_cache(maxsize=8192)
def digest(value: str | None) -> str | None:
    """A long identifier a detection only compares (a dtHash: 64 characters) as ``guard_digest``'s 11.
    Memoised apart from the uuids' digests: every event brings a new uuid, which would push the few devices of
    the users signing in now out of one shared cache."""
    return None if value is None else guard_digest.__wrapped__(value)


UNTIMED = math.inf  # a guard entry read without its event's time: never older than any horizon, so kept until count


@dataclass(slots=True)
class ReplayGuard:
    """The uuids of the events recently processed (as ``guard_digest``s, oldest first), so an event delivered
    again (a replay after a crash, a page polled twice) is not judged twice. Bounded twice: the newest
    ``max_seen``, and none more than ``span_s`` of event time behind the newest event recorded (a redelivery
    comes within minutes of the original in event time; an ordinary user's earlier days need no guard).

    Encoded ``{"d": the digests in one string, "n": newest event time, "a": each one's age behind it, whole
    seconds, rounded}``, all left out when empty. Read back too: ``"d"`` without ``"a"`` (no times: those age
    out by count only) and the first encoding's ``"s"`` (whole uuids: kept as they were, the first ``legacy`` of
    ``seen``, looked up as such until they age out; written as digests)."""

    seen: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # event time of each of ``seen`` (UNTIMED: not known)
    legacy: int = 0  # how many of ``seen`` (the oldest) are whole uuids read from the first encoding
    newest: float = -math.inf
    max_seen: int = 64
    span_s: float = GUARD_S

    def replayed(self, uuid: str, time: float, keep: bool = True) -> bool:
        """Record ``uuid`` (its event at ``time``); True when it was already processed. ``keep=False``: the
        caller needs no guard for this one (a repeat would change nothing): only looked up, the guard still ages."""
        digest = guard_digest(uuid)
        if digest in self.seen or (self.legacy and uuid in self.seen[: self.legacy]):
            return True
        if keep:
            self.seen.append(digest)
            self.times.append(time)
            if len(self.seen) > self.max_seen:
                cut = len(self.seen) - self.max_seen
                del self.seen[:cut], self.times[:cut]
                self.legacy = max(0, self.legacy - cut)
        if time > self.newest and (keep or self.seen):
            self.newest = time
            self._forget(time - self.span_s)
        return False

    def _forget(self, before: float) -> None:
        """Drop the entries of events older than ``before`` (those of unknown time stay: count bounds them)."""
        times = self.times
        if not times or min(times) > before:  # the usual case, one call per event
            return
        keep = [i for i, t in enumerate(times) if t > before]
        self.legacy = sum(1 for i in keep if i < self.legacy)
        self.seen = [self.seen[i] for i in keep]
        self.times = [times[i] for i in keep]

    def __len__(self) -> int:
        return len(self.seen)

    def digests(self) -> list[str]:
        """What it holds, every entry as a digest (whole uuids of the first encoding digested)."""
        return [guard_digest(u) for u in self.seen[: self.legacy]] + self.seen[self.legacy :]

    def to_dict(self) -> dict[str, Any]:
        if not self.seen:
            return {}
        out: dict[str, Any] = {"d": "".join(self.digests())}
        if self.newest > -math.inf:  # some entry has a time
            newest = out["n"] = self.newest
            out["a"] = [None if t == UNTIMED else round(newest - t) for t in self.times]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayGuard:
        if "d" in data:
            packed = data["d"]
            seen = [packed[i : i + DIGEST_CHARS] for i in range(0, len(packed), DIGEST_CHARS)]
            newest = data.get("n")
            if newest is None:
                return cls(seen, [UNTIMED] * len(seen))
            times = [UNTIMED if age is None else newest - age for age in data["a"]]
            return cls(seen, times, newest=newest)
        uuids = list(data.get("s", []))
        return cls(uuids, [UNTIMED] * len(uuids), legacy=len(uuids))


@dataclass(slots=True)
class Suppression:
    """Per-variant last-fired event times, and the detection's replay guard.

    Encoded ``{"f": last fired, **the guard's encoding}`` (each left out when empty); the guard encodings written
    before read back (``ReplayGuard``)."""

    last_fired: dict[str, float] = field(default_factory=dict)
    guard: ReplayGuard = field(default_factory=ReplayGuard)

    def suppressed(self, variant: str, time: float, window_s: float) -> bool:
        """Event-time based, in both directions, so a late event near an earlier finding is also suppressed."""
        last = self.last_fired.get(variant)
        return last is not None and abs(time - last) < window_s

    def expires_at(self, window_s: float) -> float:
        """When its last firing no longer suppresses anything (event time); -inf when it never fired. The replay
        guard needs no horizon of its own: the state it guards dies with its windows, and the stores keep a key
        ``lifecycle.LATENESS_S`` past its horizon for the late duplicates."""
        return max(self.last_fired.values(), default=-math.inf) + window_s

    def fire(self, variant: str, time: float) -> None:
        self.last_fired[variant] = time

    def replayed(self, uuid: str, time: float, keep: bool = True) -> bool:
        """Record ``uuid`` (its event at ``time``); True when it was already processed (``ReplayGuard``)."""
        return self.guard.replayed(uuid, time, keep)

    def to_dict(self) -> dict[str, Any]:
        out = self.guard.to_dict()
        if self.last_fired:
            out["f"] = dict(self.last_fired)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], guarded: bool = True) -> Suppression:
        """``guarded=False``: a detection keyed by actor, whose events the actor record's one guard screens
        (``detections.actor_record``); the guard an earlier encoding kept beside its firings is not read."""
        return cls(dict(data.get("f", {})), ReplayGuard.from_dict(data) if guarded else ReplayGuard())


def make_finding(
    event: Event,
    *,
    detection: str,
    title: str,
    severity: Severity,
    assessment: Assessment,
    anchor: Iterable[str],
    event_uuids: Iterable[str],
    mitre: tuple[str, ...],
    time: float,
    summary: str,
    principal: str | None = None,
    principal_login: str | None = None,
    revision: int = 0,
    entity: str | None = None,
    sources: Iterable[str] = (),
    targeted: int = 0,
) -> Finding:
    """Build a Finding whose dedup key depends only on tenant, detection, principal and causing event uuids.

    ``entity`` (what incidents group by) defaults to the user, else the event's source IP, else the tenant.
    ``sources`` / ``targeted``: a credential attack's source IPs and users reached (the signal book's input)."""
    principal = event.actor_id if principal is None else principal
    principal_login = event.actor_login if principal_login is None else principal_login
    if entity is None:
        entity = f"user:{principal}" if principal else f"ip:{event.ip}" if event.ip else "tenant"
    return build_finding(
        event.tenant,
        where_of(event),
        detection=detection,
        title=title,
        severity=severity,
        assessment=assessment,
        anchor=anchor,
        event_uuids=event_uuids,
        mitre=mitre,
        time=time,
        summary=summary,
        principal=principal,
        principal_login=principal_login,
        revision=revision,
        entity=entity,
        sources=tuple(sources),
        targeted=targeted,
    )


def build_finding(
    tenant: str,
    where: dict[str, Any],
    *,
    detection: str,
    anchor: Iterable[str],
    principal: str,
    event_uuids: Iterable[str],
    **fields: Any,
) -> Finding:
    """A Finding from what is known without the event at hand (a finding about an event seen earlier, or
    about another tenant); the dedup key is built as ``make_finding`` builds it."""
    return Finding(
        detection=detection,
        tenant=tenant,
        principal=principal,
        dedup_key=f"{tenant}:{detection}:{principal or '-'}:{'+'.join(anchor)}",
        event_uuids=tuple(event_uuids),
        where=where,
        **fields,
    )


def where_of(event: Event) -> dict[str, Any]:
    """Where the event came from, as an analyst reads it: IP, network, country, city."""
    return {
        "ip": event.ip,
        "asn": event.asn,
        "as_org": event.as_org,
        "country": event.geo.country,
        "city": event.geo.city,
    }
