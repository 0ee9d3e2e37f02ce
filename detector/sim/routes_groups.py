"""Groups API: create a group, list its members, assign and unassign a user (OKTA_GROUP memberships).

A membership change is an enforcement call like a lifecycle one: recorded in `org.calls` (with the status
answered), and when it changed something it writes Okta's `group.user_membership.add` / `.remove` event,
which targets the user and the group. Assigning a member again (or unassigning a non-member) answers 204
and writes nothing, as Okta does.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from detector.sim.audit import admin_event
from detector.sim.auth import GROUPS_MANAGE, GROUPS_READ, authorized
from detector.sim.context import org_of, request_context
from detector.sim.errors import OktaError
from detector.sim.routes_users import record_call


def _json(data: object) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


async def add_group(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, GROUPS_MANAGE)
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError:
        raise OktaError("E0000003") from None
    profile = body.get("profile") if isinstance(body, dict) else None
    if not isinstance(profile, dict) or not isinstance(profile.get("name"), str):
        raise OktaError("E0000001", "Api validation failed: name", causes=["name: The field cannot be left blank"])
    description = profile.get("description")
    group = org.directory.create_group(
        profile["name"], description if isinstance(description, str) else "", org.clock()
    )
    return _json(org.directory.group_json(group, str(request.url.origin())))


async def list_members(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, GROUPS_READ)
    group = org.directory.group_by_id(request.match_info["groupId"])
    base = str(request.url.origin())
    return _json([org.directory.user_json(u, base) for u in org.directory.members(group)])


async def assign(request: web.Request) -> web.Response:
    return await _membership(request, add=True)


async def unassign(request: web.Request) -> web.Response:
    return await _membership(request, add=False)


async def _membership(request: web.Request, *, add: bool) -> web.Response:
    org = org_of(request)
    principal = authorized(request, org, GROUPS_MANAGE)
    action = "add_to_group" if add else "remove_from_group"
    user_id: str | None = None
    try:
        group = org.directory.group_by_id(request.match_info["groupId"])
        user = org.directory.get(request.match_info["userId"])
        user_id = user.id
        change = org.directory.add_member if add else org.directory.remove_member
        changed = change(group, user, org.clock())
    except OktaError as exc:
        record_call(org, request, action, user_id, principal.credential_id, exc.status or 500)
        raise
    if changed:
        event = "group.user_membership.add" if add else "group.user_membership.remove"
        org.append(admin_event(event, request_context(request), principal, user, group=group))
    record_call(org, request, action, user.id, principal.credential_id, 204)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/groups", add_group)
    router.add_get("/api/v1/groups/{groupId}/users", list_members, allow_head=False)
    router.add_put("/api/v1/groups/{groupId}/users/{userId}", assign)
    router.add_delete("/api/v1/groups/{groupId}/users/{userId}", unassign)
