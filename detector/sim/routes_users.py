"""Users API: list users, read a user (or the token's owner, `me`), its groups, factors and admin roles;
lifecycle operations; clearing sessions.

Every enforcement call that authenticates is recorded in `org.calls` (with the status answered, a
403 when the caller may not make it) and, when it succeeds, writes the System Log events Okta
writes for it.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from detector.sim import user_query
from detector.sim.audit import admin_event
from detector.sim.auth import (
    CLEAR_SESSIONS,
    LIFECYCLE,
    OWN_ROLES,
    OWN_USER,
    ROLES_READ,
    USERS_READ,
    authenticate,
    authorize,
    authorized,
)
from detector.sim.context import org_of, request_context
from detector.sim.directory import LIFECYCLE_ACTIONS, UserRecord
from detector.sim.errors import OktaError
from detector.sim.org import EnforcementCall, SimOrg
from detector.sim.pagination import Limits, OrderedIds, paged, take


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _base(request: web.Request) -> str:
    return str(request.url.origin())


USERS_PAGE = Limits(default=200, maximum=200)


async def list_users(request: web.Request) -> web.Response:
    """`GET /api/v1/users`: users in creation order, `limit` (≤ 200) at a time after `after`; without
    `search` / `filter` the DEPROVISIONED ones are left out, with one the users it matches (user_query.py)."""
    org = org_of(request)
    authorized(request, org, USERS_READ)
    users = org.directory.users
    expression = request.query.get("search") or request.query.get("filter")
    wanted = user_query.parse(expression) if expression is not None else None

    def live(uid: str) -> UserRecord | None:
        user = users[uid]
        if wanted is None:
            return None if user.status == "DEPROVISIONED" else user
        return user if wanted(user) else None

    base = _base(request)
    return paged(request, org.directory.user_order, USERS_PAGE, live, lambda u: org.directory.user_json(u, base))


async def get_user(request: web.Request) -> web.Response:
    """A user by id or login; `me` is the admin an SSWS token acts as (a service app has none: 404)."""
    org = org_of(request)
    if request.match_info["id"] == "me":
        principal = authorized(request, org, OWN_USER)
        owner = org.user_or_admin(principal.user_id) if principal.user_id else None
        if owner is None:
            raise OktaError("E0000007", "Not found: Resource not found: me (User)")
        return _json(org.directory.user_json(owner, _base(request)))
    authorized(request, org, USERS_READ)
    user = org.directory.get(request.match_info["id"])
    return _json(org.directory.user_json(user, _base(request)))


async def list_user_roles(request: web.Request) -> web.Response:
    """`GET /api/v1/users/{id}/roles`: an admin may read its own; another user's needs a super admin."""
    org = org_of(request)
    principal = authenticate(request, org)
    user = org.user_or_admin(request.match_info["id"])
    if user is None:
        raise OktaError("E0000007", f"Not found: Resource not found: {request.match_info['id']} (User)")
    authorize(request, principal, OWN_ROLES if user.id == principal.user_id else ROLES_READ)
    return _json([role.json(_base(request)) for role in org.roles.get(user.id, [])])


ASSIGNEES_PAGE = Limits(default=100, maximum=100)


async def list_role_assignees(request: web.Request) -> web.Response:
    """`GET /api/v1/iam/assignees/users`: the users holding an admin role directly (so a sync reads the roles
    of these, not of every user), `{"value": [...], "_links": {"next": ...}}` as Okta's IAM lists page.
    Ordered as roles were first assigned; a scan of the admins (a few dozen), not of the directory."""
    org = org_of(request)
    authorized(request, org, ROLES_READ)
    limit = ASSIGNEES_PAGE.parse(request)
    holders = OrderedIds(uid for uid, held in org.roles.items() if held)
    page, more = take(holders, request.query.get("after"), limit, lambda uid: uid)
    base = _base(request)
    body: dict[str, Any] = {
        "value": [
            {
                "id": uid,
                "orn": f"orn:okta:directory:{org.name}:users:{uid}",
                "_links": {
                    "self": {"href": f"{base}/api/v1/users/{uid}"},
                    "roles": {"href": f"{base}/api/v1/users/{uid}/roles"},
                },
            }
            for uid, _ in page
        ],
        "_links": {},
    }
    if more and page:
        query = {k: v for k, v in request.query.items() if k != "after"} | {"after": page[-1][0]}
        body["_links"]["next"] = {"href": str(request.url.with_query(query))}
    return _json(body)


