"""A full sync against the simulator over real HTTP: entities, pages, 429s, a killed sync resumed, removals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from detector.inventory.interrupt import CancelAfterPages
from detector.inventory.model import Inventory
from detector.inventory.store import SqliteInventoryStore
from detector.inventory.sync import PARTS, InventorySync
from detector.okta import OktaClient, SswsAuth
from detector.okta.errors import OktaApiError
from detector.sim import RateLimits
from detector.sim.org_population import build_directory

from .conftest import TOKEN, Sim, StartSim


def populate(sim: Sim, users: int = 12) -> list[dict[str, Any]]:
    made = [
        sim.org.add_user(
            f"user{i}@acme.com",
            groups=["Engineering"] if i % 2 else ["Sales"],
            factors=("push", "webauthn") if i % 3 == 0 else ("sms",),
        )
        for i in range(users)
    ]
    sim.org.set_roles(made[0]["id"], ["SUPER_ADMIN"])
    sim.org.set_roles(made[1]["id"], ["HELP_DESK_ADMIN", "REPORT_ADMIN"])
    return made


async def test_every_entity_of_a_furnished_org(start_sim: StartSim, store: SqliteInventoryStore) -> None:
    """A directory with the simulator's workforce proportions: every kind synced, each count Okta's. (The apps
    bucket is raised: at Okta's 100 a minute, half of it ours, 18 apps' lists alone take over a minute.)"""
    sim = await start_sim(RateLimits(apps=2000, groups=2000))
    build_directory(sim.org, 40, 12, seed=5)
    console = sim.org.inventory.apps.by_name("saasure")
    assert console is not None
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0) as client:
        limits = {"users": 15, "groups": 5, "apps": 4}
        status = await InventorySync("acme", client, store, page_limits=limits).run()
    assert status["state"] == "success" and status["skipped"] == {} and status["malformed"] == {}, status
    inv = await store.load("acme")
    org, directory, apps = sim.org, sim.org.directory, sim.org.inventory.apps
    listed = [u for u in directory.users.values() if u.status != "DEPROVISIONED"]
    assert set(inv.users()) == set(directory.users)  # the deprovisioned ones too, read by search
    assert {u.id for u in inv.users().values() if u.status == "DEPROVISIONED"} == set(directory.users) - {
        u.id for u in listed
    }
    assert len(inv.of("factor")) == sum(len(u.factors) for u in listed)
    assert set(inv.of("group")) == {g.id for g in directory.groups.values()}
    assert {(m.group_id, m.user_id) for m in inv.of("membership").values()} == {
        (g.id, uid)
        for g in directory.groups.values()
        for uid in g.members  # deactivated members too
    }
    user_roles = {(uid, r.type) for uid, roles in org.roles.items() if uid in inv.users() for r in roles}
    group_roles = {(gid, r.type) for gid, roles in org.inventory.group_roles.items() for r in roles}
    stored = {(r.assignee_id, r.role_type) for r in inv.of("role").values()}
    assert stored == user_roles | group_roles and group_roles
    assert set(inv.of("app")) == set(apps.by_id)
    assert inv.of("app")[console.id].access_policy == console.access_policy_id
    assignments = {(a.app_id, a.assignee_type, a.assignee_id) for a in inv.of("app_assignment").values()}
    assert assignments == {(a.id, "USER", u) for a in apps.by_id.values() for u in a.users} | {
        (a.id, "GROUP", g) for a in apps.by_id.values() for g in a.groups
    }
    assert {(g.app_id, g.scope) for g in inv.of("grant").values()} == {
        (a.id, scope) for a in apps.by_id.values() for scope in a.grants
    }
    assert len(inv.of("api_token")) == len(org.api_tokens) and len(inv.of("idp")) == 3
    policies = {p.name: p for p in inv.of("policy").values() if p.type == "ACCESS_POLICY"}
    assert policies["Okta Admin Console"].settings["admin_console"] is True
    assert "admin_console_phishing_resistant" in policies["Okta Admin Console"].settings
    assert {p.type for p in inv.of("policy").values()} == {"OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY"}
    assert inv.of("org")["org"].threat_insight == org.inventory.security.threat_insight.action
    # every list read page by page through Okta's next links
    for path, per_page, total in (("/api/v1/users", 15, len(listed)), ("/api/v1/groups", 5, len(directory.groups))):
        listing = [q for p, q, _ in sim.seen if p == path and "search=" not in q]
        assert len(listing) == -(-total // per_page) and all("after=" in q for q in listing[1:]), path


async def test_full_sync_of_users_factors_and_roles(sim: Sim, client: OktaClient, store: SqliteInventoryStore) -> None:
    made = populate(sim)
    status = await InventorySync("acme", client, store, page_limits={"users": 5}).run()
    assert status["state"] == "success", status
    inv: Inventory = await store.load("acme")
    assert set(inv.users()) == {u["id"] for u in made}
    u0 = inv.users()[made[0]["id"]]
    assert (u0.login, u0.status) == ("user0@acme.com", "ACTIVE")
    assert u0.created == pytest.approx(sim.org.users[made[0]["id"]].created, abs=0.001)
    assert sorted(f.factor_type for f in inv.factors_of(made[0]["id"])) == ["push", "webauthn"]
    assert [f.factor_type for f in inv.factors_of(made[1]["id"])] == ["sms"]
    assert [r.role_type for r in inv.roles_of_user(made[0]["id"])] == ["SUPER_ADMIN"]
    assert sorted(r.role_type for r in inv.roles_of_user(made[1]["id"])) == ["HELP_DESK_ADMIN", "REPORT_ADMIN"]
    assert inv.roles_of_user(made[2]["id"]) == []
    assert status["counts"]["user"] == 12 and status["counts"]["factor"] == 16 and status["counts"]["role"] == 3
    # 12 users at 5 a page: three pages, the second and third from Okta's next link
    pages = sim.asked("/api/v1/users")
    listing = [q for p, q, _ in pages if p == "/api/v1/users" and "search=" not in q]
    assert len(listing) == 3 and listing[0] == "limit=5" and all("after=" in q for q in listing[1:])
    # roles read for the two admins Okta's assignees list names, not for each of the 12 users
    roles_read = {p.split("/")[4] for p, _, _ in pages if p.endswith("/roles")}
    assert roles_read == {made[0]["id"], made[1]["id"]} and status["fallbacks"] == {}
    assert status["duration_s"] >= 0 and status["finished"] >= status["started"] and status["error"] is None


async def test_a_forbidden_kind_is_skipped_and_the_sync_goes_on(
    start_sim: StartSim, store: SqliteInventoryStore
) -> None:
    sim = await start_sim(roles=("READ_ONLY_ADMIN",))  # may read users, not other users' roles
    populate(sim, 4)
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0) as client:
        status = await InventorySync("acme", client, store, page_limits={"users": 2}, concurrency=1).run()
    assert status["state"] == "success"
    assert status["skipped"]["user_roles"].startswith("403 E0000006")
    assert status["counts"]["user"] == 4 and status["counts"]["role"] == 0
    roles_asked = [s for s in sim.asked("/api/v1/users/") if s[0].endswith("/roles")]
    assert (
        len(roles_asked) == 1
    )  # asked once, then skipped on both pages (in parallel: once per concurrent call at most)


async def test_429s_mid_sync_are_waited_out(start_sim: StartSim, store: SqliteInventoryStore) -> None:
    sim = await start_sim(RateLimits(users=15, window_seconds=1.0))
    made = populate(sim, 10)
    sim.org.inject_fault("GET", f"/api/v1/users/{made[4]['id']}/factors", "status", times=2, status=429)
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0, budget_share=1.0, backoff_base=0.05) as client:
        status = await InventorySync("acme", client, store, page_limits={"users": 3}).run()
    assert status["state"] == "success", status
    assert sum(1 for s in sim.seen if s[2] == 429) >= 2
    inv = await store.load("acme")
    assert len(inv.users()) == 10 and len(inv.of("factor")) == 14


class KillAfter(CancelAfterPages, SqliteInventoryStore):
    """Cancels the sync's task right after its ``pages``-th page is stored (as a SIGTERM or crash would)."""

    def __init__(self, path: Path, pages: int) -> None:
        super().__init__(path)
        self.pages = pages


