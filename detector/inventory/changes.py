"""Inventory changes as findings: what differs between the previous synced inventory and this one.

* ``inventory_api_token_new``: an API token the previous sync did not have, with its owner, expiry and network
  restriction (high when usable from any network).
* ``inventory_api_token_stale``: a token that has no expiry, or has not been used for ``token_unused_days``,
  and was not so at the previous sync.
* ``inventory_admin_role_new``: an admin role assignment of a user or group the previous sync did not have:
  which role, and who granted it when the System Log events handed in name the grant.
* ``inventory_app_management_scope``: an app newly granted ``okta.*`` management scopes (``okta.users.manage``,
  ...): an OAuth client that may administer the tenant.
* ``inventory_user_created_admin``: a user made admin within ``created_admin_window_hours`` of being created.

How they relate to the event-time detections: ``api_token_created`` and ``admin_privilege_granted`` raise a new
token and a new admin role from the System Log event as it happens. The inventory versions raise only what the
daemon did not watch: a token or role assignment whose ``created`` time falls outside the spans the tenant's log
was tailed (``Watch``; e.g. the first sync after the daemon was down longer than Okta's lookback), so nothing is
raised twice; what the event lacks (the token's expiry and owner, the role's label as Okta's role API names it)
is in the finding. ``inventory_user_created_admin`` joins facts no event carries (the user's creation time with a
grant), so it is raised whether or not the grant was watched; with entity ``user:<id>`` it lands in the same
incident as the event-time grant. App grants and token staleness have no event-time detection.

Pure: the caller hands in both inventories, the watch spans and the events since the previous sync. With no
previous inventory (the first sync ever) there is nothing to compare: new tokens, roles, grants and admins are
the baseline and raise nothing; stale tokens are a standing condition, so each one present is raised once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from detections.config_change import target_ref
from detections.event import Event
from detections.finding import Finding, Severity
from detector.inventory.findings import bounded, day, directory_finding
from detector.inventory.model import ROLE_ASSIGNEE_USER, ApiToken, Grant, Inventory, RoleAssignment
from detector.inventory.views import SUPER_ADMIN, Views

if TYPE_CHECKING:
    from detector.config import PostureSettings

HOUR = 3600.0
DAY = 86_400.0
HIGH_ROLES = frozenset({SUPER_ADMIN, "ORG_ADMIN"})
GRANT_EVENTS = frozenset({"user.account.privilege.grant", "group.privilege.grant"})
MEMBERSHIP_ADD = "group.user_membership.add"


@dataclass(frozen=True, slots=True)
class ChangeKind:
    """One kind of change finding, as the code raises it and docs/posture.md lists it."""

    id: str  # the findings' ``detection``
    title: str
    severity: str  # how its severity is decided
    mitre: tuple[str, ...]
    summary: str


NEW_TOKEN = ChangeKind(
    "inventory_api_token_new",
    "API token created (found by the directory sync)",
    "high when usable from any network, else medium",
    ("T1098.001",),  # as api_token_created
    "A token the previous sync did not have, created while the System Log was not watched: owner, expiry, network.",
)
STALE_TOKEN = ChangeKind(
    "inventory_api_token_stale",
    "API token without expiry or unused",
    "medium",
    ("T1550.001",),
    "A token that never expires, or was not used for `token_unused_days`, and was not so at the previous sync.",
)
NEW_ROLE = ChangeKind(
    "inventory_admin_role_new",
    "Admin role granted (found by the directory sync)",
    "user: high for Super/Org administrator, else medium; group: critical for Super administrator, else high",
    ("T1098.003",),  # as admin_privilege_granted
    "A role assignment the previous sync did not have, made while the System Log was not watched; the granter when"
    " an event handed in names the grant.",
)
MANAGEMENT_SCOPE = ChangeKind(
    "inventory_app_management_scope",
    "App granted Okta management scopes",
    "high",
    ("T1098.003",),
    "An app newly granted `okta.<resource>.manage` scopes: an OAuth client that may administer the tenant.",
)
CREATED_ADMIN = ChangeKind(
    "inventory_user_created_admin",
    "User created and made admin within a day",
    "high",
    ("T1136.003", "T1098.003"),
    "A user who became admin since the previous sync within `created_admin_window_hours` of being created, whether"
    " or not the grant was watched (no event carries both facts).",
)
CHANGE_KINDS = (NEW_TOKEN, STALE_TOKEN, NEW_ROLE, MANAGEMENT_SCOPE, CREATED_ADMIN)


@dataclass(frozen=True, slots=True)
class Watch:
    """The spans of time (epoch seconds, inclusive) whose System Log events the daemon read for this tenant."""

    spans: tuple[tuple[float, float], ...] = ()

    def covers(self, t: float | None) -> bool:
        """An event at ``t`` was read (so an event-time detection saw it); an unknown time never is."""
        return t is not None and any(start <= t <= end for start, end in self.spans)


def inventory_changes(
    previous: Inventory | None,
    current: Inventory,
    settings: PostureSettings,
    now: float,
    *,
    watch: Watch | None = None,
    events: Iterable[Event] = (),
) -> list[Finding]:
    """The findings of what changed from ``previous`` to ``current`` (synced at ``now``); ``watch``: when the
    tenant's System Log was read (None: never, so every change is raised)."""
    watch = watch or Watch()
    grants = _Grants(events)
    cur = Views(current)
    found = _stale_tokens(previous, cur, settings, now)
    if previous is None:
        return found
    prev = Views(previous)
    found += _new_tokens(previous, cur, watch, now)
    found += _new_roles(previous, cur, watch, grants, now)
    found += _new_management_grants(previous, cur, settings, now)
    found += _created_admins(prev, cur, settings, grants, now)
    return found


