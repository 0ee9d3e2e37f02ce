"""Threat signals across entities: a source a credential attack flagged implicates any user signing in from it.

Why: the commonest account takeover is a spray (each user tried once or twice), then one sprayed user
signs in successfully from the spraying IP. ``success_after_credential_attack`` only knows failures
against the same user, so it misses it (Okta ITP "login from an IP flagged in a credential attack";
Entra's password-spray risk once a password validated). Here a source that a ``password_spray``,
``distributed_spray`` / ``credential_stuffing``, ``brute_force`` or ThreatInsight (``threatinsight_request``)
finding flagged becomes a tenant-wide *signal* with a TTL, and a successful sign-in of any user from it
within the TTL is ``success_from_flagged_source``.

How:

* sources: each attacking IP the finding names (distributed spray: only the IPs that tried several
  users - a typo comes from one user's own IP), never the tenant's egress CIDRs. The ASN of the event that
  completed a breadth finding (not ``brute_force``: depth against one user may be that user) as well,
  unless the event says the network is shared: no AS number or no name,
  an anonymizer (``isProxy``, an anonymous ``debugData.tunnels`` entry) or any tunnel, a mobile carrier,
  ISP, cloud, CDN or VPN by ``asOrg`` / ``isp`` / ``domain`` (``shared_network_markers``), or the tenant's
  ``egress_asns``: one attacker must not implicate every customer of a carrier;
* a signal records which finding flagged the source (detection, dedup key), when (event time, first and
  latest), how many users the attack targeted, and expires ``ttl_s`` after its latest flag (event time);
* a ``user.session.start`` / ``user.authentication.sso`` SUCCESS of a human from a flagged IP (or another
  IP of a flagged ASN) between ``lookback_s`` before the first flag and the expiry: evidence attack pattern
  +30 (the signal, cited), access achieved +35, from the flagged IP +20 → 85 in two classes:
  high-confidence, earning clear sessions and expire password as ``success_after_credential_attack`` does.
  From another IP of a flagged ASN +10 → 75, high: paged, a person decides (the marker list cannot know
  every ISP, and a wrongly trusted network would expire passwords all over it). Dampener: the user's
  known device and network (the user's baseline knows both, or Okta ``New Device`` and ``New IP``
  NEGATIVE) −30;
* order: a spray's finding can be emitted after the success it implicates (its events arrive late, or
  another worker flags it). Successes that matched no signal are kept per source for ``lookback_s`` +
  ``lateness_s`` (at most ``max_recent_per_ip`` per IP, ``max_recent_ips`` IPs per tenant); when a source
  is flagged they are re-checked, one finding per user;
* a source flagged in two or more tenants of one deployment is ``cross_tenant_threat_source`` in each of
  them, naming the tenants (medium, no user, no action).

One finding per user per hour (event time); dedup key = the success's uuid. The book (``Book``) is
shared by every tenant's engine of a process; embedded mode keeps it in the detection state table, Kafka
mode on the compacted ``itdr.signals`` topic that every worker reads whole (detector/stream).
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import orjson

from detections import geo
from detections.baseline import Novelty
from detections.common import (
    Suppression,
    build_finding,
    is_mobile_carrier,
    is_successful_sign_in,
    tunnel_operators,
)
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, assess
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity
from detections.tenant_profile import TenantProfile

FLAGGING = frozenset(
    {
        "password_spray",
        "distributed_spray",
        "credential_stuffing",
        "brute_force",
        "brute_force_lockouts",
        "threatinsight_request",
    }
)
DEPTH = frozenset({"brute_force", "brute_force_lockouts"})  # one user's account: flag the IPs, not their network
SUCCESS = "success_from_flagged_source"
CROSS_TENANT = "cross_tenant_threat_source"
# words of Okta's asOrg / isp / domain naming networks many share: carriers, ISPs, clouds, CDNs, VPNs, relays
SHARED_NETWORKS = (
    "telecom", "telekom", "communications", "broadband", "cable", "fiber", "internet", "isp", "comcast",
    "verizon", "at&t", "charter", "spectrum", "cox", "orange", "vodafone", "telefonica", "british telecom",
    "rogers", "bell", "amazon", "aws", "google", "microsoft", "azure", "oracle", "alibaba", "tencent",
    "digitalocean", "linode", "akamai", "cloudflare", "fastly", "ovh", "hetzner", "vultr", "choopa",
    "leaseweb", "contabo", "m247", "datacamp", "zscaler", "vpn", "proxy", "relay", "tor", "mullvad",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ThreatSignalsConfig:
    ttl_s: float = 24 * 3600.0  # a flagged source implicates sign-ins this long after its latest flag
    lookback_s: float = 3600.0  # ... and this long before its first (a success during the attack)
    lateness_s: float = 900.0
    suppress_s: float = 3600.0  # one finding per user
    same_ip_points: int = 20  # the success came from the flagged IP itself
    same_network_points: int = 10  # ... from another IP of a flagged ASN
    known_client_dampening: int = 30
    max_recent_per_ip: int = 8  # successes kept per IP for a late flag to re-check
    max_recent_ips: int = 20_000  # IPs with kept successes, per tenant (the oldest go first)
    flag_asns: bool = True  # also flag the ASN of a network the event shows is not shared
    shared_network_markers: tuple[str, ...] = SHARED_NETWORKS  # asOrg / isp / domain words of shared networks


@dataclass(frozen=True, slots=True)
class Signal:
    """A source flagged tenant-wide: which finding flagged it, when, how many users it targeted."""

    tenant: str
    source: str  # "ip:<address>" or "asn:<number>"
    detection: str  # the flagging finding's name
    dedup_key: str  # ... and its dedup key
    first: float  # event time of the first flag
    last: float  # event time of the latest flag
    users: int  # users the attack targeted (the most any flag reported; 0: not known)
    ttl_s: float

    @property
    def expires(self) -> float:
        return self.last + self.ttl_s

    def covers(self, time: float, lookback_s: float) -> bool:
        return self.first - lookback_s <= time <= self.expires

    def merged(self, other: Signal) -> Signal:
        """Commutative and idempotent, so every worker ends with the same signal whatever order flags arrive
        in: the earliest first flag, the latest flag's finding and expiry, the most users."""
        latest = max(self, other, key=lambda s: (s.last, s.users, s.dedup_key, s.ttl_s))
        return replace(latest, first=min(self.first, other.first), users=max(self.users, other.users))

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> Signal:
        d = orjson.loads(data)
        return cls(
            str(d["tenant"]),
            str(d["source"]),
            str(d["detection"]),
            str(d["dedup_key"]),
            float(d["first"]),
            float(d["last"]),
            int(d["users"]),
            float(d["ttl_s"]),
        )


