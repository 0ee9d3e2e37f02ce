"""The inventory of one tenant: what Okta's directory says, as plain records (no I/O).

Why one model: the sync writes it, System Log events patch it, posture checks and change findings read
it, and the engine is handed facts derived from it. Each record keeps only what one of those readers
needs, every field typed and bounded by the parser that built it (the strings are still chosen by admins
and users of the tenant, so every output escapes them). Times are epoch seconds (float) or None.

Records are frozen: a change is a new record put in place, so a diff of two inventories is a comparison
of records by id, and an old snapshot handed to a posture run never changes under it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self

ROLE_ASSIGNEE_USER = "USER"
ROLE_ASSIGNEE_GROUP = "GROUP"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    login: str
    status: str  # ACTIVE, SUSPENDED, DEPROVISIONED, ...
    created: float | None = None
    activated: float | None = None
    last_login: float | None = None
    password_changed: float | None = None
    status_changed: float | None = None


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    type: str  # OKTA_GROUP, APP_GROUP, BUILT_IN


@dataclass(frozen=True, slots=True)
class Membership:
    """A user in a group (one record per pair, so an event adds or removes exactly one)."""

    group_id: str
    user_id: str

    @property
    def id(self) -> str:
        return f"{self.group_id}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """An admin role held by a user or a group (``assignee_type``): Okta's role assignment object."""

    id: str
    assignee_type: str  # USER or GROUP
    assignee_id: str
    role_type: str  # SUPER_ADMIN, ORG_ADMIN, ..., CUSTOM
    label: str
    status: str = "ACTIVE"
    created: float | None = None


@dataclass(frozen=True, slots=True)
class App:
    id: str
    name: str  # Okta's app name: saasure is the Admin Console, okta_enduser the dashboard
    label: str
    status: str
    sign_on_mode: str
    created: float | None = None
    access_policy: str = ""  # the id of the ACCESS_POLICY that guards sign-in to it ("": none linked)


@dataclass(frozen=True, slots=True)
class AppAssignment:
    """A user or group (``assignee_type``) assigned to an app."""

    app_id: str
    assignee_type: str  # USER or GROUP
    assignee_id: str

    @property
    def id(self) -> str:
        return f"{self.app_id}:{self.assignee_type}:{self.assignee_id}"


@dataclass(frozen=True, slots=True)
class Grant:
    """An OAuth 2.0 scope granted to an app (``GET /api/v1/apps/{id}/grants``)."""

    id: str
    app_id: str
    scope: str
    status: str = "ACTIVE"
    created: float | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An SSWS API token's metadata (``GET /api/v1/api-tokens``); never the secret."""

    id: str
    name: str
    owner_id: str
    client_name: str = ""
    created: float | None = None
    expires: float | None = None
    last_used: float | None = None  # Okta's lastUpdated: the token's last use
    network: str = "ANYWHERE"  # ANYWHERE, ZONE (include/exclude zones), ...


@dataclass(frozen=True, slots=True)
class Factor:
    """One enrolled factor of a user: ``factor_type`` as Okta names it (push, sms, webauthn, ...)."""

    id: str
    user_id: str
    factor_type: str
    provider: str
    status: str = "ACTIVE"


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    id: str
    name: str
    type: str
    status: str


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy and the settings of its rules the posture checks read, flattened by the parser.

    ``settings`` holds named facts (e.g. ``password_min_length``, ``max_session_minutes``,
    ``enroll_required``, ``admin_console_phishing_resistant``) rather than Okta's nested JSON, so a check
    reads one value and the parser is the one place that knows where Okta keeps it.
    """

    id: str
    type: str  # OKTA_SIGN_ON, PASSWORD, MFA_ENROLL, ACCESS_POLICY
    name: str
    status: str
    priority: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrgSettings:
    """Org-wide facts: one record with id ``org``. ``threat_insight``: none, audit or block."""

    id: str = "org"
    threat_insight: str | None = None


RECORD_KINDS: dict[str, type] = {
    "user": User,
    "group": Group,
    "membership": Membership,
    "role": RoleAssignment,
    "app": App,
    "app_assignment": AppAssignment,
    "grant": Grant,
    "api_token": ApiToken,
    "factor": Factor,
    "idp": IdentityProvider,
    "policy": Policy,
    "org": OrgSettings,
}
KIND_OF: dict[type, str] = {cls: kind for kind, cls in RECORD_KINDS.items()}


def record_id(record: Any) -> str:
    return str(record.id)


OWNER_FIELD: dict[str, str] = {  # kind -> the field naming the user or group the record belongs to
    "membership": "user_id",
    "factor": "user_id",
    "role": "assignee_id",
    "app_assignment": "assignee_id",
    "api_token": "owner_id",
}


def owner_of(record: Any) -> str:
    """The user or group a record hangs off ("" for none): what goes with it when that user is deleted."""
    kind = KIND_OF[type(record)]
    return str(getattr(record, OWNER_FIELD[kind])) if kind in OWNER_FIELD else ""


def encode(record: Any) -> dict[str, Any]:
    """A record as a JSON-able dict (for the store and the compacted topic)."""
    return asdict(record)


def decode(kind: str, data: dict[str, Any]) -> Any:
    """A record from :func:`encode`'s dict; unknown fields (a newer writer) are dropped."""
    cls = RECORD_KINDS[kind]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