# -- API tokens -----------------------------------------------------------------------------------------------------


def _token_facts(views: Views, token: ApiToken) -> str:
    expires = day(token.expires) if token.expires is not None else "never"
    client = f", client {token.client_name}" if token.client_name else ""
    return (
        f"owner {views.login(token.owner_id)}, created {day(token.created)}, expires {expires}, "
        f"network {token.network or 'ANYWHERE'}{client}"
    )


def _anywhere(token: ApiToken) -> bool:
    return (token.network or "ANYWHERE").upper() == "ANYWHERE"


def _new_tokens(previous: Inventory, cur: Views, watch: Watch, now: float) -> list[Finding]:
    before = previous.of("api_token")
    out = []
    for token in sorted(cur.inventory.of("api_token").values(), key=lambda t: t.id):
        if token.id in before or watch.covers(token.created):
            continue
        anywhere = _anywhere(token)
        out.append(
            directory_finding(
                cur.inventory.tenant,
                detection=NEW_TOKEN.id,
                title=NEW_TOKEN.title,
                severity=Severity.HIGH if anywhere else Severity.MEDIUM,
                statement=f"API token {token.name or token.id} created while the System Log was not watched"
                + (" usable from any network" if anywhere else ""),
                items=[_token_facts(cur, token)],
                mitre=NEW_TOKEN.mitre,
                time=now,
                anchor=("token", token.id),
                entity=f"user:{token.owner_id}",
                principal=token.owner_id,
                principal_login=cur.login(token.owner_id),
            )
        )
    return out


def _stale_reasons(token: ApiToken, at: float, settings: PostureSettings) -> dict[str, str]:
    """Why ``token`` is stale at ``at``: reason key (part of the dedup key) -> what the analyst reads."""
    reasons = {}
    if token.expires is None:
        reasons["no_expiry"] = "never expires"
    used = token.last_used if token.last_used is not None else token.created
    if used is not None and used < at - settings.token_unused_days * DAY:
        seen = f"last used {day(token.last_used)}" if token.last_used is not None else "never used"
        reasons[f"unused:{used:.0f}"] = f"{seen} ({settings.token_unused_days}+ days)"
    return reasons