@dataclass(frozen=True, slots=True)
class Success:
    """A successful sign-in no signal implicated yet: kept for a flag that arrives after it."""

    time: float
    uuid: str
    user: str
    login: str
    ip: str
    asn: int | None
    known_client: bool
    where: dict[str, Any] = field(compare=False)

    @classmethod
    def of(cls, event: Event, novelty: Novelty) -> Success:
        """``known_client``: Okta says the device and IP are known, or the user's baseline knows both."""
        okta = event.behaviors.get("New Device") == "NEGATIVE" and event.behaviors.get("New IP") == "NEGATIVE"
        mine = novelty.sign_ins > 0 and novelty.new_device is None and novelty.new_network is None
        known = okta or mine
        where = {"ip": event.ip, "asn": event.asn, "as_org": event.as_org}
        where |= {"country": event.geo.country, "city": event.geo.city}
        return cls(event.time, event.uuid, event.actor_id, event.actor_login, event.ip or "", event.asn, known, where)

    def row(self) -> list[Any]:
        return [self.time, self.uuid, self.user, self.login, self.ip, self.asn, self.known_client, self.where]


class SignalBook(Protocol):
    """What the detection needs of the book; ``Book`` is the one implementation, the modes differ only in
    how its changes are kept (detection state rows) or shared (``itdr.signals``)."""

    def flag(self, signal: Signal, *, local: bool = True) -> tuple[Signal, bool]: ...

    def signal(self, tenant: str, source: str) -> Signal | None: ...

    def flagged_in(self, source: str) -> list[Signal]: ...

    def is_local(self, tenant: str, source: str) -> bool: ...

    def prune(self, tenant: str, now: float, lateness_s: float) -> None: ...

    def note_success(self, tenant: str, success: Success, horizon_s: float, per_ip: int, ips: int) -> None: ...

    def take_successes(self, signal: Signal, lookback_s: float) -> list[Success]: ...


