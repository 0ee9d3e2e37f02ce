"""Incidents: the findings about one entity (a user, or a source IP when no user is involved) in one tenant,
grouped while the attack lasts. A push-bombing attack is one incident updated as each finding arrives,
not four alerts; channels receive incidents, never raw findings.

Grouping: a finding joins the entity's open incident when it is at most ``window_s`` (default 1 h) after
that incident's last finding and the incident opened at most ``max_span_s`` (24 h) before it; otherwise it
opens a new one. The incident's key is derived from the tenant, the entity and the first finding's dedup
key, so replaying the same findings (after a crash, on another worker) builds the same incidents. Its
severity is the highest tier among its findings. ``version`` counts its updates: a delivery of version n
is idempotent at every receiver (webhook-id, Slack message ts, PagerDuty dedup_key).

An incident is resolved by an operator, by undoing its action, after ``quiet_s`` without a finding
(``expire``), or when its findings are all resolved (a finding's last revision with status ``resolved``: a
posture check passing again). Standing conditions (entity ``posture:<check>``, one incident per failing check)
are not attacks with a pace: their incident takes every revision however far apart and is never resolved for
being quiet, only by its resolved finding or an operator. Pure: the stores (SQLite, the compacted
``itdr.incidents`` topic) keep ``to_dict()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detections.confidence import Tier

TIER_ORDER = {tier.value: i for i, tier in enumerate(Tier)}  # low < medium < high < high-confidence
MAX_FINDINGS = 200  # per incident: a long campaign keeps its newest revisions, counted in ``finding_count``
STANDING = frozenset({"posture"})  # entity kinds whose incidents last until resolved (see the module's doc)
RESOLVED = "resolved"  # a finding's status when the condition it reported holds no more


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    window_s: float = 3600.0
    max_span_s: float = 24 * 3600.0
    quiet_s: float = 6 * 3600.0  # resolved after this long without a finding


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True)
class Incident:
    key: str
    tenant: str
    entity: str  # "user:<id>", "ip:<address>", "tenant"
    opened: float  # event time of its first finding
    last: float  # event time of its newest finding
    severity: str = Tier.LOW.value
    title: str = ""  # the most severe finding's title
    login: str = ""  # the user's login, when the entity is a user
    status: str = "open"  # open | resolved
    resolution: dict[str, Any] | None = None  # {by, at, note}
    version: int = 0
    finding_count: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)  # the timeline, oldest first
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # action id → the latest decision

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def to_dict(self) -> dict[str, Any]:
        where = [f.get("where") or {} for f in self.findings]
        return {
            "key": self.key,
            "tenant": self.tenant,
            "entity": self.entity,
            "login": self.login,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "resolution": self.resolution,
            "opened": _iso(self.opened),
            "updated": _iso(self.last),
            "version": self.version,
            "finding_count": self.finding_count,
            "findings": list(self.findings),
            "actions": list(self.actions.values()),
            "sources": {
                "ips": sorted({w["ip"] for w in where if w.get("ip")}),
                "asns": sorted({f"AS{w['asn']} {w.get('as_org') or ''}".strip() for w in where if w.get("asn")}),
                "countries": sorted({w["country"] for w in where if w.get("country")}),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        return cls(
            key=data["key"],
            tenant=data["tenant"],
            entity=data["entity"],
            opened=_epoch(data["opened"]),
            last=_epoch(data["updated"]),
            severity=data["severity"],
            title=data["title"],
            login=data.get("login", ""),
            status=data["status"],
            resolution=data.get("resolution"),
            version=data["version"],
            finding_count=data["finding_count"],
            findings=list(data["findings"]),
            actions={a["action_id"]: dict(a) for a in data.get("actions", ())},
        )


def incident_key(tenant: str, entity: str, first_dedup_key: str) -> str:
    digest = hashlib.sha256(f"{tenant}\x00{entity}\x00{first_dedup_key}".encode()).hexdigest()[:20]
    return f"inc-{digest}"


def _timeline_entry(finding: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("dedup_key", "revision", "detection", "title", "tier", "confidence", "time", "summary", "mitre")
    entry = {k: finding.get(k) for k in keep}
    entry["evidence"] = finding.get("evidence", [])
    entry["dampeners"] = finding.get("dampeners", [])
    entry["eligible_actions"] = finding.get("actions", [])
    entry["where"] = finding.get("where") or {}
    if finding.get("allowlisted"):  # an allowlist entry held its actions back: the reason, for the analyst
        entry["allowlisted"] = finding["allowlisted"]
    if finding.get("status") == RESOLVED:
        entry["status"] = RESOLVED
    return entry


class IncidentBook:
    """Open incidents by entity, and what each finding does to them. The caller stores what changed."""

    def __init__(self, settings: IncidentSettings | None = None, open_incidents: list[Incident] | None = None) -> None:
        self.settings = settings or IncidentSettings()
        self.open: dict[tuple[str, str], Incident] = {}
        for incident in open_incidents or ():
            if incident.is_open:
                self.open[(incident.tenant, incident.entity)] = incident

    def apply(self, finding: Mapping[str, Any]) -> Incident | None:
        """Fold one finding (``Finding.to_dict()``) into its incident; None when it is already in it (a
        redelivered finding: same dedup key and revision)."""
        tenant, entity = finding["tenant"], finding.get("entity") or _entity_of(finding)
        at = _epoch(finding["time"])
        incident = self.open.get((tenant, entity))
        if incident is not None and not self._joins(incident, at):
            incident = None  # too late or too long: the next finding opens a new incident
        if incident is None:
            if finding.get("status") == RESOLVED:
                return None  # the end of a condition no open incident shows: nothing to tell
            # keyed by the first finding's revision, so a revision opening a new incident gets a new key
            first = _record_key(finding)
            incident = Incident(incident_key(tenant, entity, first), tenant, entity, at, at)
            self.open[(tenant, entity)] = incident
        elif any(
            f["dedup_key"] == finding["dedup_key"] and f["revision"] == finding.get("revision", 0)
            for f in incident.findings
        ):
            return None
        self._fold(incident, finding, at)
        if finding.get("status") == RESOLVED and all(f.get("status") == RESOLVED for f in incident.findings):
            self.resolve(incident, "resolved", at, "every finding's condition holds no more")
        return incident

    def _joins(self, incident: Incident, at: float) -> bool:
        s = self.settings
        if entity_kind(incident.entity) in STANDING:
            return incident.is_open
        return incident.is_open and at <= incident.last + s.window_s and at - incident.opened <= s.max_span_s

    @staticmethod
    def _fold(incident: Incident, finding: Mapping[str, Any], at: float) -> None:
        # a revision replaces its predecessor in the timeline: one line per attack, at its latest count
        incident.findings = [f for f in incident.findings if f["dedup_key"] != finding["dedup_key"]]
        incident.findings.append(_timeline_entry(finding))
        incident.findings.sort(key=lambda f: f["time"])
        del incident.findings[:-MAX_FINDINGS]
        incident.finding_count += 1
        incident.opened, incident.last = min(incident.opened, at), max(incident.last, at)
        tier = finding.get("tier", Tier.LOW.value)
        if TIER_ORDER.get(tier, 0) >= TIER_ORDER.get(incident.severity, 0):
            incident.severity, incident.title = tier, finding.get("title", "")
        if entity_kind(incident.entity) == "user" and finding.get("principal_login"):
            incident.login = finding["principal_login"]
        incident.version += 1

    def record_action(self, tenant: str, entity: str, action: Mapping[str, Any]) -> Incident | None:
        """An action decided or done for a finding of this entity's open incident; None when nothing changed."""
        incident = self.open.get((tenant, entity))
        if incident is None or incident.actions.get(action["action_id"]) == {**action, "incident": incident.key}:
            return None  # no incident, or a decision it already shows (a redelivered finding)
        incident.actions[action["action_id"]] = {**action, "incident": incident.key}
        incident.version += 1
        return incident

    def resolve(self, incident: Incident, by: str, at: float, note: str = "") -> Incident:
        incident.status, incident.resolution = "resolved", {"by": by, "at": _iso(at), "note": note}
        incident.version += 1
        self.open.pop((incident.tenant, incident.entity), None)
        return incident

    def expire(self, now: float) -> list[Incident]:
        """Resolve the incidents quiet for ``quiet_s`` (event time of their last finding against ``now``)."""
        quiet = [
            i
            for i in self.open.values()
            if now - i.last >= self.settings.quiet_s and entity_kind(i.entity) not in STANDING
        ]
        return [self.resolve(i, "quiet", now, f"no finding for {self.settings.quiet_s / 3600:g} h") for i in quiet]


def _record_key(finding: Mapping[str, Any]) -> str:
    """As ``Finding.record_key``: the dedup key, with ``#<revision>`` after the first."""
    revision = finding.get("revision", 0)
    return finding["dedup_key"] if not revision else f"{finding['dedup_key']}#{revision}"


def entity_kind(entity: str) -> str:
    return entity.split(":", 1)[0]


def _entity_of(finding: Mapping[str, Any]) -> str:
    """Findings written before ``entity`` existed: the user, else the tenant."""
    return f"user:{finding['principal']}" if finding.get("principal") else "tenant"
