"""Apps API: list apps, read one, and page through its user and group assignments; list its OAuth scope grants."""

from __future__ import annotations

from aiohttp import web

from detector.sim.apps import AppUserRecord, app_group_json, app_json, app_user_json, grant_json
from detector.sim.auth import APP_GRANTS_READ, APPS_READ, authorized
from detector.sim.context import org_of
from detector.sim.pagination import Limits, json_response, paged

# Okta's documented page sizes (management.yaml): apps ≤ 200, app users 50 (≤ 500), app groups 20..200.
APPS_PAGE = Limits(default=20, maximum=200)
APP_USERS_PAGE = Limits(default=50, maximum=500)
APP_GROUPS_PAGE = Limits(default=20, maximum=200, minimum=20)


def _base(request: web.Request) -> str:
    return str(request.url.origin())


async def list_apps(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, APPS_READ)
    apps, base = org.inventory.apps, _base(request)
    return paged(request, apps.order, APPS_PAGE, apps.by_id.get, lambda a: app_json(a, base))


async def get_app(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, APPS_READ)
    return json_response(app_json(org.inventory.apps.get(request.match_info["appId"]), _base(request)))


async def list_app_users(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, APPS_READ)
    app, base = org.inventory.apps.get(request.match_info["appId"]), _base(request)
    users = org.directory.users

    def render(record: AppUserRecord) -> dict[str, object]:
        user = users.get(record.user_id)
        return app_user_json(app, record, user.status if user else "DEPROVISIONED", base)

    return paged(request, app.users, APP_USERS_PAGE, app.user_records.get, render)


async def list_app_groups(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, APPS_READ)
    app, base = org.inventory.apps.get(request.match_info["appId"]), _base(request)
    return paged(request, app.groups, APP_GROUPS_PAGE, app.group_records.get, lambda g: app_group_json(app, g, base))


async def list_grants(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, APP_GRANTS_READ)
    app, base = org.inventory.apps.get(request.match_info["appId"]), _base(request)
    return json_response([grant_json(app, g, base) for g in app.grants.values()])


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/apps", list_apps, allow_head=False)
    router.add_get("/api/v1/apps/{appId}", get_app, allow_head=False)
    router.add_get("/api/v1/apps/{appId}/users", list_app_users, allow_head=False)
    router.add_get("/api/v1/apps/{appId}/groups", list_app_groups, allow_head=False)
    router.add_get("/api/v1/apps/{appId}/grants", list_grants, allow_head=False)
