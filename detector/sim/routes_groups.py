"""Groups API: list and create groups, list a group's members and admin roles, assign and unassign a user
(OKTA_GROUP memberships). Lists page with `limit` + `after` as Okta's do.

A membership change is an enforcement call like a lifecycle one: recorded in `org.calls` (with the status
answered), and when it changed something it writes Okta's `group.user_membership.add` / `.remove` event,
which targets the user and the group. Assigning a member again (or unassigning a non-member) answers 204
and writes nothing, as Okta does.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from detector.sim.audit import admin_event
from detector.sim.auth import GROUPS_MANAGE, GROUPS_READ, ROLES_READ, authorized
from detector.sim.context import org_of, request_context
from detector.sim.errors import OktaError
from detector.sim.pagination import Limits, json_response, paged
from detector.sim.routes_users import record_call

GROUPS_PAGE = Limits(default=10000, maximum=10000)
MEMBERS_PAGE = Limits(default=1000, maximum=1000)
_json = json_response


async def list_groups(request: web.Request) -> web.Response:
    """`GET /api/v1/groups`: groups in creation order (`search`/`filter`/`q` are not modelled)."""
    org = org_of(request)
    authorized(request, org, GROUPS_READ)
    base = str(request.url.origin())
    directory = org.directory
    return paged(
        request, directory.group_order, GROUPS_PAGE, directory.groups_by_id.get, lambda g: directory.group_json(g, base)
    )


async def list_group_roles(request: web.Request) -> web.Response:
    """`GET /api/v1/groups/{groupId}/roles`: the admin roles assigned to the group."""
    org = org_of(request)
    authorized(request, org, ROLES_READ)
    group = org.directory.group_by_id(request.match_info["groupId"])
    base = str(request.url.origin())
    return _json([r.json(base) for r in org.inventory.group_roles.get(group.id, [])])


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
    """`GET /api/v1/groups/{groupId}/users`: members in the order they joined, a page at a time."""
    org = org_of(request)
    authorized(request, org, GROUPS_READ)
    group = org.directory.group_by_id(request.match_info["groupId"])
    base = str(request.url.origin())
    directory = org.directory
    return paged(request, group.members, MEMBERS_PAGE, directory.users.get, lambda u: directory.user_json(u, base))


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
    router.add_get("/api/v1/groups", list_groups, allow_head=False)
    router.add_post("/api/v1/groups", add_group)
    router.add_get("/api/v1/groups/{groupId}/users", list_members, allow_head=False)
    router.add_get("/api/v1/groups/{groupId}/roles", list_group_roles, allow_head=False)
    router.add_put("/api/v1/groups/{groupId}/users/{userId}", assign)
    router.add_delete("/api/v1/groups/{groupId}/users/{userId}", unassign)