async def test_a_killed_sync_resumes_from_its_checkpoint(sim: Sim, client: OktaClient, tmp_path: Path) -> None:
    made = populate(sim, 12)
    path = tmp_path / "itdr.sqlite"
    killing = await KillAfter(path, pages=3).open()  # the deprovisioned users' page, two of the others
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(InventorySync("acme", client, killing, page_limits={"users": 5}).run())
    checkpoint = await killing.checkpoint("acme")
    await killing.close()
    assert checkpoint is not None and checkpoint.part == "users" and "after=" in (checkpoint.next_url or "")
    first_run = len(sim.seen)
    async with SqliteInventoryStore(path) as store:
        assert (await store.sync_status("acme"))["acme"]["state"] == "in_progress"
        status = await InventorySync("acme", client, store, page_limits={"users": 5}).run()
        assert status["state"] == "success" and status["resumed"] == 1
        assert status["generation"] == checkpoint.generation
        second = sim.seen[first_run:]
        listing = [q for p, q, _ in second if p == "/api/v1/users" and "search=" not in q]
        assert listing == [checkpoint.next_url.split("?", 1)[1]]  # only the third page, from the stored cursor
        factors_again = {p.split("/")[4] for p, _, _ in second if p.endswith("/factors")}
        assert factors_again == {u["id"] for u in made[10:]}  # the first two pages' users were not read again
        inv = await store.load("acme")
        assert len(inv.users()) == 12 and len(inv.of("factor")) == 16
        assert await store.checkpoint("acme") is None