async def list_user_groups(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, USERS_READ)
    user = org.directory.get(request.match_info["id"])
    by_id = org.directory.groups_by_id
    return _json([org.directory.group_json(by_id[gid], _base(request)) for gid in user.group_ids])


async def list_factors(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, USERS_READ)
    user = org.directory.get(request.match_info["id"])
    return _json([org.directory.factor_json(user, f, _base(request)) for f in user.factors])


def record_call(
    org: SimOrg, request: web.Request, action: str, user_id: str | None, credential_id: str, status: int
) -> None:
    org.calls.append(EnforcementCall(request.method, request.path, user_id, action, credential_id, org.clock(), status))


async def lifecycle(request: web.Request) -> web.Response:
    org = org_of(request)
    action = request.match_info["action"]
    if action not in LIFECYCLE_ACTIONS:
        raise OktaError("E0000007", f"Not found: Resource not found: {request.path} (lifecycle)")
    principal = authenticate(request, org)
    user_id: str | None = None
    try:
        user = org.directory.get(request.match_info["id"])
        user_id = user.id
        authorize(request, principal, LIFECYCLE[action])
        outcome = org.directory.lifecycle(user, action, org.clock())
    except OktaError as exc:
        record_call(org, request, action, user_id, principal.credential_id, exc.status or 500)
        raise
    org.append(admin_event(outcome.event_type, request_context(request), principal, user))
    record_call(org, request, action, user.id, principal.credential_id, 200)
    if action == "expire_password":
        return _json(org.directory.user_json(user, _base(request)))
    if action == "activate" and request.query.get("sendEmail", "true").lower() == "false":
        token = org.ids.chars(20)
        return _json({"activationUrl": f"{_base(request)}/tokens/{token}/verify", "activationToken": token})
    return _json({})


async def clear_sessions(request: web.Request) -> web.Response:
    """`DELETE /api/v1/users/{id}/sessions`: one `user.session.clear` plus a `user.session.end` per session."""
    org = org_of(request)
    principal = authenticate(request, org)
    user_id: str | None = None
    try:
        user = org.directory.get(request.match_info["id"])
        user_id = user.id
        authorize(request, principal, CLEAR_SESSIONS)
    except OktaError as exc:
        record_call(org, request, "clear_sessions", user_id, principal.credential_id, exc.status or 404)
        raise
    ctx = request_context(request)
    ended = org.directory.clear_sessions(user)
    org.append(admin_event("user.session.clear", ctx, principal, user))
    for sid in ended:
        org.append(admin_event("user.session.end", ctx, principal, user, session_id=sid))
    record_call(org, request, "clear_sessions", user.id, principal.credential_id, 204)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/users", list_users, allow_head=False)
    router.add_get("/api/v1/iam/assignees/users", list_role_assignees, allow_head=False)
    router.add_get("/api/v1/users/{id}", get_user, allow_head=False)
    router.add_get("/api/v1/users/{id}/roles", list_user_roles, allow_head=False)
    router.add_get("/api/v1/users/{id}/groups", list_user_groups, allow_head=False)
    router.add_get("/api/v1/users/{id}/factors", list_factors, allow_head=False)
    router.add_post("/api/v1/users/{id}/lifecycle/{action}", lifecycle)
    router.add_delete("/api/v1/users/{id}/sessions", clear_sessions)
