"""Users, groups, factors and sessions of the simulated org, with Okta's lifecycle status rules.

Plain state and rules only; rendering to API JSON is here too because it depends on the state
(the `_links` of a user show the lifecycle operations valid for its current status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detector.sim.errors import OktaError
from detector.sim.ids import IdFactory
from detector.sim.pagination import OrderedIds
from detector.sim.timefmt import iso_ms

USER_STATUSES = frozenset(
    {"ACTIVE", "DEPROVISIONED", "LOCKED_OUT", "PASSWORD_EXPIRED", "PROVISIONED", "RECOVERY", "STAGED", "SUSPENDED"}
)
LIFECYCLE_ACTIONS = ("suspend", "unsuspend", "activate", "deactivate", "unlock", "expire_password", "reset_factors")


@dataclass
class Factor:
    id: str
    factor_type: str
    created: float
    status: str = "ACTIVE"
    provider: str = ""  # Okta's: FIDO for webauthn, OKTA for the rest

    def __post_init__(self) -> None:
        self.provider = self.provider or ("FIDO" if self.factor_type == "webauthn" else "OKTA")


@dataclass
class Group:
    id: str
    name: str
    type: str  # BUILT_IN for Everyone, OKTA_GROUP otherwise
    created: float
    description: str = ""
    membership_updated: float | None = None
    members: OrderedIds = field(default_factory=OrderedIds, repr=False, compare=False)  # user ids, joined order

    def target(self) -> dict[str, Any]:
        """The group as a System Log `target` entry."""
        return {
            "id": self.id,
            "type": "UserGroup",
            "alternateId": "unknown",
            "displayName": self.name,
            "detailEntry": None,
        }


@dataclass
class UserRecord:
    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    status: str
    created: float
    status_changed: float | None
    activated: float | None
    last_login: float | None = None
    password_changed: float | None = None
    last_updated: float = 0.0
    group_ids: list[str] = field(default_factory=list)
    factors: list[Factor] = field(default_factory=list)
    sessions: dict[str, float] = field(default_factory=dict)  # externalSessionId -> started

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def set_status(self, status: str, now: float) -> None:
        self.status = status
        self.status_changed = now
        self.last_updated = now

    def target(self) -> dict[str, Any]:
        """The user as a System Log `target` entry."""
        return {
            "id": self.id,
            "type": "User",
            "alternateId": self.login,
            "displayName": self.display_name,
            "detailEntry": None,
        }


@dataclass(frozen=True)
class LifecycleOutcome:
    """What a lifecycle call did: the events to write and the sessions it ended."""

    event_type: str
    ended_sessions: tuple[str, ...] = ()


class Directory:
    """The org's people: users by id, groups by name, and Okta's user status machine (Users API lifecycle).

    Indexed for a large org: users and groups in creation order (`user_order`, `group_order`), logins and
    group ids looked up in O(1), each group's members kept in the group, so no request scans the directory.
    """

    def __init__(self, ids: IdFactory) -> None:
        self._ids = ids
        self.users: dict[str, UserRecord] = {}
        self.groups: dict[str, Group] = {}
        self.groups_by_id: dict[str, Group] = {}
        self.user_order = OrderedIds()
        self.group_order = OrderedIds()
        self._by_login: dict[str, str] = {}  # lower-cased login -> user id
        self._by_short: dict[str, str | None] = {}  # lower-cased login shortname -> user id, None if ambiguous

    # -- setup ---------------------------------------------------------------------------------

    def group(self, name: str, now: float) -> Group:
        if name not in self.groups:
            kind = "BUILT_IN" if name == "Everyone" else "OKTA_GROUP"
            group = Group(self._ids.okta_id("00g"), name, kind, now)
            self.groups[name] = self.groups_by_id[group.id] = group
            self.group_order.add(group.id)
        return self.groups[name]

    def add_user(
        self,
        login: str,
        first_name: str,
        last_name: str,
        status: str,
        groups: list[str],
        user_id: str | None,
        factors: tuple[str, ...],
        now: float,
    ) -> UserRecord:
        if status not in USER_STATUSES:
            raise ValueError(f"unknown user status {status!r}")
        uid = user_id or self._ids.okta_id("00u")
        if uid in self.users or login.lower() in self._by_login:
            raise ValueError(f"user {uid} / {login} already exists")
        active_once = status not in {"STAGED", "PROVISIONED"}
        user = UserRecord(
            id=uid,
            login=login,
            email=login if "@" in login else f"{login}@example.com",
            first_name=first_name,
            last_name=last_name,
            status=status,
            created=now,
            status_changed=now if status != "STAGED" else None,
            activated=now if active_once else None,
            password_changed=now if active_once else None,
            last_updated=now,
        )
        user.factors = [Factor(self._ids.okta_id("opf"), f, now) for f in factors]
        self.users[uid] = user
        self.user_order.add(uid)
        self._by_login[login.lower()] = uid
        short = login.lower().split("@")[0]
        self._by_short[short] = None if short in self._by_short else uid
        for name in dict.fromkeys(["Everyone", *groups]):
            self._join(self.group(name, now), user)
        return user

    @staticmethod
    def _join(group: Group, user: UserRecord) -> None:
        user.group_ids.append(group.id)
        group.members.add(user.id)

    def create_group(self, name: str, description: str, now: float) -> Group:
        """`POST /api/v1/groups`: a new OKTA_GROUP; Okta refuses a second group of the same name."""
        if not name.strip():
            raise OktaError("E0000001", "Api validation failed: name", causes=["name: The field cannot be left blank"])
        if name in self.groups:
            raise OktaError(
                "E0000001", "Api validation failed: name", causes=["name: An object with this field already exists"]
            )
        group = self.group(name, now)
        group.description = description
        return group

    # -- group membership (Okta's Groups API: OKTA_GROUP memberships only) ----------------------

    def group_by_id(self, group_id: str) -> Group:
        group = self.groups_by_id.get(group_id)
        if group is None:
            raise OktaError("E0000007", f"Not found: Resource not found: {group_id} (UserGroup)")
        return group

    def members(self, group: Group) -> list[UserRecord]:
        return [self.users[uid] for uid in group.members]

    def add_member(self, group: Group, user: UserRecord, now: float) -> bool:
        """Assign the user; True when it was not a member yet (Okta answers 204 either way)."""
        self._modifiable(group)
        if group.id in user.group_ids:
            return False
        self._join(group, user)
        group.membership_updated = now
        return True

    def remove_member(self, group: Group, user: UserRecord, now: float) -> bool:
        """Unassign the user; True when it was a member (Okta answers 204 either way)."""
        self._modifiable(group)
        if group.id not in user.group_ids:
            return False
        user.group_ids.remove(group.id)
        group.members.discard(user.id)
        group.membership_updated = now
        return True

    @staticmethod
    def _modifiable(group: Group) -> None:
        if group.type != "OKTA_GROUP":
            raise OktaError(
                "E0000001",
                "Api validation failed: group membership",
                causes=[f"Memberships can only be changed for OKTA_GROUP groups, not {group.type}"],
            )

    # -- lookup --------------------------------------------------------------------------------

    def find(self, id_or_login: str) -> UserRecord | None:
        """By id, then login (case-insensitive), then an unambiguous login shortname, as Okta does."""
        if id_or_login in self.users:
            return self.users[id_or_login]
        low = id_or_login.lower()
        if low in self._by_login:
            return self.users[self._by_login[low]]
        uid = self._by_short.get(low)
        return None if uid is None else self.users[uid]

    def get(self, id_or_login: str) -> UserRecord:
        user = self.find(id_or_login)
        if user is None:
            raise OktaError("E0000007", f"Not found: Resource not found: {id_or_login} (User)")
        return user

    # -- lifecycle (Okta's UserLifecycle API) ---------------------------------------------------

    def lifecycle(self, user: UserRecord, action: str, now: float) -> LifecycleOutcome:
        """Apply one lifecycle operation or raise the OktaError Okta returns for the user's status."""
        status = user.status
        not_allowed = OktaError("E0000038", causes=[f"{action}: user status is {status}"])
        match action:
            case "suspend":
                if status != "ACTIVE":
                    raise OktaError(
                        "E0000001",
                        "Api validation failed: Cannot suspend a user that is not active",
                        causes=[f"status: {status}"],
                    )
                user.set_status("SUSPENDED", now)
                return LifecycleOutcome("user.lifecycle.suspend")
            case "unsuspend":
                if status != "SUSPENDED":
                    raise OktaError(
                        "E0000001",
                        "Api validation failed: Cannot unsuspend a user that is not suspended",
                        causes=[f"status: {status}"],
                    )
                user.set_status("ACTIVE", now)
                return LifecycleOutcome("user.lifecycle.unsuspend")
            case "activate":
                if status not in {"STAGED", "PROVISIONED", "DEPROVISIONED"}:
                    raise OktaError("E0000016")
                user.set_status("ACTIVE", now)
                user.activated = now
                return LifecycleOutcome("user.lifecycle.activate")
            case "deactivate":
                if status == "DEPROVISIONED":
                    raise OktaError(
                        "E0000001", "Api validation failed: User is already deactivated", causes=[f"status: {status}"]
                    )
                user.set_status("DEPROVISIONED", now)
                user.sessions.clear()
                return LifecycleOutcome("user.lifecycle.deactivate")
            case "unlock":
                if status not in {"LOCKED_OUT", "ACTIVE"}:
                    raise not_allowed
                user.set_status("ACTIVE", now)
                return LifecycleOutcome("user.account.unlock_by_admin")
            case "expire_password":
                if status not in {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"}:
                    raise not_allowed
                user.set_status("PASSWORD_EXPIRED", now)
                return LifecycleOutcome("user.account.expire_password")
            case "reset_factors":
                if status == "DEPROVISIONED":
                    raise not_allowed
                user.factors.clear()
                user.last_updated = now
                return LifecycleOutcome("user.mfa.factor.reset_all")
            case _:
                raise OktaError("E0000007", f"Not found: Resource not found: lifecycle/{action}")

    def clear_sessions(self, user: UserRecord) -> tuple[str, ...]:
        ended = tuple(user.sessions)
        user.sessions.clear()
        return ended

    # -- rendering -----------------------------------------------------------------------------

    def user_json(self, user: UserRecord, base_url: str) -> dict[str, Any]:
        """The Okta User object (management.yaml `User`)."""
        href = f"{base_url}/api/v1/users/{user.id}"
        links: dict[str, Any] = {"self": {"href": href}}
        ops = {
            "ACTIVE": ("suspend", "deactivate", "expire_password", "reset_factors"),
            "SUSPENDED": ("unsuspend", "deactivate"),
            "LOCKED_OUT": ("unlock", "deactivate", "expire_password", "reset_factors"),
            "PASSWORD_EXPIRED": ("suspend", "deactivate", "expire_password", "reset_factors"),
            "RECOVERY": ("deactivate", "expire_password"),
            "STAGED": ("activate", "deactivate"),
            "PROVISIONED": ("activate", "deactivate"),
            "DEPROVISIONED": ("activate",),
        }[user.status]
        for op in ops:
            name = {"expire_password": "expirePassword", "reset_factors": "resetFactors"}.get(op, op)
            links[name] = {"href": f"{href}/lifecycle/{op}", "method": "POST"}
        links["type"] = {"href": f"{base_url}/api/v1/meta/types/user/oty1defaultusertype"}
        links["schema"] = {"href": f"{base_url}/api/v1/meta/schemas/user/osc1defaultuserschema"}
        return {
            "id": user.id,
            "status": user.status,
            "created": iso_ms(user.created),
            "activated": _opt(user.activated),
            "statusChanged": _opt(user.status_changed),
            "lastLogin": _opt(user.last_login),
            "lastUpdated": iso_ms(user.last_updated),
            "passwordChanged": _opt(user.password_changed),
            "type": {"id": "oty1defaultusertype"},
            "profile": {
                "firstName": user.first_name,
                "lastName": user.last_name,
                "mobilePhone": None,
                "secondEmail": None,
                "login": user.login,
                "email": user.email,
            },
            "credentials": {
                "password": {},
                "provider": {"type": "OKTA", "name": "OKTA"},
            },
            "_links": links,
        }

    def group_json(self, group: Group, base_url: str) -> dict[str, Any]:
        """The Okta Group object (management.yaml `Group`)."""
        href = f"{base_url}/api/v1/groups/{group.id}"
        return {
            "id": group.id,
            "created": iso_ms(group.created),
            "lastUpdated": iso_ms(group.created),
            "lastMembershipUpdated": iso_ms(group.membership_updated or group.created),
            "objectClass": ["okta:user_group"],
            "type": group.type,
            "profile": {
                "name": group.name,
                "description": "All users in your organization" if group.type == "BUILT_IN" else group.description,
            },
            "_links": {"users": {"href": f"{href}/users"}, "apps": {"href": f"{href}/apps"}},
        }

    def factor_json(self, user: UserRecord, factor: Factor, base_url: str) -> dict[str, Any]:
        """An Okta UserFactor object (management.yaml `UserFactor*`)."""
        href = f"{base_url}/api/v1/users/{user.id}/factors/{factor.id}"
        profiles: dict[str, dict[str, Any]] = {
            "push": {
                "credentialId": user.login,
                "deviceType": "SmartPhone_IPhone",
                "name": "iPhone",
                "platform": "IOS",
                "version": "9.0",
            },
            "sms": {"phoneNumber": "+15554151337"},
            "email": {"email": user.email},
            "webauthn": {"credentialId": factor.id.lower() + "Zm9vYmFy", "authenticatorName": "YubiKey 5 NFC"},
            "token:software:totp": {"credentialId": user.login},
        }
        return {
            "id": factor.id,
            "factorType": factor.factor_type,
            "provider": factor.provider,
            "vendorName": factor.provider,
            "status": factor.status,
            "created": iso_ms(factor.created),
            "lastUpdated": iso_ms(factor.created),
            "profile": profiles.get(factor.factor_type, {}),
            "_links": {
                "self": {"href": href, "hints": {"allow": ["GET", "DELETE"]}},
                "user": {"href": f"{base_url}/api/v1/users/{user.id}"},
            },
        }


def _opt(ts: float | None) -> str | None:
    return None if ts is None else iso_ms(ts)