async def test_records_okta_no_longer_has_are_removed(
    sim: Sim, client: OktaClient, store: SqliteInventoryStore
) -> None:
    made = populate(sim, 6)
    assert (await InventorySync("acme", client, store).run())["state"] == "success"
    gone = made[3]["id"]
    await client.lifecycle(gone, "deactivate")  # DEPROVISIONED: no longer in Okta's plain user list
    sim.org.users[made[0]["id"]].factors.pop()  # made[0] had push and webauthn
    sim.org.set_roles(made[1]["id"], [])
    status = await InventorySync("acme", client, store).run()
    assert status["state"] == "success" and status["generation"] == 2
    inv = await store.load("acme")
    assert inv.users()[gone].status == "DEPROVISIONED" and inv.factors_of(gone) == []  # kept, as such
    assert [f.factor_type for f in inv.factors_of(made[0]["id"])] == ["push"]
    assert inv.roles_of_user(made[1]["id"]) == []


async def test_a_failed_sync_keeps_its_checkpoint_and_says_why(
    sim: Sim, client: OktaClient, store: SqliteInventoryStore
) -> None:
    populate(sim, 6)
    sim.org.inject_fault("GET", "/api/v1/users", "status", times=2, status=500)
    client.max_retries = 1
    status = await InventorySync("acme", client, store).run()
    assert status["state"] == "error" and "500" in status["error"] and TOKEN not in status["error"]
    assert await store.checkpoint("acme") is not None
    assert (await InventorySync("acme", client, store).run())["state"] == "success"


async def test_a_next_link_off_the_org_or_without_end_is_refused(store: SqliteInventoryStore) -> None:
    """A server that links elsewhere (our credential would follow) or forever fails the sync, with why."""
    hops, away = {"n": 0}, {"on": False}

    async def users(request: web.Request) -> web.Response:
        hops["n"] += 1
        base = "http://127.0.0.2:9" if away["on"] else str(request.url.origin())
        return web.json_response([], headers={"Link": f'<{base}/api/v1/users?after={hops["n"]}>; rel="next"'})

    app = web.Application()
    app.router.add_get("/api/v1/users", users)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        async with OktaClient(url, SswsAuth(TOKEN)) as client:
            with pytest.raises(OktaApiError, match="too many pages"):
                _ = [p async for p in client.pages("/api/v1/users", max_pages=3)]
            assert hops["n"] == 3
            away["on"] = True
            with pytest.raises(ValueError, match="outside the org"):
                _ = [p async for p in client.pages("/api/v1/users")]
            assert hops["n"] == 4  # the first page only: its next link was not followed
            only_users = [p for p in PARTS if p.name == "users"]
            status = await InventorySync("acme", client, store, parts=only_users).run()
    assert status["state"] == "error" and "outside the org" in status["error"]