def _stale_tokens(previous: Inventory | None, cur: Views, settings: PostureSettings, now: float) -> list[Finding]:
    """Tokens stale now and not at the previous sync (judged at its own sync time, so a token crossing the unused
    threshold in between is raised)."""
    then = previous.synced_at if previous is not None and previous.synced_at is not None else now
    before = previous.of("api_token") if previous is not None else {}
    out = []
    for token in sorted(cur.inventory.of("api_token").values(), key=lambda t: t.id):
        old = before.get(token.id)
        was = _stale_reasons(old, then, settings) if old is not None else {}
        for key, reason in _stale_reasons(token, now, settings).items():
            if key in was:
                continue
            out.append(
                directory_finding(
                    cur.inventory.tenant,
                    detection=STALE_TOKEN.id,
                    title=STALE_TOKEN.title,
                    severity=Severity.MEDIUM,
                    statement=f"API token {token.name or token.id} {reason}: revoke it or set its expiry",
                    items=[_token_facts(cur, token)],
                    mitre=STALE_TOKEN.mitre,
                    time=now,
                    anchor=("token", token.id, key),
                    entity=f"user:{token.owner_id}",
                    principal=token.owner_id,
                    principal_login=cur.login(token.owner_id),
                )
            )
    return out


# -- admin roles ----------------------------------------------------------------------------------------------------