class Book:
    """Signals per (tenant, source) and recent unimplicated successes per (tenant, IP), in memory.

    ``persist``: changed entries are collected as detection-state rows (``take_rows``, embedded mode);
    local flags are collected for publishing either way (``take_flags``, Kafka mode)."""

    SIGNALS: ClassVar[str] = "~signals|"
    RECENT: ClassVar[str] = "~recent|"

    def __init__(self, *, persist: bool = False) -> None:
        self.persist = persist
        self._signals: dict[tuple[str, str], Signal] = {}
        self._by_source: dict[str, set[str]] = {}
        self._local: set[tuple[str, str]] = set()  # flagged by this process (not received)
        self._recent: dict[str, OrderedDict[str, list[Success]]] = {}  # tenant → IP → kept, oldest IP first
        self._by_asn: dict[str, dict[str, set[str]]] = {}  # tenant → AS number → IPs with kept successes
        self._dirty: set[str] = set()
        self._flags: dict[tuple[str, str], Signal] = {}

    # -- signals --

    def flag(self, signal: Signal, *, local: bool = True) -> tuple[Signal, bool]:
        """Merge ``signal``; returns the merged signal and whether anything changed."""
        key = (signal.tenant, signal.source)
        old = self._signals.get(key)
        new = signal if old is None else old.merged(signal)
        if local:
            self._local.add(key)
        if new == old:
            return new, False
        self._signals[key] = new
        self._by_source.setdefault(signal.source, set()).add(signal.tenant)
        if local:
            self._flags[key] = new
        self._touch(f"{self.SIGNALS}{signal.tenant}|{signal.source}")
        return new, True

    def signal(self, tenant: str, source: str) -> Signal | None:
        return self._signals.get((tenant, source))

    def flagged_in(self, source: str) -> list[Signal]:
        """The signals of ``source`` in every tenant, by tenant."""
        return [self._signals[(t, source)] for t in sorted(self._by_source.get(source, ()))]

    def is_local(self, tenant: str, source: str) -> bool:
        return (tenant, source) in self._local

    def prune(self, tenant: str, now: float, lateness_s: float) -> None:
        """Forget the tenant's signals expired before ``now`` (event time) less the lateness."""
        for key in [k for k, s in self._signals.items() if k[0] == tenant and s.expires < now - lateness_s]:
            del self._signals[key]
            self._by_source[key[1]].discard(tenant)
            if not self._by_source[key[1]]:
                del self._by_source[key[1]]
            self._local.discard(key)
            self._touch(f"{self.SIGNALS}{tenant}|{key[1]}")

    # -- recent successes --

    def note_success(self, tenant: str, success: Success, horizon_s: float, per_ip: int, ips: int) -> None:
        """Keep ``success`` for a late flag; successes older than ``horizon_s`` behind it, and the IPs beyond
        ``ips`` least recently seen, are dropped."""
        recent = self._recent_of(tenant)
        floor = success.time - horizon_s
        kept = [s for s in recent.get(success.ip, ()) if s.time >= floor and s.uuid != success.uuid]
        kept.append(success)
        kept.sort(key=_time)  # stable: the order sorted() gave
        self._keep(tenant, success.ip, kept[-per_ip:])
        while recent and (len(recent) > ips or _newest(next(iter(recent.values()))) < success.time - horizon_s):
            self._keep(tenant, next(iter(recent)), [])

    def _recent_of(self, tenant: str) -> OrderedDict[str, list[Success]]:
        """The tenant's kept successes by IP (made when first asked: not an OrderedDict per call)."""
        recent = self._recent.get(tenant)
        if recent is None:
            recent = self._recent[tenant] = OrderedDict()
        return recent

    def kept_ips(self, tenant: str) -> int:
        """How many IPs have successes kept for a late flag."""
        return len(self._recent.get(tenant, ()))

    def take_successes(self, signal: Signal, lookback_s: float) -> list[Success]:
        """The kept successes ``signal`` implicates (from its IP, or any IP of its ASN), removed from the book."""
        recent = self._recent.get(signal.tenant, OrderedDict())
        kind, _, value = signal.source.partition(":")
        ips = [value] if kind == "ip" else sorted(self._by_asn.get(signal.tenant, {}).get(value, ()))
        taken: list[Success] = []
        for ip in ips:
            kept = recent.get(ip, [])
            hit = [s for s in kept if signal.covers(s.time, lookback_s) and _from(s, kind, value)]
            if hit:
                taken += hit
                self._keep(signal.tenant, ip, [s for s in kept if s not in hit], refresh=False)
        return sorted(taken, key=lambda s: s.time)

    def _keep(self, tenant: str, ip: str, kept: list[Success], *, refresh: bool = True) -> None:
        """Set what is kept of ``ip`` (nothing: forget it) and its ASN index with it; ``refresh`` makes it the
        IP seen last (the last to be dropped)."""
        recent = self._recent_of(tenant)
        index = self._by_asn.get(tenant)
        if index is None:
            index = self._by_asn[tenant] = {}
        now = {str(s.asn) for s in kept if s.asn is not None}  # an IP's successes mostly share one ASN: set diffs
        for asn in {str(s.asn) for s in recent.get(ip, ()) if s.asn is not None} - now:
            if (ips := index.get(asn)) is not None:
                ips.discard(ip)
                if not ips:
                    del index[asn]
        if kept:
            if refresh:
                recent.pop(ip, None)
            recent[ip] = kept
            for asn in now:
                index.setdefault(asn, set()).add(ip)
        else:
            recent.pop(ip, None)
        self._touch(f"{self.RECENT}{tenant}|{ip}")

    # -- persistence and sharing --

    def _touch(self, row: str) -> None:
        if self.persist:
            self._dirty.add(row)

    def take_rows(self) -> dict[str, bytes | None]:
        """The detection-state rows changed since the last call (None: delete)."""
        out: dict[str, bytes | None] = {}
        for row in self._dirty:
            kind, tenant, key = row.split("|", 2)
            if f"{kind}|" == self.SIGNALS:
                s = self._signals.get((tenant, key))
                out[row] = None if s is None else s.to_json()
            else:
                kept = self._recent.get(tenant, OrderedDict()).get(key)
                out[row] = orjson.dumps([s.row() for s in kept]) if kept else None
        self._dirty.clear()
        return out

    def load_rows(self, rows: dict[str, bytes]) -> None:
        """Rows written by ``take_rows`` (at start); an unreadable one is skipped."""
        for row, value in sorted(rows.items()):
            try:
                kind, tenant, key = row.split("|", 2)
                if f"{kind}|" == self.SIGNALS:
                    signal = Signal.from_json(value)
                    self._signals[(tenant, key)] = signal
                    self._by_source.setdefault(key, set()).add(tenant)
                    self._local.add((tenant, key))
                else:
                    self._keep(tenant, key, [Success(*r) for r in orjson.loads(value)])
            except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
                continue
        self._dirty.clear()  # as stored

    def take_flags(self) -> list[Signal]:
        """The signals flagged here since the last call: what Kafka mode publishes."""
        flags = list(self._flags.values())
        self._flags.clear()
        return flags


