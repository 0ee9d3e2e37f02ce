"""Applications of the simulated org: app instances, their user and group assignments and OAuth scope grants.

Plain state and its Okta JSON (management.yaml `OpenIdConnectApplication`, `SamlApplication`, `AppUser`,
`ApplicationGroupAssignment`, `OAuth2ScopeConsentGrant`). Every collection is an `OrderedIds` so the
Apps API pages in O(page). An app's user list holds its direct assignments (scope USER); a group assigned
to the app is served by `/apps/{id}/groups`, not expanded into app users (which would be O(members)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detector.sim.errors import OktaError
from detector.sim.pagination import OrderedIds
from detector.sim.timefmt import iso_ms

ADMIN_CONSOLE = "saasure"  # Okta's name of the Okta Admin Console app
DASHBOARD = "okta_enduser"
OIDC_CLIENT = "oidc_client"  # the name Okta gives every custom OIDC app integration


@dataclass
class Grant:
    """An Okta API scope granted to an app by an admin (`source` ADMIN), as consented in Okta API Scopes."""

    id: str
    scope: str
    created: float
    created_by: str  # the granting admin's user id
    status: str = "ACTIVE"


@dataclass
class AppUserRecord:
    user_id: str
    user_name: str
    created: float


@dataclass
class AppGroupRecord:
    group_id: str
    priority: int
    created: float


@dataclass
class AppRecord:
    """One app instance. `kind`: web | spa | service (OIDC), saml, or first_party (Okta's own apps)."""

    id: str
    name: str
    label: str
    kind: str
    created: float
    status: str = "ACTIVE"
    client_id: str | None = None  # OIDC apps
    access_policy_id: str | None = None  # the authentication policy the app's sign-ins are evaluated by
    users: OrderedIds = field(default_factory=OrderedIds, repr=False)
    user_records: dict[str, AppUserRecord] = field(default_factory=dict, repr=False)
    groups: OrderedIds = field(default_factory=OrderedIds, repr=False)
    group_records: dict[str, AppGroupRecord] = field(default_factory=dict, repr=False)
    grants: dict[str, Grant] = field(default_factory=dict, repr=False)  # by scope

    @property
    def sign_on_mode(self) -> str:
        return "SAML_2_0" if self.kind == "saml" else "OPENID_CONNECT"

    def target(self) -> dict[str, Any]:
        """The app as a System Log `target` entry (`AppInstance`)."""
        return {
            "id": self.id,
            "type": "AppInstance",
            "alternateId": self.label,
            "displayName": self.label,
            "detailEntry": {"signOnModeType": self.sign_on_mode},
        }


class Apps:
    """The org's app instances in creation order."""

    def __init__(self) -> None:
        self.by_id: dict[str, AppRecord] = {}
        self.order = OrderedIds()

    def add(self, app: AppRecord) -> AppRecord:
        if app.id in self.by_id:
            raise ValueError(f"app {app.id} already exists")
        self.by_id[app.id] = app
        self.order.add(app.id)
        return app

    def get(self, app_id: str) -> AppRecord:
        app = self.by_id.get(app_id)
        if app is None:
            raise OktaError("E0000007", f"Not found: Resource not found: {app_id} (AppInstance)")
        return app

    def by_name(self, name: str) -> AppRecord | None:
        return next((a for a in self.by_id.values() if a.name == name), None)

    def named(self, name: str) -> AppRecord:
        """An app every org has (`saasure`, `okta_enduser`)."""
        app = self.by_name(name)
        if app is None:
            raise KeyError(f"no app named {name!r}")
        return app

    def by_client_id(self, client_id: str) -> AppRecord | None:
        return next((a for a in self.by_id.values() if a.client_id == client_id), None)

    # -- assignments ---------------------------------------------------------------------------

    @staticmethod
    def assign_user(app: AppRecord, user_id: str, user_name: str, now: float) -> bool:
        if not app.users.add(user_id):
            return False
        app.user_records[user_id] = AppUserRecord(user_id, user_name, now)
        return True

    @staticmethod
    def assign_group(app: AppRecord, group_id: str, now: float) -> bool:
        if not app.groups.add(group_id):
            return False
        app.group_records[group_id] = AppGroupRecord(group_id, len(app.group_records), now)
        return True


# -- rendering ---------------------------------------------------------------------------------


def app_json(app: AppRecord, base: str) -> dict[str, Any]:
    """The app instance as `GET /api/v1/apps` lists it."""
    href = f"{base}/api/v1/apps/{app.id}"
    links: dict[str, Any] = {
        "self": {"href": href},
        "users": {"href": f"{href}/users"},
        "groups": {"href": f"{href}/groups"},
        "appLinks": [],
    }
    if app.kind == "saml":
        links["metadata"] = {"href": f"{href}/sso/saml/metadata", "type": "application/xml"}
    if app.access_policy_id:
        links["accessPolicy"] = {"href": f"{base}/api/v1/policies/{app.access_policy_id}"}
    hidden = app.kind == "service"
    body: dict[str, Any] = {
        "id": app.id,
        "name": app.name,
        "label": app.label,
        "status": app.status,
        "created": iso_ms(app.created),
        "lastUpdated": iso_ms(app.created),
        "signOnMode": app.sign_on_mode,
        "features": [],
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {"autoSubmitToolbar": False, "hide": {"iOS": hidden, "web": hidden}},
        "_links": links,
    }
    if app.kind == "saml":
        body["settings"] = {"app": {}, "notifications": {"vpn": {"network": {"connection": "DISABLED"}}}}
        body["credentials"] = {"userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}}
        return body
    service = app.kind == "service"
    body["credentials"] = {
        "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
        "oauthClient": {
            "autoKeyRotation": True,
            "client_id": app.client_id or app.id,
            "token_endpoint_auth_method": "private_key_jwt" if service else "client_secret_basic",
        },
    }
    grant_types = ["client_credentials"] if service else ["authorization_code", "refresh_token"]
    oauth: dict[str, Any] = {
        "application_type": {"service": "service", "spa": "browser"}.get(app.kind, "web"),
        "grant_types": grant_types,
        "response_types": ["token"] if service else ["code"],
        "consent_method": "TRUSTED",
        "issuer_mode": "DYNAMIC",
    }
    if not service:
        oauth["redirect_uris"] = [f"https://{app.name}.example.com/callback"]
    body["settings"] = {"app": {}, "oauthClient": oauth}
    return body


def app_user_json(app: AppRecord, record: AppUserRecord, status: str, base: str) -> dict[str, Any]:
    """An `AppUser` (a direct assignment, scope USER)."""
    return {
        "id": record.user_id,
        "externalId": None,
        "created": iso_ms(record.created),
        "lastUpdated": iso_ms(record.created),
        "scope": "USER",
        "status": "ACTIVE" if status == "ACTIVE" else "INACTIVE",
        "statusChanged": iso_ms(record.created),
        "passwordChanged": None,
        "syncState": "DISABLED",
        "credentials": {"userName": record.user_name},
        "profile": {},
        "_links": {
            "app": {"href": f"{base}/api/v1/apps/{app.id}"},
            "user": {"href": f"{base}/api/v1/users/{record.user_id}"},
        },
    }


def app_group_json(app: AppRecord, record: AppGroupRecord, base: str) -> dict[str, Any]:
    """An `ApplicationGroupAssignment`."""
    return {
        "id": record.group_id,
        "lastUpdated": iso_ms(record.created),
        "priority": record.priority,
        "profile": {},
        "_links": {
            "app": {"href": f"{base}/api/v1/apps/{app.id}"},
            "group": {"href": f"{base}/api/v1/groups/{record.group_id}"},
        },
    }


def grant_json(app: AppRecord, grant: Grant, base: str) -> dict[str, Any]:
    """An `OAuth2ScopeConsentGrant` of an Okta API scope to the app (issuer: the org authorization server)."""
    href = f"{base}/api/v1/apps/{app.id}"
    return {
        "id": grant.id,
        "clientId": app.client_id or app.id,
        "issuer": base,
        "scopeId": grant.scope,
        "source": "ADMIN",
        "status": grant.status,
        "created": iso_ms(grant.created),
        "lastUpdated": iso_ms(grant.created),
        "createdBy": {"id": grant.created_by, "type": "User"},
        "_embedded": {"scope": {"id": grant.scope}},
        "_links": {
            "self": {"href": f"{href}/grants/{grant.id}"},
            "app": {"href": href},
            "client": {"href": f"{base}/oauth2/v1/clients/{app.client_id or app.id}"},
        },
    }
