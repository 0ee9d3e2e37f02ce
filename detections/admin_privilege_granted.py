"""Admin privilege granted (or a super-admin revoked), escalated when the granter looks compromised.

Why: an attacker who controls an account makes it (or a group it is in) an
administrator to persist and to lock responders out; the 2023 cross-tenant
impersonation campaign did exactly this (Panther Okta.AdminRoleAssigned; Okta's catalog).

Triggers: ``user.account.privilege.grant`` (severity by the roles in
``debugData.privilegeGranted``: Super/Organization administrator → high, any
other role → medium, self-granted → high), ``group.privilege.grant`` (high: every
member gets the role; critical for super admin), ``iam.resourceset.bindings.add``
(custom role binding, medium) and ``user.account.privilege.revoke`` of a
Super/Organization administrator (medium: responder lock-out, Okta's catalog).
Never auto-enforced (legitimate admin work is common; a human decides).

Escalation (the part a per-actor state can see): any of these changes is
**critical** when, in the 24 h before it, the *granter* (the event's actor) had

* a successful sign-in that ThreatInsight suspected (``threatSuspected``; our
  ``threatinsight_on_success`` is high on it),
* a successful sign-in with Okta ``New Geo-Location``/``New Country`` **and**
  ``New Device`` POSITIVE (Panther Okta.New.Behavior.Accessing.Admin.Console rates that high), or
* reported suspicious activity on their own account (``user_reported_suspicious``, high);

or the change request itself carries ``threatSuspected``. A user made admin within 24 h of being created
(the grant event does not carry the creation time: the directory inventory's ``created`` is read,
``reads_directory``) is high, critical for a Super/Organization administrator role (Okta's catalog
"New user granted admin"; issue: accounts created to persist). Okta risk HIGH is named in
the evidence when it rides on such a sign-in but never escalates alone (docs/okta-quirks.md#risk: Okta
rates every new user HIGH). Each reason is an evidence item with its event.

State is per granter (the actor), so ``keyed_by_actor``: every event touching a key
has that actor, and the Kafka partition of ``okta.events`` already holds it. Per-actor
state cannot see signals whose actor is someone else: ITP ``user.risk.detect`` (actor
Okta, the user is the target), findings of other detections (session hijack, impossible
travel), or "the granter was made admin minutes ago" (that grant's actor is another
admin). Those need a findings-correlation stage keyed by user (see the branch note).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import Suppression, is_successful_sign_in
from detections.confidence import Evidence, EvidenceClass
from detections.config_change import Change, ChangeState, ConfigChangeDetection, first_target, target_ref
from detections.directory import NO_DIRECTORY, DirectoryFacts
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity

MITRE = ("T1098.003",)
REPORT = "user.account.report_suspicious_activity_by_enduser"
# What ``classify`` reads
GRANT_TYPES = frozenset(
    {
        "user.account.privilege.grant",
        "group.privilege.grant",
        "iam.resourceset.bindings.add",
        "user.account.privilege.revoke",
    }
)

# signal kind: (evidence class, points) - the points other detections give the same evidence
SIGNAL_EVIDENCE: dict[str, tuple[EvidenceClass, int]] = {
    "threat": (EvidenceClass.INFRASTRUCTURE, 15),
    "new_geo_device": (EvidenceClass.ANOMALY, 25),
    "report": (EvidenceClass.USER_REPORT, 60),
}


@dataclass(frozen=True, slots=True)
class AdminPrivilegeGrantedConfig:
    high_roles: tuple[str, ...] = (
        "super admin",
        "super administrator",
        "organization administrator",
        "org admin",
        "org administrator",
    )
    suppress_s: float = 300.0  # per granter, target and role set
    escalate_window_s: float = 24 * 3600.0  # granter signals this recent make the change critical
    max_signals: int = 16  # per granter, newest kept
    new_user_window_s: float = 24 * 3600.0  # a user created this shortly before the grant (per the inventory)


@dataclass(frozen=True, slots=True)
class Signal:
    """Something about an admin, seen in an event whose actor they are."""

    time: float
    kind: str  # a SIGNAL_EVIDENCE key
    label: str
    uuid: str

    def to_list(self) -> list[Any]:
        return [self.time, self.kind, self.label, self.uuid]


@dataclass(slots=True)
class GranterState(ChangeState):
    """The granter's changes (replay guard, suppression) and their recent risk signals."""

    signals: list[Signal] = field(default_factory=list)

    def remember(self, signal: Signal, horizon: float, cap: int) -> None:
        """Keep signals newer than ``horizon`` (event time), newest ``cap`` of them, in time order."""
        kept = [s for s in self.signals if s.time >= horizon and s.uuid != signal.uuid]
        kept.append(signal)
        kept.sort(key=lambda s: s.time)
        self.signals = kept[-cap:]

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict(), "sig": [s.to_list() for s in self.signals]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GranterState:
        # "sig" absent: a state written before escalation existed
        return cls(Suppression.from_dict(data["sup"], guarded=False), [Signal(*s) for s in data.get("sig", [])])


