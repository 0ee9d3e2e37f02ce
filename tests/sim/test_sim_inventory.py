"""Inventory endpoints of the simulator over real HTTP: paging with Okta's Link headers, who may read what,
the groups and apps rate buckets, and the client budget naming the same bucket for every path served."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from yarl import URL

from detector.okta.budget import bucket_for as client_bucket_for
from detector.sim import RateLimits, SimOrg, SimServer, make_app
from detector.sim.org_population import build_directory
from detector.sim.ratelimit import bucket_for as sim_bucket_for
from detector.sim.timefmt import iso_ms, parse_iso


@pytest.fixture
def org(clock: Any) -> SimOrg:
    org = SimOrg(name="acme", seed=5, clock=clock)
    build_directory(org, users=120, groups=70, seed=5)
    return org


async def get(server: SimServer, path: str, auth: str, **query: str) -> tuple[int, Any, Any]:
    headers = {"Authorization": auth if auth.startswith(("Bearer ", "DPoP ")) else f"SSWS {auth}"}
    url = URL(server.url + path).update_query(query) if query else server.url + path
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


def _next(headers: Any) -> str | None:
    """The `rel="next"` target as a path with query, or None (every page also links `self`)."""
    links = headers.getall("Link")
    assert any(link.endswith('rel="self"') for link in links)
    nxt = [link for link in links if link.endswith('rel="next"')]
    if not nxt:
        return None
    url = URL(re.match(r"<([^>]+)>", nxt[0]).group(1))  # type: ignore[union-attr]
    return url.path_qs


async def crawl(server: SimServer, path: str, auth: str, limit: int) -> tuple[list[Any], int]:
    """Follow `next` links from the first page; every object and the number of pages."""
    items: list[Any] = []
    pages = 0
    nxt: str | None = f"{path}{'&' if '?' in path else '?'}limit={limit}"
    while nxt is not None:
        status, page, headers = await get(server, nxt, auth)
        assert status == 200, page
        assert len(page) <= limit
        items += page
        pages += 1
        nxt = _next(headers)
    return items, pages


async def test_every_collection_pages_with_link_headers(server: SimServer, ssws: str, org: SimOrg) -> None:
    directory, inv = org.directory, org.inventory
    everyone = directory.groups["Everyone"]
    app = max(inv.apps.by_id.values(), key=lambda a: len(a.users))
    grouped = max(inv.apps.by_id.values(), key=lambda a: len(a.groups))
    live_users = [u.id for u in directory.users.values() if u.status != "DEPROVISIONED"]
    cases = [
        ("/api/v1/users", 7, live_users),
        ("/api/v1/groups", 9, list(directory.group_order)),
        (f"/api/v1/groups/{everyone.id}/users", 11, list(everyone.members)),
        ("/api/v1/apps", 4, list(inv.apps.order)),
        (f"/api/v1/apps/{app.id}/users", 3, list(app.users)),
        ("/api/v1/idps", 2, list(inv.security.idp_order)),
        ("/api/v1/policies?type=ACCESS_POLICY", 1, [p.id for p in inv.security.policies.values()
                                                      if p.type == "ACCESS_POLICY"]),
    ]  # fmt: skip
    for path, limit, expected in cases:
        items, pages = await crawl(server, path, ssws, limit)
        assert [i["id"] for i in items] == expected, path
        assert pages in (-(-len(expected) // limit), len(expected) // limit + 1), path  # + an empty last page
        assert len(expected) > limit, path  # more than one page was needed
    # app groups: Okta's minimum page is 20; the org has fewer, so one page and no next link
    status, items, headers = await get(server, f"/api/v1/apps/{grouped.id}/groups", ssws, limit="1")
    assert status == 200 and [i["id"] for i in items] == list(grouped.groups) and _next(headers) is None


async def test_a_page_after_a_removed_member_is_empty_and_new_members_come_last(
    server: SimServer, ssws: str, org: SimOrg
) -> None:
    group = org.directory.groups["Engineering"]
    members = list(group.members)
    status, page, headers = await get(server, f"/api/v1/groups/{group.id}/users", ssws, limit="2")
    cursor = page[-1]["id"]
    newcomer = org.add_user(login="new.hire@acme.com", groups=["Engineering"])["id"]
    org.directory.remove_member(group, org.directory.users[cursor], org.clock())
    status, page, _ = await get(server, _next(headers) or "", ssws)
    assert status == 200 and page == []  # a cursor that no longer exists, as a stale Okta cursor gives
    rest, _ = await crawl(server, f"/api/v1/groups/{group.id}/users", ssws, 500)
    assert [u["id"] for u in rest] == [m for m in members if m != cursor] + [newcomer]


READS = [
    ("/api/v1/groups", "okta.groups.read", "GROUP_MEMBERSHIP_ADMIN", "HELP_DESK_ADMIN"),
    ("/api/v1/groups/{group}/users", "okta.groups.read", "ORG_ADMIN", "REPORT_ADMIN"),
    ("/api/v1/groups/{group}/roles", "okta.roles.read", "SUPER_ADMIN", "ORG_ADMIN"),
    ("/api/v1/apps", "okta.apps.read", "APP_ADMIN", "HELP_DESK_ADMIN"),
    ("/api/v1/apps/{app}/users", "okta.apps.read", "READ_ONLY_ADMIN", "GROUP_MEMBERSHIP_ADMIN"),
    ("/api/v1/apps/{app}/groups", "okta.apps.read", "ORG_ADMIN", "REPORT_ADMIN"),
    ("/api/v1/apps/{app}/grants", "okta.appGrants.read", "APP_ADMIN", "USER_ADMIN"),
    ("/api/v1/api-tokens", "okta.apiTokens.read", "SUPER_ADMIN", "READ_ONLY_ADMIN"),
    ("/api/v1/idps", "okta.idps.read", "READ_ONLY_ADMIN", "APP_ADMIN"),
    ("/api/v1/policies?type=PASSWORD", "okta.policies.read", "ORG_ADMIN", "HELP_DESK_ADMIN"),
    ("/api/v1/policies/{policy}/rules", "okta.policies.read", "READ_ONLY_ADMIN", "APP_ADMIN"),
    ("/api/v1/threats/configuration", "okta.threatInsights.read", "ORG_ADMIN", "USER_ADMIN"),
    ("/api/v1/users/{user}/factors", "okta.users.read", "HELP_DESK_ADMIN", "REPORT_ADMIN"),
    ("/api/v1/users/{user}/roles", "okta.roles.read", "SUPER_ADMIN", "ORG_ADMIN"),
    ("/api/v1/iam/assignees/users", "okta.roles.read", "SUPER_ADMIN", "READ_ONLY_ADMIN"),
]


@pytest.mark.parametrize(("path", "scope", "may", "may_not"), READS)
async def test_each_read_needs_its_permission_and_scope(
    server: SimServer, org: SimOrg, path: str, scope: str, may: str, may_not: str
) -> None:
    path = path.format(
        group=org.directory.groups["Everyone"].id,
        app=next(a.id for a in org.inventory.apps.by_id.values() if a.grants),
        policy=org.inventory.security.default("PASSWORD").id,
        user=next(iter(org.directory.users)),
    )
    org.add_api_token("may", admin_login="may@acme.com", roles=[may])
    org.add_api_token("may-not", admin_login="maynot@acme.com", roles=[may_not])
    assert (await get(server, path, "may"))[0] == 200
    status, body, _ = await get(server, path, "may-not")
    assert status == 403 and body["errorCode"] == "E0000006"
    others = ["okta.users.read", "okta.groups.read", "okta.apps.read", "okta.logs.read"]
    app = org.add_service_app("0oareader", {"keys": []}, [scope, *others])
    granted = org.issue_access_token(app, frozenset({scope}), None)
    lacking = org.issue_access_token(app, frozenset(s for s in others if s != scope), None)
    assert (await get(server, path, f"Bearer {granted.value}"))[0] == 200
    status, body, headers = await get(server, path, f"Bearer {lacking.value}")
    assert status == 403 and body["errorCode"] == "E0000006"
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert f'scope="{scope}"' in headers["WWW-Authenticate"]


@pytest.mark.parametrize(("bucket", "path"), [("groups", "/api/v1/groups"), ("apps", "/api/v1/apps")])
async def test_groups_and_apps_have_their_own_buckets(clock: Any, bucket: str, path: str) -> None:
    org = SimOrg(seed=1, clock=clock, rate_limits=RateLimits(groups=3, apps=2, default=50))
    org.add_api_token("tok")
    gid = org.add_group("Ops")["id"]
    limit = getattr(org.rate_limits, bucket)
    async with SimServer(org) as server:
        for _ in range(limit):
            status, _, headers = await get(server, path, "tok")
            assert status == 200 and headers["X-Rate-Limit-Limit"] == str(limit)
        status, body, headers = await get(server, path, "tok")
        assert status == 429 and body["errorCode"] == "E0000047"
        assert headers["X-Rate-Limit-Remaining"] == "0"
        sub = f"{path}/{gid}/users" if bucket == "groups" else f"{path}/nothere"
        assert (await get(server, sub, "tok"))[0] == 429  # sub-paths count in the same bucket
        status, _, headers = await get(server, "/api/v1/idps", "tok")
        assert status == 200 and headers["X-Rate-Limit-Limit"] == "50"  # the rest: default
        clock.advance(60)
        assert (await get(server, path, "tok"))[0] == 200


def test_the_client_budget_names_the_simulators_bucket_for_every_path_it_serves() -> None:
    """Every route of the simulator (placeholders filled), every method it answers: the client's
    `bucket_for` and the simulator's agree, except the token endpoint, which the client does not meter."""
    app = make_app(SimOrg(seed=0))
    checked = 0
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or re.sub(r"\{[^}]+\}", "00xplaceholder", info.get("formatter", ""))
        if not path or route.method == "HEAD":
            continue
        if path.startswith("/oauth2/"):
            assert sim_bucket_for(route.method, path) == "token"
            continue
        assert client_bucket_for(route.method, path) == sim_bucket_for(route.method, path), (route.method, path)
        checked += 1
    assert checked >= 25


