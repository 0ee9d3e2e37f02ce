"""What an Okta credential may do, found out without changing anything in the org.

Okta authorises a management call twice: an OAuth access token must carry one of the endpoint's
scopes, and the admin behind the call (an API token's owner) must hold a role that permits it.
A read is simply tried, with ``limit=1``. A call that acts (clearing sessions, suspending) cannot be
tried without acting, so it is judged instead: an API token by its owner's admin roles
(``GET /api/v1/users/me``, then ``GET /api/v1/users/{id}/roles``), a service app by asking the token
endpoint for each scope in turn. Nothing here calls an endpoint that acts.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from detector.okta.auth import PrivateKeyJwtAuth
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError, OktaAuthError, OktaBadResponse, OktaTokenError, OktaTransportError


class Operation(enum.StrEnum):
    """An Okta call the daemon makes, named by what it does."""

    READ_LOGS = "read_logs"  # GET /api/v1/logs
    READ_USERS = "read_users"  # GET /api/v1/users, /users/{id}, /users/{id}/groups
    CLEAR_SESSIONS = "clear_sessions"  # DELETE /api/v1/users/{id}/sessions
    EXPIRE_PASSWORD = "expire_password"  # POST /api/v1/users/{id}/lifecycle/expire_password
    RESET_FACTORS = "reset_factors"  # POST /api/v1/users/{id}/lifecycle/reset_factors
    SUSPEND = "suspend"  # POST /api/v1/users/{id}/lifecycle/suspend
    MANAGE_GROUP_MEMBERSHIP = "manage_group_membership"  # PUT /api/v1/groups/{groupId}/users/{userId}


READS = frozenset({Operation.READ_LOGS, Operation.READ_USERS})

# The OAuth scopes Okta accepts for each call, any one of them (a *.manage scope includes *.read): the
# `security` of each operation in Okta's Management API description.
SCOPES: dict[Operation, tuple[str, ...]] = {
    Operation.READ_LOGS: ("okta.logs.read",),
    Operation.READ_USERS: ("okta.users.read", "okta.users.manage"),
    Operation.CLEAR_SESSIONS: ("okta.users.manage",),
    Operation.EXPIRE_PASSWORD: ("okta.users.manage",),
    Operation.RESET_FACTORS: ("okta.users.manage",),
    Operation.SUSPEND: ("okta.users.manage",),
    Operation.MANAGE_GROUP_MEMBERSHIP: ("okta.groups.manage",),
}

_USER_MANAGEMENT = frozenset(SCOPES) - READS
# The calls that act which each standard admin role permits, from Okta's help pages (help.okta.com):
# "Standard administrator roles and permissions" (administrators-admin-comparison.htm), its User management
# rows "Clear user sessions", "Suspend users", "Password resets, MFA resets"; and each role's page:
# - Group administrators (administrators-group-admin.htm), type USER_ADMIN: for the groups it manages, suspend,
#   reset passwords and MFA, add users of its groups to other groups it manages; clears sessions per the table.
# - Help desk administrators (administrators-help-desk-admin.htm): reset password, reset MFA, unlock, clear user
#   session; "does not have": suspend and delete users, assign users to apps or groups. Expiring a password is
#   taken as a password reset (the table's "Password resets" row).
# - Group membership administrators (administrators-group-membership-admin.htm): add and remove users of the
#   groups it manages; "can't": manage users.
# - Read-only administrators (administrators-read-only-admin.htm): view only. Report, app, mobile and API access
#   management admins have no user management row at all.
# A role not listed (CUSTOM, and newer IAM-based roles) holds permissions that are not read here.
ROLE_PERMITS: dict[str, frozenset[Operation]] = {
    "SUPER_ADMIN": _USER_MANAGEMENT,
    "ORG_ADMIN": _USER_MANAGEMENT,
    "USER_ADMIN": _USER_MANAGEMENT,
    "HELP_DESK_ADMIN": frozenset({Operation.CLEAR_SESSIONS, Operation.EXPIRE_PASSWORD, Operation.RESET_FACTORS}),
    "GROUP_MEMBERSHIP_ADMIN": frozenset({Operation.MANAGE_GROUP_MEMBERSHIP}),
    "READ_ONLY_ADMIN": frozenset(),
    "REPORT_ADMIN": frozenset(),
    "APP_ADMIN": frozenset(),
    "MOBILE_ADMIN": frozenset(),
    "API_ACCESS_MANAGEMENT_ADMIN": frozenset(),
}
GROUP_SCOPED_ROLES = frozenset({"USER_ADMIN", "HELP_DESK_ADMIN", "GROUP_MEMBERSHIP_ADMIN"})


class Outcome(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"  # Okta said no, or would: the credential lacks a scope or an admin role
    ERROR = "error"  # could not be told: the credential is refused, Okta did not answer, ...


@dataclass(frozen=True)
class Check:
    """One permission's outcome, with Okta's errorCode and summary when Okta refused (never a secret)."""

    outcome: Outcome
    detail: str
    error_code: str | None = None
    error_summary: str | None = None

    @classmethod
    def failed(cls, exc: OktaApiError) -> Check:
        """A refused call: missing when Okta denied the permission (403, or a scope the app is not granted)."""
        if isinstance(exc, OktaTokenError) and exc.error == "invalid_scope":
            why = "Okta refuses the token request: it asks for a scope the app is not granted"
            return cls(Outcome.MISSING, why, exc.error_code, exc.error_summary)
        if isinstance(exc, OktaAuthError) and exc.status == 403:
            why = f"the access token lacks {exc.required_scope}" if exc.required_scope else "no admin role permits it"
            return cls(Outcome.MISSING, f"Okta refused it (403): {why}", exc.error_code, exc.error_summary)
        if isinstance(exc, OktaTokenError | OktaAuthError):
            why = "Okta does not accept the credential (revoked, expired, or not this org's)"
        elif isinstance(exc, OktaTransportError):
            why = "no answer from Okta"
        elif isinstance(exc, OktaBadResponse):
            why = "Okta's answer could not be read"
        else:
            why = f"Okta answered {exc.status}"
        return cls(Outcome.ERROR, why, exc.error_code, exc.error_summary)


async def probe_read(client: OktaClient, operation: Operation) -> Check:
    """Try a read, one record: the System Log from five minutes ago, or the first user."""
    try:
        if operation is Operation.READ_LOGS:
            await client.fetch_log_page(since=datetime.now(UTC) - timedelta(minutes=5), limit=1)
        elif operation is Operation.READ_USERS:
            await client.request_json("GET", "/api/v1/users", params={"limit": "1"})
        else:
            raise ValueError(f"{operation} is not a read")
    except OktaApiError as exc:
        return Check.failed(exc)
    return Check(Outcome.OK, "read one record")


@dataclass(frozen=True)
class AdminRoles:
    """The admin an API token acts as, and the types of its active role assignments."""

    login: str
    roles: tuple[str, ...]


async def admin_roles(client: OktaClient) -> AdminRoles:
    """The API token's owner and its admin roles (direct and through groups); raises OktaApiError."""
    me = await client.request_json("GET", "/api/v1/users/me")
    user_id = me.get("id") if isinstance(me, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise OktaBadResponse(200, None, "the token's owner has no id", method="GET", path="/api/v1/users/me")
    path = f"/api/v1/users/{quote(user_id, safe='')}/roles"
    assigned = await client.request_json("GET", path)
    if not isinstance(assigned, list):
        raise OktaBadResponse(200, None, "expected a JSON array of role assignments", method="GET", path=path)
    types = [
        a["type"]
        for a in assigned
        if isinstance(a, dict) and isinstance(a.get("type"), str) and a.get("status", "ACTIVE") == "ACTIVE"
    ]
    login = (me.get("profile") or {}).get("login")
    return AdminRoles(login if isinstance(login, str) else user_id, tuple(dict.fromkeys(types)))


def role_check(held: AdminRoles, operation: Operation) -> Check:
    """Whether the owner's roles permit a call that acts, by ROLE_PERMITS."""
    granting = [r for r in held.roles if operation in ROLE_PERMITS.get(r, frozenset())]
    if granting:
        scoped = " (perhaps for some groups only)" if all(r in GROUP_SCOPED_ROLES for r in granting) else ""
        return Check(Outcome.OK, f"granted by {', '.join(granting)}{scoped}")
    unread = [r for r in held.roles if r not in ROLE_PERMITS]
    if unread:
        why = f"no standard role of {held.login} permits it, and what {', '.join(unread)} permits is not read"
        return Check(Outcome.ERROR, why)
    if not held.roles:
        return Check(Outcome.MISSING, f"{held.login}, the token's owner, holds no admin role")
    return Check(Outcome.MISSING, f"none of {held.login}'s admin roles permits it ({', '.join(held.roles)})")


@dataclass(frozen=True)
class ScopeCheck:
    """Whether a service app gets an OAuth scope, and the calls that depend on it."""

    scope: str
    check: Check
    operations: frozenset[Operation]


async def check_scopes(client: OktaClient, operations: Collection[Operation]) -> list[ScopeCheck]:
    """Each configured scope and each scope the ``operations`` need, asked of the token endpoint one by one.

    A needed scope is missing when the app is not granted it, or the credential does not ask for it; a
    configured scope the app is not granted breaks every call, since Okta then refuses the token request."""
    if not isinstance(client.auth, PrivateKeyJwtAuth):
        raise ValueError("only an OAuth credential has scopes")
    configured = client.auth.scopes
    wanted = {op: next((s for s in SCOPES[op] if s in configured), SCOPES[op][0]) for op in operations}
    out = []
    for scope in dict.fromkeys([*configured, *wanted.values()]):
        check = await _granted(client, scope)
        needing = frozenset(op for op, s in wanted.items() if s == scope)
        if scope in configured and check.outcome is not Outcome.OK:
            needing = frozenset(operations)
            check = replace(check, detail=check.detail + "; it is in `scopes`, so no token is issued at all")
        elif scope not in configured and check.outcome is Outcome.OK:
            check = Check(Outcome.MISSING, "granted to the app, but not asked for: add it to `scopes`")
        elif not needing:
            continue  # asked for, granted, and no call of these needs it
        out.append(ScopeCheck(scope, check, needing))
    return out


async def _granted(client: OktaClient, scope: str) -> Check:
    try:
        granted = await client.token_scopes([scope])
    except OktaTokenError as exc:
        if exc.error == "invalid_scope":
            return Check(Outcome.MISSING, "not granted to the app", exc.error_code, exc.error_summary)
        return Check.failed(exc)
    except OktaApiError as exc:
        return Check.failed(exc)
    if scope not in granted:
        return Check(Outcome.MISSING, "Okta issued a token without it")
    return Check(Outcome.OK, "granted to the app")
