"""Glue between aiohttp requests and the org: the app key holding the SimOrg, and request context."""

from __future__ import annotations

from aiohttp import web

from detector.sim.audit import RequestContext
from detector.sim.org import SimOrg

ORG_KEY = web.AppKey("okta_sim_org", SimOrg)
REQUEST_ID = web.RequestKey("okta_request_id", str)  # set by the middleware


def org_of(request: web.Request) -> SimOrg:
    return request.app[ORG_KEY]


def request_context(request: web.Request) -> RequestContext:
    return RequestContext(
        request_id=request.get(REQUEST_ID, ""),
        path=request.path,
        path_qs=request.path_qs,
        ip=request.remote or "127.0.0.1",
        user_agent=request.headers.get("User-Agent", ""),
    )
