"""The admin API routes (served by detector.ops.http under the bearer token).

A role serves what it has: the process that polls serves tenant status and sync (and test connection),
the process that holds findings serves them. Each route takes what it needs as a plain callable, so the
same routes work over embedded mode's SQLite and Kafka mode's roles. Nothing here returns a secret: the
status and findings carry tenant names, Okta error codes and summaries, and event data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from detections.confidence import Tier
from detector.config import ConfigError
from detector.ops.status import StatusBoard

MAX_FINDINGS = 1000


@dataclass(frozen=True, slots=True)
class FindingsQuery:
    tenant: str | None = None
    detection: str | None = None
    tier: str | None = None
    since: str | None = None  # ISO-8601, compared with the finding's event time
    limit: int = 100


FindingsSource = Callable[[FindingsQuery], Awaitable[list[dict[str, Any]]]]
ConnectionTest = Callable[[str], Awaitable[dict[str, Any]]]


def tenant_routes(
    status: StatusBoard,
    sync: Callable[[str], bool],
    test_connection: ConnectionTest | None = None,
    sync_inventory: Callable[[str], bool] | None = None,
) -> list[web.RouteDef]:
    """``GET /api/v1/tenants[/{name}]``, ``POST .../sync`` (poll now), ``POST .../test-connection``,
    ``POST .../inventory/sync`` (a full inventory sync now, unless one is running)."""

    def known(request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in status.tenants:
            raise web.HTTPNotFound(text=_json_error(f"no tenant {name!r}"), content_type="application/json")
        return name

    async def list_tenants(_request: web.Request) -> web.Response:
        return web.json_response({"tenants": status.view()})

    async def one_tenant(request: web.Request) -> web.Response:
        return web.json_response(status.view(known(request))[0])

    async def sync_now(request: web.Request) -> web.Response:
        name = known(request)
        if not sync(name):
            return web.json_response({"error": f"tenant {name!r} is not polled by this process"}, status=409)
        return web.json_response({"tenant": name, "sync": "requested"}, status=202)

    routes = [
        web.get("/api/v1/tenants", list_tenants),
        web.get("/api/v1/tenants/{name}", one_tenant),
        web.post("/api/v1/tenants/{name}/sync", sync_now),
    ]
    if sync_inventory is not None:

        async def inventory_now(request: web.Request) -> web.Response:
            name = known(request)
            if not sync_inventory(name):
                return web.json_response({"error": f"tenant {name!r} does not sync an inventory here"}, status=409)
            return web.json_response({"tenant": name, "inventory": "sync requested"}, status=202)

        routes.append(web.post("/api/v1/tenants/{name}/inventory/sync", inventory_now))
    if test_connection is not None:

        async def test(request: web.Request) -> web.Response:
            name = known(request)
            report = await test_connection(name)
            await status.set_connection(name, report)
            return web.json_response(report)

        routes.append(web.post("/api/v1/tenants/{name}/test-connection", test))
    return routes


def _limit(raw: str) -> int | None:
    """A listing's ``limit``, or None when it is not an integer in 1..MAX_FINDINGS."""
    try:
        limit = int(raw)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_FINDINGS else None


def findings_routes(source: FindingsSource) -> list[web.RouteDef]:
    """``GET /api/v1/findings?tenant=&detection=&tier=&since=&limit=``: newest first."""

    async def findings(request: web.Request) -> web.Response:
        q = request.query
        tier = q.get("tier")
        if tier is not None and tier not in {t.value for t in Tier}:
            return web.json_response({"error": f"tier must be one of {', '.join(t.value for t in Tier)}"}, status=400)
        limit = _limit(q.get("limit", "100"))
        if limit is None:
            return web.json_response({"error": f"limit must be an integer in 1..{MAX_FINDINGS}"}, status=400)
        query = FindingsQuery(q.get("tenant"), q.get("detection"), tier, q.get("since"), limit)
        return web.json_response({"findings": await source(query)})

    return [web.get("/api/v1/findings", findings)]


IncidentList = Callable[[str | None, str | None, int], Awaitable[list[dict[str, Any]]]]
IncidentGet = Callable[[str], Awaitable[dict[str, Any] | None]]
IncidentResolve = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]


def incident_routes(list_: IncidentList, get: IncidentGet, resolve: IncidentResolve) -> list[web.RouteDef]:
    """``GET /api/v1/incidents?tenant=&status=&limit=``, ``GET /api/v1/incidents/{key}`` (with its deliveries),
    ``POST /api/v1/incidents/{key}/resolve`` ``{"by": "...", "note": "..."}``."""

    async def incidents(request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status")
        if status not in (None, "open", "resolved"):
            return web.json_response({"error": "status must be open or resolved"}, status=400)
        limit = _limit(q.get("limit", "100"))
        if limit is None:
            return web.json_response({"error": f"limit must be an integer in 1..{MAX_FINDINGS}"}, status=400)
        return web.json_response({"incidents": await list_(q.get("tenant"), status, limit)})

    async def incident(request: web.Request) -> web.Response:
        found = await get(request.match_info["key"])
        return web.json_response(found) if found else web.json_response({"error": "no such incident"}, status=404)

    async def resolve_one(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("by", ""), str) or not body.get("by"):
            return web.json_response({"error": 'a JSON body {"by": "<who>", "note": "..."} is required'}, status=400)
        resolved = await resolve(request.match_info["key"], body["by"][:200], str(body.get("note", ""))[:1000])
        if resolved is None:
            return web.json_response({"error": "no such open incident"}, status=404)
        return web.json_response(resolved)

    return [
        web.get("/api/v1/incidents", incidents),
        web.get("/api/v1/incidents/{key}", incident),
        web.post("/api/v1/incidents/{key}/resolve", resolve_one),
    ]


def reload_routes(reload: Callable[[], Awaitable[list[str]]]) -> list[web.RouteDef]:
    """``POST /api/v1/reload``: re-read the config and secrets (as SIGHUP); a bad config is refused, with
    the reason, and the running one kept."""

    async def reload_now(_request: web.Request) -> web.Response:
        try:
            return web.json_response({"reloaded": True, "changes": await reload()})
        except ConfigError as exc:
            return web.json_response({"reloaded": False, "error": str(exc)}, status=422)

    return [web.post("/api/v1/reload", reload_now)]


def _json_error(message: str) -> str:
    return orjson.dumps({"error": message}).decode()