async def test_deprovisioned_users_are_their_own_resumable_part(sim: Sim, client: OktaClient, tmp_path: Path) -> None:
    """Okta's plain list leaves DEPROVISIONED users out: they are read by search, page by page, resumable."""
    made = populate(sim, 8)
    for u in made[2:5]:
        await client.lifecycle(u["id"], "deactivate")
    gone = {u["id"] for u in made[2:5]}
    path = tmp_path / "itdr.sqlite"
    limits = {"users_deprovisioned": 1}
    killing = await KillAfter(path, pages=2).open()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(InventorySync("acme", client, killing, page_limits=limits).run())
    checkpoint = await killing.checkpoint("acme")
    await killing.close()
    assert checkpoint is not None and checkpoint.part == "users_deprovisioned" and checkpoint.done == []
    asked_first = len(sim.seen)
    async with SqliteInventoryStore(path) as store:
        status = await InventorySync("acme", client, store, page_limits=limits).run()
        assert status["state"] == "success" and status["resumed"] == 1
        searched = [q for p, q, _ in sim.seen[asked_first:] if p == "/api/v1/users" and "search=" in q]
        assert parse_qs(searched[0]) == parse_qs(urlsplit(checkpoint.next_url or "").query)  # the stored cursor
        assert len(searched) == 1  # only the third deprovisioned user's page, the last
        inv = await store.load("acme")
    assert {uid for uid, u in inv.users().items() if u.status == "DEPROVISIONED"} == gone
    assert set(inv.users()) == {u["id"] for u in made}
    factors_read = {p.split("/")[4] for p, _, _ in sim.seen if p.endswith("/factors")}
    assert not factors_read & gone  # no call for the factors of a user who cannot sign in


async def test_user_roles_fall_back_to_every_user_when_the_assignees_list_is_refused(
    sim: Sim, client: OktaClient, tmp_path: Path
) -> None:
    """A 404 on /iam/assignees/users: every listed user's roles are read instead (resumable, said in the status)."""
    made = populate(sim, 12)
    sim.org.inject_fault("GET", "/api/v1/iam/assignees/users", "status", times=1, status=404)
    path = tmp_path / "itdr.sqlite"
    limits = {"users": 5}
    killing = await KillAfter(path, pages=5).open()  # deprovisioned, users 1-3, then the fallback's first page
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(InventorySync("acme", client, killing, page_limits=limits).run())
    checkpoint = await killing.checkpoint("acme")
    await killing.close()
    assert checkpoint is not None and checkpoint.part == "user_roles"
    assert checkpoint.fallbacks["user_roles"].startswith("404") and "/api/v1/users?" in (checkpoint.next_url or "")
    asked_first = len(sim.seen)
    async with SqliteInventoryStore(path) as store:
        status = await InventorySync("acme", client, store, page_limits=limits).run()
        inv = await store.load("acme")
    assert status["state"] == "success" and status["fallbacks"]["user_roles"].startswith("404")
    second = sim.seen[asked_first:]
    assert not [s for s in second if s[0].startswith("/api/v1/iam/")]  # the resumed sync went on the fallback way
    roles_read = [p.split("/")[4] for p, _, _ in sim.seen if p.startswith("/api/v1/users/") and p.endswith("/roles")]
    assert sorted(roles_read) == sorted(u["id"] for u in made)  # each user's once, over both runs
    assert [r.role_type for r in inv.roles_of_user(made[0]["id"])] == ["SUPER_ADMIN"]
    assert sorted(r.role_type for r in inv.roles_of_user(made[1]["id"])) == ["HELP_DESK_ADMIN", "REPORT_ADMIN"]
    assert len(inv.of("role")) == 3 and len(inv.users()) == 12


async def test_roles_of_a_holder_no_user_list_showed_are_not_stored(
    sim: Sim, client: OktaClient, store: SqliteInventoryStore
) -> None:
    """The token's own admin (outside the simulated directory) is an assignee: no role without its user."""
    populate(sim, 3)
    holders = [uid for uid, held in sim.org.roles.items() if held]
    outsider = next(uid for uid in holders if uid not in sim.org.directory.users)
    status = await InventorySync("acme", client, store).run()
    assert status["state"] == "success"
    assert not [p for p, _, _ in sim.seen if p == f"/api/v1/users/{outsider}/roles"]
    assert {r.assignee_id for r in (await store.load("acme")).of("role").values()} == set(holders) - {outsider}


async def test_a_list_paged_as_an_object_is_followed_by_its_links(sim: Sim, client: OktaClient) -> None:
    """Okta's IAM lists page as ``{"value": [...], "_links": {"next"}}``: every page read, a non-list refused."""
    made = populate(sim, 6)
    for u in made[2:5]:
        sim.org.set_roles(u["id"], ["REPORT_ADMIN"])
    pages = [p async for p in client.pages("/api/v1/iam/assignees/users", params={"limit": "2"}, envelope="value")]
    holders = [uid for uid, held in sim.org.roles.items() if held]
    assert [item["id"] for p in pages for item in p.items] == holders and len(pages) == -(-len(holders) // 2)
    assert all(p.next_url for p in pages[:-1]) and pages[-1].next_url is None
    with pytest.raises(OktaApiError, match="expected a JSON array"):
        [p async for p in client.pages("/api/v1/iam/assignees/users", envelope="nothing")]
