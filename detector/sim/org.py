"""SimOrg: the whole state of one simulated Okta org, in plain Python with no I/O.

The HTTP layer (server.py, routes_*.py) reads and changes it; tests and traffic generators use
it directly to add users and credentials, append System Log events and inspect what was called.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from detector.sim.apps import OIDC_CLIENT
from detector.sim.credentials import AccessToken, ApiToken, Principal, ReplayCache, ServiceApp
from detector.sim.directory import Directory, UserRecord
from detector.sim.faults import FaultPlan
from detector.sim.ids import IdFactory
from detector.sim.inventory import SimInventory
from detector.sim.logstore import LogStore
from detector.sim.ratelimit import RateLimiter, RateLimits
from detector.sim.roles import STANDARD_ROLES, RoleAssignment, permissions_of
from detector.sim.timefmt import iso_ms, parse_iso

RETENTION_DAYS = 90
MAX_SINCE_DAYS = 180


@dataclass(frozen=True)
class EnforcementCall:
    """One enforcement request that passed authentication (recorded whatever its outcome)."""

    method: str
    path: str
    user_id: str | None
    action: str  # suspend, unsuspend, ..., clear_sessions, add_to_group, remove_from_group
    credential_id: str
    at: float
    status: int = 0  # the HTTP status the simulator answered


class SimOrg:
    """One Okta org. `clock` (epoch seconds) drives timestamps, rate-limit windows and token expiry."""

    def __init__(
        self,
        name: str = "acme",
        seed: int | None = 0,
        rate_limits: RateLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.clock = clock
        self.ids = IdFactory(seed)
        self.rate_limits = rate_limits or RateLimits()
        self.limiter = RateLimiter(self.rate_limits, clock)
        self.log = LogStore(clock)
        self.directory = Directory(self.ids)
        self.faults = FaultPlan()
        self.calls: list[EnforcementCall] = []
        self.api_tokens: dict[str, ApiToken] = {}  # by secret value
        self.apps: dict[str, ServiceApp] = {}  # by client_id
        self.access_tokens: dict[str, AccessToken] = {}  # by token value
        self.admins: dict[str, UserRecord] = {}  # token owners who are not directory users, by id
        self.roles: dict[str, list[RoleAssignment]] = {}  # admin role assignments, by user id
        self.replay = ReplayCache()
        self.dpop_nonce = self.ids.secret(32)
        # Set by SimServer.start(); used for absolute hrefs in objects built outside a request.
        self.base_url = f"https://{name}.okta.com"
        self.inventory = SimInventory(self, seed)  # apps, grants, group roles, policies, IdPs, ThreatInsight

    # -- credentials ---------------------------------------------------------------------------

    def add_api_token(
        self,
        value: str,
        name: str = "itdr-reader",
        admin_login: str | None = None,
        roles: Iterable[str] = ("SUPER_ADMIN",),
    ) -> str:
        """Register an SSWS token; returns its `00T...` id. It acts as an admin user holding `roles`.

        The admin is the directory user with `admin_login`, else a new user outside the directory
        (`GET /api/v1/users/me` still shows it). Its roles decide what the token may do: a super
        admin (the default) may do everything, a read-only admin nothing that changes the org."""
        unknown = sorted(set(roles) - set(STANDARD_ROLES))
        if unknown:
            raise ValueError(f"unknown admin role(s) {unknown}; known: {sorted(STANDARD_ROLES)}")
        token_id = self.ids.okta_id("00T")
        login = admin_login or f"admin@{self.name}.example.com"
        owner = self.directory.find(login)
        if owner is None:
            now = self.clock()
            owner = UserRecord(
                id=self.ids.okta_id("00u"),
                login=login,
                email=login,
                first_name="Okta",
                last_name="Admin",
                status="ACTIVE",
                created=now,
                status_changed=now,
                activated=now,
                password_changed=now,
                last_updated=now,
            )
            self.admins[owner.id] = owner
        now = self.clock()
        self.roles[owner.id] = [RoleAssignment(owner.id, role, now) for role in dict.fromkeys(roles)]
        self.api_tokens[value] = ApiToken(token_id, name, value, owner.target(), created=now, last_used=now)
        return token_id

    def add_service_app(
        self,
        client_id: str,
        jwks: dict[str, Any],
        scopes: Iterable[str],
        require_dpop: bool = False,
        name: str | None = None,
    ) -> ServiceApp:
        """Register an API Services app using private_key_jwt with the given granted scopes (it is listed
        by the Apps API too, its scopes as grants)."""
        app = ServiceApp(client_id, copy.deepcopy(jwks), frozenset(scopes), require_dpop, name or client_id)
        self.apps[client_id] = app
        record = self.inventory.apps.by_client_id(client_id)
        if record is None:
            record = self.inventory.add_app(OIDC_CLIENT, app.name, "service", client_id=client_id)
        for scope in sorted(app.scopes):
            self.inventory.grant_scope(record, scope)
        return app

    def issue_access_token(self, app: ServiceApp, scopes: frozenset[str], jkt: str | None) -> AccessToken:
        token = AccessToken(self.ids.secret(48), app.client_id, scopes, self.clock() + 3600, jkt)
        self.access_tokens[token.value] = token
        return token

    def principal_for_ssws(self, value: str) -> Principal | None:
        token = self.api_tokens.get(value)
        if token is None:
            return None
        token.last_used = self.clock()
        owner = token.admin["id"]
        held = permissions_of(tuple(r.type for r in self.roles.get(owner, [])))
        return Principal(token.id, token.admin, None, token_id=token.id, permissions=held, user_id=owner)

    def revoke_api_token(self, value: str) -> None:
        """Revoke an SSWS token, as an admin does in Security > API: its next call gets 401 E0000011."""
        del self.api_tokens[value]

    def user_or_admin(self, user_id: str) -> UserRecord | None:
        """A directory user, or a token owner kept outside the directory."""
        return self.directory.find(user_id) or self.admins.get(user_id)

    def principal_for_access_token(self, token: AccessToken) -> Principal:
        app = self.apps[token.client_id]
        return Principal(app.client_id, app.actor(), token.scopes, client_id=app.client_id)

    def live_access_token(self, value: str) -> AccessToken | None:
        token = self.access_tokens.get(value)
        if token is None or token.expires_at <= self.clock():
            return None
        return token

    # -- users ---------------------------------------------------------------------------------

    @property
    def users(self) -> dict[str, UserRecord]:
        return self.directory.users

    def add_user(
        self,
        login: str,
        first_name: str = "",
        last_name: str = "",
        status: str = "ACTIVE",
        groups: Iterable[str] = ("Everyone",),
        user_id: str | None = None,
        factors: Iterable[str] = ("push",),
    ) -> dict[str, Any]:
        """Add a user (in every listed group, and Everyone); returns the Okta User object."""
        user = self.directory.add_user(
            login, first_name, last_name, status, list(groups), user_id, tuple(factors), self.clock()
        )
        return self.directory.user_json(user, self.base_url)

    def user_by_login(self, login: str) -> UserRecord | None:
        return self.directory.find(login)

    def set_roles(self, user_id: str, roles: Iterable[str]) -> None:
        """Assign standard admin roles (``SUPER_ADMIN``, ``ORG_ADMIN``, ...) to a user; () takes them away."""
        unknown = sorted(set(roles) - STANDARD_ROLES.keys())
        if unknown:
            raise ValueError(f"unknown admin role(s) {unknown}; known: {sorted(STANDARD_ROLES)}")
        user = self.directory.get(user_id).id
        self.roles[user] = [RoleAssignment(user, role, self.clock()) for role in dict.fromkeys(roles)]

    def add_group(self, name: str, description: str = "") -> dict[str, Any]:
        """Create an OKTA_GROUP (as `POST /api/v1/groups` does); returns the Okta Group object."""
        group = self.directory.create_group(name, description, self.clock())
        return self.directory.group_json(group, self.base_url)

    def open_session(self, user_id: str, session_id: str | None = None) -> str:
        """Record a sign-in session for the user (so clearing sessions can end it); returns its id.

        ``session_id`` lets traffic register the ``externalSessionId`` its events already carry."""
        user = self.directory.get(user_id)
        sid = session_id or self.ids.session_id()
        now = self.clock()
        user.sessions[sid] = now
        user.last_login = now
        return sid

    # -- System Log ----------------------------------------------------------------------------

    def append(self, event: dict[str, Any], persist_delay: float = 0.0) -> None:
        """Store a raw LogEvent (a copy). Fills `uuid`, `published`, `version` when missing.

        With `persist_delay` > 0 the event is invisible to queries until the org clock has moved
        that far: a late event whose `published` stays as given.
        """
        stored = copy.deepcopy(event)
        stored.setdefault("uuid", self.ids.uuid4())
        if not stored.get("published"):
            stored["published"] = iso_ms(self.clock())
        stored.setdefault("version", "0")
        self.log.add(stored, parse_iso(str(stored["published"])), persist_delay)

    def events_visible(self) -> list[dict[str, Any]]:
        """Committed events in persistence order."""
        return [s.event for s in self.log.committed()]

    # -- faults --------------------------------------------------------------------------------

    def inject_fault(
        self, method: str, path_prefix: str, kind: str, times: int = 1, status: int = 500, delay: float = 0
    ) -> None:
        """Make the next `times` requests matching method (or "*") and path prefix fail as `kind`."""
        self.faults.arm(method, path_prefix, kind, times, status, delay)