async def test_users_search_and_filter(server: SimServer, ssws: str, org: SimOrg, clock: Any) -> None:
    """The plain list leaves DEPROVISIONED users out; a `search` / `filter` returns what it matches."""
    users = list(org.directory.users.values())
    gone = [u.id for u in users if u.status == "DEPROVISIONED"]
    assert gone
    for param in ("search", "filter"):
        items, _ = await crawl(server, f'/api/v1/users?{param}=status eq "DEPROVISIONED"', ssws, 200)
        assert [u["id"] for u in items] == gone
    stamp = iso_ms(sorted(u.last_updated for u in users)[len(users) // 2])
    cut = parse_iso(stamp)  # what the server compares with (the stamp has milliseconds)
    expr = f'lastUpdated gt "{stamp}" and status eq "ACTIVE" or status eq "SUSPENDED"'
    items, _ = await crawl(server, f"/api/v1/users?search={expr}", ssws, 25)
    expected = [u.id for u in users if (u.last_updated > cut and u.status == "ACTIVE") or u.status == "SUSPENDED"]
    assert [u["id"] for u in items] == expected and len(expected) > 25
    login = users[3].login.upper()
    status, page, _ = await get(server, "/api/v1/users", ssws, search=f'profile.login eq "{login}"')
    assert status == 200 and [u["id"] for u in page] == [users[3].id]  # case-insensitive
    for bad in ("status eq ACTIVE", 'password eq "x"', 'created sw "2026"', 'lastLogin gt "yesterday"', " "):
        status, body, _ = await get(server, "/api/v1/users", ssws, search=bad)
        assert status == 400 and body["errorCode"] == "E0000031", bad


async def test_role_assignees_page_through_the_admins(server: SimServer, ssws: str, org: SimOrg) -> None:
    """`/api/v1/iam/assignees/users` lists exactly the users with a direct role, paged by `_links.next`."""
    seen: list[str] = []
    path: str | None = "/api/v1/iam/assignees/users?limit=4"
    while path is not None:
        status, body, _ = await get(server, path, ssws)
        assert status == 200 and len(body["value"]) <= 4
        seen += [a["id"] for a in body["value"]]
        nxt = body["_links"].get("next")
        path = URL(nxt["href"]).path_qs if nxt else None
    assert seen == [uid for uid, held in org.roles.items() if held] and len(seen) > 4
