"""Incremental updates from System Log events: the sim's own events, and hand-built ones it does not write."""

from __future__ import annotations

import time
import uuid
from typing import Any

from detections.event import parse_event
from detector.inventory.events import InventoryUpdater
from detector.inventory.store import SqliteInventoryStore
from detector.inventory.sync import InventorySync
from detector.okta import OktaClient, SswsAuth
from detector.sim import RateLimits
from detector.sim.org_population import build_directory

from .conftest import TOKEN, Sim, StartSim


def event(event_type: str, targets: list[dict[str, Any]], *, actor: str = "00uadmin1", **debug: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "published": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventType": event_type,
        "actor": {"id": actor, "type": "User", "alternateId": "admin@acme.com"},
        "outcome": {"result": "SUCCESS"},
        "target": targets,
        "debugContext": {"debugData": debug},
    }


def user_target(uid: str) -> dict[str, Any]:
    return {"id": uid, "type": "User", "alternateId": f"{uid}@acme.com", "displayName": "U"}


async def apply(updater: InventoryUpdater, raw: dict[str, Any]) -> str:
    return await updater.apply(parse_event(raw, "acme"))


async def test_the_sims_lifecycle_and_membership_events_update_the_store(
    sim: Sim, client: OktaClient, store: SqliteInventoryStore
) -> None:
    ann = sim.org.add_user("ann@acme.com")
    admins = sim.org.add_group("Admins")
    assert (await InventorySync("acme", client, store).run())["state"] == "success"
    await client.lifecycle(ann["id"], "suspend")
    await client.set_group_member(admins["id"], ann["id"], member=True)
    page = await client.fetch_log_page(since=None)
    updater = InventoryUpdater(store)
    outcomes = [await updater.apply(parse_event(raw, "acme")) for raw in page.events]
    assert outcomes.count("updated") == 2, outcomes
    inv = await store.load("acme")
    assert inv.users()[ann["id"]].status == "SUSPENDED"
    assert admins["id"] in inv.groups_of(ann["id"])
    await client.set_group_member(admins["id"], ann["id"], member=False)
    await client.lifecycle(ann["id"], "unsuspend")
    page = await client.fetch_log_page(page.next_url)
    for raw in page.events:
        await updater.apply(parse_event(raw, "acme"))
    inv = await store.load("acme")
    assert inv.users()[ann["id"]].status == "ACTIVE" and admins["id"] not in inv.groups_of(ann["id"])


async def test_roles_tokens_apps_factors_and_sign_ins(store: SqliteInventoryStore) -> None:
    u = InventoryUpdater(store)
    assert await apply(u, event("user.lifecycle.create", [user_target("00unew1")])) == "stale"
    assert await apply(u, event("user.lifecycle.activate", [user_target("00unew1")])) == "updated"
    grant = event("user.account.privilege.grant", [user_target("00unew1")], privilegeGranted="Super administrator, x")
    assert await apply(u, grant) == "updated"
    inv = await store.load("acme")
    assert inv.users()["00unew1"].status == "ACTIVE"
    assert [r.role_type for r in inv.roles_of_user("00unew1")] == ["SUPER_ADMIN"]
    revoke = event("user.account.privilege.revoke", [user_target("00unew1")], privilegeRevoked="Super Administrator")
    assert await apply(u, revoke) == "updated"
    assert (await store.load("acme")).roles_of_user("00unew1") == []

    group = {"id": "00gadm1", "type": "UserGroup", "displayName": "Admins"}
    await apply(u, event("group.user_membership.add", [user_target("00unew1"), group]))
    await apply(u, event("group.privilege.grant", [group], privilegeGranted="Organization administrator"))
    assert [r.role_type for r in (await store.load("acme")).roles_of_user("00unew1")] == ["ORG_ADMIN"]

    app = {"id": "0oaapp1", "type": "AppInstance", "displayName": "Salesforce"}
    await apply(u, event("application.user_membership.add", [app, user_target("00unew1")]))
    await apply(u, event("group.application_assignment.add", [app, group]))
    assert set((await store.load("acme")).of("app_assignment")) == {"0oaapp1:USER:00unew1", "0oaapp1:GROUP:00gadm1"}
    await apply(u, event("application.user_membership.remove", [app, user_target("00unew1")]))
    assert set((await store.load("acme")).of("app_assignment")) == {"0oaapp1:GROUP:00gadm1"}

    token = {"id": "00Ttok1", "type": "Token", "displayName": "ci \x1b[2J token"}
    assert await apply(u, event("system.api_token.create", [token], actor="00unew1")) == "stale"
    t = (await store.load("acme")).of("api_token")["00Ttok1"]
    assert (t.owner_id, t.name) == ("00unew1", "ci \x1b[2J token")  # stored as is; every output escapes
    assert await apply(u, event("system.api_token.revoke", [token])) == "removed"
    assert "00Ttok1" not in (await store.load("acme")).of("api_token")

    signed_in = event("user.session.start", [], actor="00unew1")
    assert await apply(u, signed_in) == "updated"
    assert (await store.load("acme")).users()["00unew1"].last_login is not None
    assert await apply(u, signed_in) == "ignored: not newer"
    failed = {**event("user.session.start", [], actor="00unew1"), "outcome": {"result": "FAILURE"}}
    assert await apply(u, failed) == "ignored: not a success"
    assert await apply(u, event("user.mfa.factor.activate", [user_target("00unew1")])) == "stale"
    stale = {(k, i) for k, i, _ in await store.stale("acme")}
    assert ("factor", "user:00unew1") in stale and ("api_token", "00Ttok1") in stale

    assert await apply(u, event("user.lifecycle.delete.initiated", [user_target("00unew1")])) == "removed"
    inv = await store.load("acme")
    assert "00unew1" not in inv.users() and inv.groups_of("00unew1") == set()
    assert set(inv.of("app_assignment")) == {"0oaapp1:GROUP:00gadm1"}  # the group's assignment stays