class AdminPrivilegeGranted(ConfigChangeDetection):
    id: ClassVar[str] = "admin_privilege_granted"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS | {REPORT, *GRANT_TYPES}
    keyed_by_actor: ClassVar[bool] = True
    reads_directory: ClassVar[bool] = True  # when was the target user created?

    def __init__(self, config: AdminPrivilegeGrantedConfig | None = None) -> None:
        self.config = config or AdminPrivilegeGrantedConfig()

    def state_key(self, event: Event) -> str | None:
        if sign_in_signal(event) is not None:
            return event.actor_id
        if event.outcome == "FAILURE" or self.classify(event) is None:
            return None
        return event.actor_id or "-"  # "-": the okta.events key of an actor-less event

    def new_state(self) -> GranterState:
        return GranterState()

    def load_state(self, data: dict[str, Any]) -> GranterState:
        return GranterState.from_dict(data)

    # override: the engine hands a detection only the states it made, so its state is a GranterState here
    def expires_at(self, state: GranterState) -> float:  # type: ignore[override]
        """Suppression, and the newest signal while it can still escalate a grant."""
        newest = max((s.time for s in state.signals), default=-math.inf)
        return max(state.sup.expires_at(self.config.suppress_s), newest + self.config.escalate_window_s)

    def detect(  # type: ignore[override]
        self, event: Event, state: GranterState, *, directory: DirectoryFacts = NO_DIRECTORY
    ) -> list[Finding]:
        signal = sign_in_signal(event)
        if signal is not None:
            state.remember(signal, event.time - self.config.escalate_window_s, self.config.max_signals)
            return []
        change = self.classify(event)
        if change is None or not self.admit(event, state.sup, f"{change.scope}|{change.variant}"):
            return []
        reasons = self._reasons(event, state)
        new_user = self._new_user(event, change, directory)
        if not reasons and new_user is None:
            return [self.finding(event, change)]
        evidence = [
            Evidence(SIGNAL_EVIDENCE[s.kind][0], s.label, SIGNAL_EVIDENCE[s.kind][1], (s.uuid,)) for s in reasons
        ]
        severity = Severity.CRITICAL
        if new_user is not None:
            evidence.append(new_user)
            if not reasons and change.severity is not Severity.HIGH:
                severity = Severity.HIGH  # a lesser role: high; a Super/Org admin (or self-grant) role: critical
        return [self.finding(event, change, evidence, severity)]

    def _new_user(self, event: Event, change: Change, directory: DirectoryFacts) -> Evidence | None:
        """The target user was created shortly before this grant, per the directory (the event does not say)."""
        if not change.variant.startswith("grant:") or not change.principal:
            return None
        facts = directory.user(change.principal)
        if facts is None or facts.created is None:
            return None
        age = event.time - facts.created
        if not 0 <= age <= self.config.new_user_window_s:
            return None
        who = change.principal_login or change.principal
        label = f"{who} was created {age / 3600:.1f} h before this grant (per the directory)"
        return Evidence(EvidenceClass.ANOMALY, label, 25, (event.uuid,))

    def _reasons(self, event: Event, state: GranterState) -> list[Signal]:
        """The granter's signals in the window before this change, newest per kind; plus the request's own."""
        since = event.time - self.config.escalate_window_s
        newest: dict[str, Signal] = {}
        for s in state.signals:
            if since <= s.time <= event.time:
                newest[s.kind] = s
        if event.threat_suspected:
            label = f"ThreatInsight suspected the IP of this request ({event.ip})"
            newest["threat"] = Signal(event.time, "threat", label, event.uuid)
        return [newest[k] for k in SIGNAL_EVIDENCE if k in newest]

    def _high(self, roles: str) -> bool:
        low = roles.lower()
        return any(role in low for role in self.config.high_roles)

    def classify(self, event: Event) -> Change | None:
        et = event.event_type
        if et == "user.account.privilege.grant":
            roles = str(event.debug.get("privilegegranted") or "an admin role")
            user_id, login = target_ref(event.target("User") or first_target(event))
            self_grant = bool(user_id) and user_id == event.actor_id
            severity = Severity.HIGH if self._high(roles) or self_grant else Severity.MEDIUM
            label = f"{roles} granted to {login or user_id}" + (" (self-granted)" if self_grant else "")
            return Change(
                f"grant:{roles}",
                severity,
                "Admin role granted to a user",
                label,
                MITRE,
                f"user:{user_id}",
                user_id,
                login,
            )
        if et == "group.privilege.grant":
            roles = str(event.debug.get("privilegegranted") or "an admin role")
            group_id, name = target_ref(event.target("UserGroup") or first_target(event))
            severity = Severity.CRITICAL if self._high(roles) else Severity.HIGH
            return Change(
                f"grant:{roles}",
                severity,
                "Admin role granted to a group",
                f"{roles} granted to group {name or group_id}",
                MITRE,
                f"group:{group_id}",
                "",
                "",
            )
        if et == "iam.resourceset.bindings.add":
            ref_id, name = target_ref(first_target(event))
            return Change(
                "binding",
                Severity.MEDIUM,
                "Custom admin role binding added",
                f"custom role binding added on {name or ref_id}",
                MITRE,
                f"binding:{ref_id}",
                "",
                "",
            )
        if et == "user.account.privilege.revoke":
            roles = str(event.debug.get("privilegerevoked") or "")
            if not self._high(roles):
                return None
            user_id, login = target_ref(event.target("User") or first_target(event))
            return Change(
                f"revoke:{roles}",
                Severity.MEDIUM,
                "Super/Org admin role revoked",
                f"{roles} revoked from {login or user_id}",
                ("T1531",),
                f"user:{user_id}",
                user_id,
                login,
            )
        return None


def sign_in_signal(event: Event) -> Signal | None:
    """A risk signal about the event's (human) actor, or None: successful sign-ins and self-reports only."""
    if not event.is_human or not event.actor_id:
        return None
    if event.event_type == REPORT:
        what = event.debug.get("suspiciousactivityeventtype") or "an event"
        label = f"granter reported suspicious activity ({what}) on their account"
        return Signal(event.time, "report", label, event.uuid)
    if not is_successful_sign_in(event):
        return None
    risk = " and Okta risk HIGH" if event.risk_level == "HIGH" else ""
    if event.threat_suspected:
        label = f"granter signed in from {event.ip}, which ThreatInsight suspected{risk}"
        return Signal(event.time, "threat", label, event.uuid)
    new_geo = event.behavior_positive("New Geo-Location") or event.behavior_positive("New Country")
    if new_geo and event.behavior_positive("New Device"):
        where = ", ".join(x for x in (event.geo.city, event.geo.country) if x) or event.ip or "?"
        label = f"granter signed in from a new device and a new location ({where}){risk}"
        return Signal(event.time, "new_geo_device", label, event.uuid)
    return None
