"""SimOrg: the whole state of one simulated Okta org, in plain Python with no I/O.

The HTTP layer (server.py, routes_*.py) reads and changes it; tests and traffic generators use
it directly to add users and credentials, append System Log events and inspect what was called.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from detector.sim.credentials import AccessToken, ApiToken, Principal, ReplayCache, ServiceApp
from detector.sim.directory import Directory, UserRecord
from detector.sim.faults import FaultPlan
from detector.sim.ids import IdFactory
from detector.sim.logstore import LogStore
from detector.sim.ratelimit import RateLimiter, RateLimits
from detector.sim.timefmt import iso_ms, parse_iso

RETENTION_DAYS = 90
STANDARD_ROLES = {  # Okta's standard admin role types and their labels
    "SUPER_ADMIN": "Super Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "APP_ADMIN": "Application Administrator",
    "USER_ADMIN": "Group Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "READ_ONLY_ADMIN": "Read Only Administrator",
    "MOBILE_ADMIN": "Mobile Administrator",
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
    "REPORT_ADMIN": "Report Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
}
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
        self.roles: dict[str, tuple[str, ...]] = {}  # standard admin role types held, by user id
        self.replay = ReplayCache()
        self.dpop_nonce = self.ids.secret(32)
        # Set by SimServer.start(); used for absolute hrefs in objects built outside a request.
        self.base_url = f"https://{name}.okta.com"

    # -- credentials ---------------------------------------------------------------------------

    def add_api_token(self, value: str, name: str = "itdr-reader", admin_login: str | None = None) -> str:
        """Register an SSWS token (all scopes); returns its `00T...` id. It acts as an admin user."""
        token_id = self.ids.okta_id("00T")
        login = admin_login or f"admin@{self.name}.example.com"
        known = self.directory.find(login)
        admin = (
            known.target()
            if known
            else {
                "id": self.ids.okta_id("00u"),
                "type": "User",
                "alternateId": login,
                "displayName": "Okta Admin",
                "detailEntry": None,
            }
        )
        self.api_tokens[value] = ApiToken(token_id, name, value, admin)
        return token_id

    def add_service_app(
        self,
        client_id: str,
        jwks: dict[str, Any],
        scopes: Iterable[str],
        require_dpop: bool = False,
        name: str | None = None,
    ) -> ServiceApp:
        """Register an API Services app using private_key_jwt with the given granted scopes."""
        app = ServiceApp(client_id, copy.deepcopy(jwks), frozenset(scopes), require_dpop, name or client_id)
        self.apps[client_id] = app
        return app

    def issue_access_token(self, app: ServiceApp, scopes: frozenset[str], jkt: str | None) -> AccessToken:
        token = AccessToken(self.ids.secret(48), app.client_id, scopes, self.clock() + 3600, jkt)
        self.access_tokens[token.value] = token
        return token

    def principal_for_ssws(self, value: str) -> Principal | None:
        token = self.api_tokens.get(value)
        if token is None:
            return None
        return Principal(token.id, token.admin, None, client_id=None, token_id=token.id)

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
        self.roles[self.directory.get(user_id).id] = tuple(dict.fromkeys(roles))

    def roles_json(self, user_id: str, base_url: str) -> list[dict[str, Any]]:
        """`GET /api/v1/users/{id}/roles`: the user's assignments as `StandardRole` objects."""
        created = iso_ms(self.directory.get(user_id).created)
        return [
            {
                "id": "ra1" + hashlib.sha256(f"{user_id}:{role}".encode()).hexdigest()[:17],
                "label": STANDARD_ROLES[role],
                "type": role,
                "status": "ACTIVE",
                "created": created,
                "lastUpdated": created,
                "assignmentType": "USER",
                "_links": {"assignee": {"href": f"{base_url}/api/v1/users/{user_id}"}},
            }
            for role in self.roles.get(user_id, ())
        ]

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