def _overlap(a: Signal, b: Signal) -> bool:
    """Both signals were live at once (event time), whichever was flagged or received first."""
    return a.first <= b.expires and b.first <= a.expires


_time = operator.attrgetter("time")


def _newest(kept: list[Success]) -> float:
    return max((s.time for s in kept), default=float("-inf"))


def _from(success: Success, kind: str, value: str) -> bool:
    return success.ip == value if kind == "ip" else success.asn is not None and str(success.asn) == value


@dataclass(slots=True)
class ThreatSignalsState:
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict()}


class ThreatSignals:
    """Reads the book on every successful sign-in; ``flagged`` (called by the engine with a batch of findings)
    writes it. The per-user state holds only the one-finding-per-hour suppression and the replay guard."""

    id: ClassVar[str] = "threat_signals"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS
    keyed_by_actor: ClassVar[bool] = True
    reads_baseline: ClassVar[bool] = True  # is the sign-in from the user's own device and network?
    mitre: ClassVar[tuple[str, ...]] = ("T1110", "T1110.003", "T1110.004", "T1078.004")

    def __init__(
        self,
        config: ThreatSignalsConfig | None = None,
        book: SignalBook | None = None,
        profile: TenantProfile | None = None,
    ) -> None:
        self.config = config or ThreatSignalsConfig()
        self.book: SignalBook = book if book is not None else Book()
        self.profile = profile or TenantProfile()

    def state_key(self, event: Event) -> str | None:
        if is_successful_sign_in(event) and event.is_human and event.actor_id and event.ip:
            return event.actor_id
        return None

    def new_state(self) -> ThreatSignalsState:
        return ThreatSignalsState()

    def load_state(self, data: dict[str, Any]) -> ThreatSignalsState:
        return ThreatSignalsState(Suppression.from_dict(data["sup"], guarded=False))

    def expires_at(self, state: ThreatSignalsState) -> float:
        """The per-user state only suppresses (the book keeps the signals, with their own horizons)."""
        return state.sup.expires_at(self.config.suppress_s)

    def detect(self, event: Event, state: ThreatSignalsState, novelty: Novelty) -> list[Finding]:
        cfg = self.config
        success = Success.of(event, novelty)
        signal = self._matching(event.tenant, success)
        if signal is None:
            horizon = cfg.lookback_s + cfg.lateness_s
            self.book.note_success(event.tenant, success, horizon, cfg.max_recent_per_ip, cfg.max_recent_ips)
            return []
        if state.sup.suppressed("signal", success.time, cfg.suppress_s):
            return []
        state.sup.fire("signal", success.time)
        return [self._success_finding(event.tenant, success, signal)]

    def _matching(self, tenant: str, success: Success) -> Signal | None:
        """The signal implicating ``success``: its IP's, else its ASN's."""
        sources = [f"ip:{success.ip}"] + ([f"asn:{success.asn}"] if success.asn is not None else [])
        for source in sources:
            signal = self.book.signal(tenant, source)
            if signal is not None and signal.covers(success.time, self.config.lookback_s):
                return signal
        return None

    # -- writing the book --

    def flagged(self, event: Event, findings: Iterable[Finding]) -> list[Finding]:
        """Flag the sources of the credential-attack findings emitted on ``event``; returns what that implies:
        the kept successes from those sources, and a source now flagged in several tenants."""
        out: list[Finding] = []
        for finding in findings:
            if finding.detection not in FLAGGING:
                continue
            for source in self.sources(event, finding):
                signal = Signal(
                    event.tenant,
                    source,
                    finding.detection,
                    finding.dedup_key,
                    finding.time,
                    finding.time,
                    finding.targeted,
                    self.config.ttl_s,
                )
                out += self.received(signal, local=True)
        return out

    def received(self, signal: Signal, *, local: bool = False) -> list[Finding]:
        """Merge a signal (flagged here, or read from another worker) and return the findings it implies."""
        merged, changed = self.book.flag(signal, local=local)
        if not changed:
            return []
        self.book.prune(signal.tenant, signal.last, self.config.lateness_s)
        return self._late_successes(merged) + self._cross_tenant(merged, local)

    def sources(self, event: Event, finding: Finding) -> list[str]:
        """The finding's IPs that are not the tenant's egress, and the event's ASN when it is not shared."""
        out = [
            f"ip:{ip}" for ip in dict.fromkeys(finding.sources) if ip and not geo.ip_in(ip, self.profile.egress_cidrs)
        ]
        breadth = finding.detection not in DEPTH
        if self.config.flag_asns and breadth and event.ip in finding.sources and self.shared_network(event) is None:
            out.append(f"asn:{event.asn}")
        return out

    def shared_network(self, event: Event) -> str | None:
        """Why the event's network is shared by many (so its ASN must not be flagged), or None."""
        if event.asn is None:
            return "no AS number"
        if event.is_proxy:
            return "an anonymizer"
        if tunnel_operators(event) or event.debug.get("tunnels") not in (None, "", "[]"):
            return "a tunnel"
        if event.asn in self.profile.egress_asns or geo.ip_in(event.ip, self.profile.egress_cidrs):
            return "the tenant's egress"
        security = event.raw.get("securityContext")
        if not isinstance(security, dict):
            security = {}
        names = [event.as_org or "", str(security.get("isp") or ""), str(security.get("domain") or "")]
        text = " ".join(n.lower() for n in names if n and n != "null")
        if not text.strip():
            return "an unnamed network"
        if is_mobile_carrier(text) or any(_word_in(m, text) for m in self.config.shared_network_markers):
            return "a carrier, cloud or VPN"
        return None

    # -- findings --

    def _late_successes(self, signal: Signal) -> list[Finding]:
        """Successes kept before ``signal`` arrived that it implicates: one finding per user."""
        first: dict[str, Success] = {}
        for success in self.book.take_successes(signal, self.config.lookback_s):
            first.setdefault(success.user, success)
        return [self._success_finding(signal.tenant, s, signal) for s in first.values()]

    def _success_finding(self, tenant: str, success: Success, signal: Signal) -> Finding:
        cfg = self.config
        kind, _, value = signal.source.partition(":")
        via = f"the flagged IP {value}" if kind == "ip" else f"{success.ip}, an IP of the flagged network AS{value}"
        when = _iso(signal.first)
        users = f", {signal.users} users targeted" if signal.users else ""
        offset = (success.time - signal.first) / 60
        relative = f"{offset:.0f} min after" if offset >= 0 else f"{-offset:.0f} min before"
        u = (success.uuid,)
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{signal.source} flagged by {signal.detection} at {when}{users} (finding {signal.dedup_key})",
                30,
                u,
            ),
            Evidence(EvidenceClass.ACCESS, f"successful sign-in {relative} the source was flagged", 35, u),
            Evidence(
                EvidenceClass.ACCESS,
                f"the success came from {via}",
                cfg.same_ip_points if kind == "ip" else cfg.same_network_points,
                u,
            ),
        ]
        dampeners = []
        if success.known_client:
            dampeners.append(
                Dampener(
                    "success from the user's known device and network (the user's baseline, or Okta New Device"
                    " and New IP NEGATIVE)",
                    cfg.known_client_dampening,
                )
            )
        return build_finding(
            tenant,
            success.where,
            detection=SUCCESS,
            title="Successful sign-in from a source flagged in a credential attack",
            severity=Severity.HIGH,
            assessment=assess(evidence, dampeners, (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)),
            anchor=u,
            event_uuids=u,
            mitre=("T1110.003", "T1078.004"),
            time=success.time,
            summary=f"{success.login} signed in successfully from {success.ip}: {signal.source} was flagged by"
            f" {signal.detection}{users}",
            principal=success.user,
            principal_login=success.login,
            entity=f"user:{success.user}",
        )

    def _cross_tenant(self, signal: Signal, local: bool) -> list[Finding]:
        """A source flagged in several tenants: one finding in each, naming them all. A signal read from
        another worker raises it here only if this process flagged one of them (that worker raises its own)."""
        live = [s for s in self.book.flagged_in(signal.source) if _overlap(s, signal)]
        if len({s.tenant for s in live}) < 2:
            return []
        if not local and not any(self.book.is_local(s.tenant, s.source) for s in live):
            return []
        epoch = min(s.first for s in live)
        named = "; ".join(
            f"{s.tenant} ({s.detection} at {_iso(s.first)}" + (f", {s.users} users)" if s.users else ")") for s in live
        )
        kind, _, value = signal.source.partition(":")
        out = []
        for mine in live:
            if not (local and mine.tenant == signal.tenant) and not self.book.is_local(mine.tenant, mine.source):
                continue
            evidence = [
                Evidence(EvidenceClass.ATTACK_PATTERN, f"{signal.source} flagged here by {mine.detection}", 30),
                Evidence(
                    EvidenceClass.INFRASTRUCTURE,
                    f"the same source was flagged in {len(live)} tenants of this deployment: {named}",
                    min(45, 15 * (len(live) - 1)),
                ),
            ]
            out.append(
                build_finding(
                    mine.tenant,
                    {"ip": value if kind == "ip" else None, "asn": int(value) if kind == "asn" else None},
                    detection=CROSS_TENANT,
                    title="A source attacking several tenants of this deployment",
                    severity=Severity.MEDIUM,
                    assessment=assess(evidence),
                    anchor=(signal.source, f"{epoch:.0f}"),
                    event_uuids=(),
                    mitre=("T1110",),
                    time=max(s.last for s in live),
                    summary=f"{signal.source} was flagged in {len(live)} tenants: {named}",
                    principal="",
                    principal_login="",
                    revision=len(live) - 2,
                    entity=f"{kind}:{value}",
                )
            )
        return out


def _word_in(marker: str, text: str) -> bool:
    """``marker`` as a word (or word prefix) of ``text``: "tor" is not in "storage", "isp" not in "crisp"."""
    return any(word.startswith(marker) for word in _words(text)) if " " not in marker else marker in text


def _words(text: str) -> Iterator[str]:
    word = []
    for ch in text + " ":
        if ch.isalnum() or ch in "&-":
            word.append(ch)
        elif word:
            yield "".join(word)
            word = []


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