class _Grants:
    """What the System Log events handed in say about grants: who granted a role to whom, and when a user joined
    a group (the time a role held through the group began)."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.granted: dict[str, list[tuple[float, str]]] = {}  # assignee id -> (time, granter)
        self.joined: dict[tuple[str, str], float] = {}  # (user id, group id) -> time
        for e in events:
            if e.outcome == "FAILURE":
                continue
            if e.event_type in GRANT_EVENTS:
                kind = "User" if e.event_type == "user.account.privilege.grant" else "UserGroup"
                assignee, _ = target_ref(e.target(kind))
                if assignee:
                    who = e.actor_login or e.actor_id or "unknown actor"
                    self.granted.setdefault(assignee, []).append((e.time, who))
            elif e.event_type == MEMBERSHIP_ADD:
                user, _ = target_ref(e.target("User"))
                group, _ = target_ref(e.target("UserGroup"))
                if user and group:
                    self.joined[(user, group)] = max(e.time, self.joined.get((user, group), e.time))

    def granter(self, role: RoleAssignment) -> str | None:
        """The actor of the grant event to the role's assignee nearest the role's creation (the newest when the
        role does not say when)."""
        seen = self.granted.get(role.assignee_id)
        if not seen:
            return None
        created = role.created
        best = min(seen, key=lambda s: abs(s[0] - created)) if created is not None else max(seen)
        return best[1]


def _role_severity(role: RoleAssignment) -> Severity:
    high = role.role_type in HIGH_ROLES
    if role.assignee_type == ROLE_ASSIGNEE_USER:
        return Severity.HIGH if high else Severity.MEDIUM
    return Severity.CRITICAL if role.role_type == SUPER_ADMIN else Severity.HIGH  # every member gets it


def _new_roles(previous: Inventory, cur: Views, watch: Watch, grants: _Grants, now: float) -> list[Finding]:
    before = previous.of("role")
    groups = cur.inventory.of("group")
    out = []
    for role in sorted(cur.inventory.of("role").values(), key=lambda r: r.id):
        if role.id in before or role.status != "ACTIVE" or watch.covers(role.created):
            continue
        name = role.label or role.role_type
        granter = grants.granter(role)
        by = f" by {granter}" if granter else " (granter not in the events read)"
        if role.assignee_type == ROLE_ASSIGNEE_USER:
            whom, entity = cur.login(role.assignee_id), f"user:{role.assignee_id}"
            principal, login, title = role.assignee_id, cur.login(role.assignee_id), "Admin role granted to a user"
        else:
            group = groups.get(role.assignee_id)
            whom = f"group {group.name if group is not None and group.name else role.assignee_id}"
            entity, principal, login, title = f"group:{role.assignee_id}", "", "", "Admin role granted to a group"
        members = [] if role.assignee_type == ROLE_ASSIGNEE_USER else sorted(cur.inventory.members_of(role.assignee_id))
        items = [f"role {name} ({role.role_type}), assigned {day(role.created)}{by}"]
        if members:
            items.append(f"{len(members)} member(s): " + ", ".join(cur.login(u) for u in members[:10]))
        out.append(
            directory_finding(
                cur.inventory.tenant,
                detection=NEW_ROLE.id,
                title=f"{title} (found by the directory sync)",
                severity=_role_severity(role),
                statement=f"{name} granted to {whom}{by}",
                items=items,
                mitre=NEW_ROLE.mitre,
                time=now,
                anchor=("role", role.id),
                entity=entity,
                principal=principal,
                principal_login=login,
            )
        )
    return out


def is_management_scope(scope: str) -> bool:
    """An Okta API scope that changes the tenant: ``okta.<resource>.manage`` (and ``.manage.self``)."""
    parts = scope.split(".")
    return len(parts) >= 3 and parts[0] == "okta" and "manage" in parts[2:]


def _new_management_grants(previous: Inventory, cur: Views, settings: PostureSettings, now: float) -> list[Finding]:
    before = previous.of("grant")
    new: dict[str, list[Grant]] = {}
    for g in cur.inventory.of("grant").values():
        if g.id not in before and g.status == "ACTIVE" and is_management_scope(g.scope):
            new.setdefault(g.app_id, []).append(g)
    apps = cur.inventory.of("app")
    out = []
    for app_id in sorted(new):
        scopes = sorted({g.scope for g in new[app_id]})
        app = apps.get(app_id)
        name = f"{app.label or app.name} ({app_id})" if app is not None else app_id
        out.append(
            directory_finding(
                cur.inventory.tenant,
                detection=MANAGEMENT_SCOPE.id,
                title=MANAGEMENT_SCOPE.title,
                severity=Severity.HIGH,
                statement=f"app {name} granted {len(scopes)} Okta management scope(s)",
                items=bounded(scopes, settings.evidence_limit),
                mitre=MANAGEMENT_SCOPE.mitre,
                time=now,
                anchor=("app", app_id, *scopes),
                entity=f"app:{app_id}",
            )
        )
    return out


def _created_admins(prev: Views, cur: Views, settings: PostureSettings, grants: _Grants, now: float) -> list[Finding]:
    """Users who became admin since the previous sync within the window of their creation. When the grant's time
    is unknown (a role through a group joined without an event read) the sync time stands for it: the grant
    happened no later, so a user this recent is within the window whatever the exact time."""
    before = prev.admin_keys()
    window = settings.created_admin_window_hours * HOUR
    out = []
    for user, held in cur.live_admins():
        fresh = [h for h in held if (user.id, h.role.role_type) not in before]
        if not fresh or user.created is None:
            continue
        times = [_granted_at(user.id, h.role, h.via.id if h.via else None, grants, now) for h in fresh]
        at = min(times)
        if not 0 <= at - user.created <= window:
            continue
        roles = ", ".join(h.describe() for h in fresh)
        hours = (at - user.created) / HOUR
        out.append(
            directory_finding(
                cur.inventory.tenant,
                detection=CREATED_ADMIN.id,
                title=CREATED_ADMIN.title,
                severity=Severity.HIGH,
                statement=f"{user.login} was made admin ({roles}) {hours:.1f} h after the account was created",
                items=[f"created {day(user.created)}, status {user.status}"],
                mitre=CREATED_ADMIN.mitre,
                time=now,
                anchor=("created_admin", user.id, *sorted(h.role.id for h in fresh)),
                entity=f"user:{user.id}",
                principal=user.id,
                principal_login=user.login,
            )
        )
    return out


def _granted_at(user_id: str, role: RoleAssignment, group_id: str | None, grants: _Grants, now: float) -> float:
    """When the user got the role: the later of the role's creation and the user joining its group, as far as
    the records and events say; ``now`` for what they do not."""
    if group_id is None:
        return role.created if role.created is not None else now
    joined = grants.joined.get((user_id, group_id), now)
    return max(joined, role.created) if role.created is not None else joined