_INDEXED: dict[str, tuple[str, ...]] = {  # kind -> the fields a per-user or per-group lookup reads it by
    "membership": ("user_id", "group_id"),
    "role": ("assignee_id",),
    "factor": ("user_id",),
    "app_assignment": ("assignee_id",),
}


@dataclass
class Inventory:
    """Every record of one tenant by kind and id, plus when the last full sync finished.

    Change records through ``put`` / ``remove`` only: they keep the indexes that make the per-user
    lookups (``roles_of_user``, ``factors_of``, ``groups_of``, ``members_of``) independent of the org's
    size (orgs have 50k+ users and a posture run asks once per user).
    """

    tenant: str
    records: dict[str, dict[str, Any]] = field(default_factory=lambda: {kind: {} for kind in RECORD_KINDS})
    synced_at: float | None = None
    _index: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict, repr=False, compare=False)

    KINDS: ClassVar[tuple[str, ...]] = tuple(RECORD_KINDS)

    def __post_init__(self) -> None:
        for kind, names in _INDEXED.items():
            for name in names:
                self._index[(kind, name)] = {}
        for kind in _INDEXED:
            for record in self.records.get(kind, {}).values():
                self._link(kind, record)

    def put(self, record: Any) -> None:
        kind = KIND_OF[type(record)]
        rid = record_id(record)
        old = self.records[kind].get(rid)
        if old is not None:
            self._unlink(kind, old)
        self.records[kind][rid] = record
        self._link(kind, record)

    def remove(self, kind: str, rid: str) -> None:
        old = self.records[kind].pop(rid, None)
        if old is not None:
            self._unlink(kind, old)

    def of(self, kind: str) -> dict[str, Any]:
        return self.records[kind]

    def users(self) -> dict[str, User]:
        return self.records["user"]

    def by(self, kind: str, name: str, value: str) -> list[Any]:
        """The records of ``kind`` whose indexed field ``name`` is ``value`` (see ``_INDEXED``), by id (the same
        order in every run: a posture finding's evidence must not reorder itself)."""
        ids = self._index[(kind, name)].get(value, ())
        by_id = self.records[kind]
        return [by_id[rid] for rid in sorted(ids)]

    def groups_of(self, user_id: str) -> set[str]:
        """The ids of the groups the user is a member of."""
        return {m.group_id for m in self.by("membership", "user_id", user_id)}

    def members_of(self, group_id: str) -> set[str]:
        return {m.user_id for m in self.by("membership", "group_id", group_id)}

    def roles_of_user(self, user_id: str) -> list[RoleAssignment]:
        """The user's admin roles: assigned directly, or to a group the user is in."""
        direct = [r for r in self.by("role", "assignee_id", user_id) if r.assignee_type == ROLE_ASSIGNEE_USER]
        via_groups = [
            r
            for group_id in self.groups_of(user_id)
            for r in self.by("role", "assignee_id", group_id)
            if r.assignee_type == ROLE_ASSIGNEE_GROUP
        ]
        return direct + via_groups

    def factors_of(self, user_id: str) -> list[Factor]:
        return self.by("factor", "user_id", user_id)

    def counts(self) -> dict[str, int]:
        return {kind: len(by_id) for kind, by_id in self.records.items()}

    @classmethod
    def empty(cls, tenant: str) -> Self:
        return cls(tenant)

    def _link(self, kind: str, record: Any) -> None:
        for name in _INDEXED.get(kind, ()):
            self._index[(kind, name)].setdefault(getattr(record, name), set()).add(record_id(record))

    def _unlink(self, kind: str, record: Any) -> None:
        for name in _INDEXED.get(kind, ()):
            ids = self._index[(kind, name)].get(getattr(record, name))
            if ids is not None:
                ids.discard(record_id(record))
                if not ids:
                    del self._index[(kind, name)][getattr(record, name)]