async def test_reset_all_removes_the_users_factors(sim: Sim, client: OktaClient, store: SqliteInventoryStore) -> None:
    ann = sim.org.add_user("ann@acme.com", factors=("push", "sms"))
    await InventorySync("acme", client, store).run()
    assert len((await store.load("acme")).factors_of(ann["id"])) == 2
    u = InventoryUpdater(store)
    assert await apply(u, event("user.mfa.factor.reset_all", [user_target(ann["id"])])) == "removed"
    assert (await store.load("acme")).factors_of(ann["id"]) == []
    await InventorySync("acme", client, store).run()  # the next sync re-reads them and clears the mark
    assert len((await store.load("acme")).factors_of(ann["id"])) == 2
    assert await store.stale("acme") == []


async def test_hostile_targets_change_nothing(store: SqliteInventoryStore) -> None:
    u = InventoryUpdater(store)
    for targets in (
        [],
        [{"id": "../../x", "type": "User"}],
        [{"id": ["00u1"], "type": "User"}],
        [{"id": "00u1", "type": "UserGroup"}],
        ["not an object"],
    ):
        for et in ("user.lifecycle.suspend", "group.user_membership.add", "user.account.privilege.grant"):
            assert (await apply(u, event(et, targets, privilegeGranted=7))).startswith(("ignored", "stale"))
    assert await store.counts("acme") == {}


async def test_the_sims_admin_changes_then_a_full_sync_agree(start_sim: StartSim, store: SqliteInventoryStore) -> None:
    """Changes an admin makes (logged as Okta logs them) reach the store from the log alone; the next full
    sync finds the same and replaces what the events could only approximate (role ids, token details)."""
    sim = await start_sim(RateLimits(apps=2000, groups=2000))
    build_directory(sim.org, 10, 6, seed=2)
    inv_sim = sim.org.inventory
    async with OktaClient(sim.url, SswsAuth(TOKEN), timeout=5.0) as client:
        assert (await InventorySync("acme", client, store).run())["state"] == "success"
        page = await client.fetch_log_page(since=None)  # whatever the build logged: applied too
        new = inv_sim.create_user("new.admin@acme.com")
        group = sim.org.add_group("Incident Responders")
        inv_sim.add_member(group["id"], new["id"])
        inv_sim.grant_role(new["id"], "SUPER_ADMIN")
        inv_sim.grant_group_role(group["id"], "HELP_DESK_ADMIN")
        app = next(a for a in inv_sim.apps.by_id.values() if a.name not in ("saasure", "okta_enduser"))
        inv_sim.assign_user_to_app(app.id, new["id"])
        inv_sim.assign_group_to_app(app.id, group["id"])
        inv_sim.create_api_token("break glass", "new.admin@acme.com", network="ANYWHERE")
        inv_sim.enroll_factor(new["id"], "webauthn")
        updater = InventoryUpdater(store)
        for raw in [*page.events, *(await client.fetch_log_page(page.next_url)).events]:
            await updater.apply(parse_event(raw, "acme"))
        inv = await store.load("acme")
        assert new["id"] in inv.users() and group["id"] in inv.groups_of(new["id"])
        assert sorted(r.role_type for r in inv.roles_of_user(new["id"])) == ["HELP_DESK_ADMIN", "SUPER_ADMIN"]
        assert {a.id for a in inv.of("app_assignment").values() if a.app_id == app.id} >= {
            f"{app.id}:USER:{new['id']}",
            f"{app.id}:GROUP:{group['id']}",
        }
        tokens = [t for t in inv.of("api_token").values() if t.name == "break glass"]
        assert len(tokens) == 1 and tokens[0].owner_id == new["id"]
        assert ("factor", f"user:{new['id']}") in {(k, i) for k, i, _ in await store.stale("acme")}

        assert (await InventorySync("acme", client, store).run())["state"] == "success"
        synced = await store.load("acme")
        okta = [r.type for r in sim.org.roles[new["id"]]] + [r.type for r in inv_sim.group_roles[group["id"]]]
        assert sorted(r.role_type for r in synced.roles_of_user(new["id"])) == sorted(okta)
        assert not [r for r in synced.of("role") if r.startswith("evt.")]  # Okta's own assignments replaced ours
        enrolled = sorted(f.factor_type for f in sim.org.users[new["id"]].factors)
        assert sorted(f.factor_type for f in synced.factors_of(new["id"])) == enrolled and "webauthn" in enrolled
        assert await store.stale("acme") == []
