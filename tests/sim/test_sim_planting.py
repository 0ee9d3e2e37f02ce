"""Planted misconfigurations as a sync reads them over HTTP (each against the default it replaces), the
logged directory changes and their System Log events, and a scenario's `inventory` section."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from openapi_core import OpenAPI

from detector.sim import SimOrg, SimServer
from detector.sim.org_population import build_directory
from detector.sim.planting import PLANTS
from detector.sim.scenario import ScenarioError, ScenarioRunner, load_scenario, parse_scenario
from detector.sim.timefmt import parse_iso
from tests.sim.openapi_wire import exchange

DAY = 86400


@pytest.fixture
def org(clock: Any) -> SimOrg:
    org = SimOrg(name="acme", seed=9, clock=clock)
    build_directory(org, users=150, groups=50, seed=9)
    return org


async def read(http: aiohttp.ClientSession, server: SimServer, path: str, **query: str) -> Any:
    async with http.get(server.url + path, params=query or None) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _sign_on_rule(http: aiohttp.ClientSession, server: SimServer) -> Any:
    (policy,) = await read(http, server, "/api/v1/policies", type="OKTA_SIGN_ON")
    return (await read(http, server, f"/api/v1/policies/{policy['id']}/rules"))[0]


async def _console_rule(http: aiohttp.ClientSession, server: SimServer) -> Any:
    """The Admin Console's first rule, found as a sync finds it: the saasure app's access policy link."""
    apps = await read(http, server, "/api/v1/apps", limit="200")
    href = next(a for a in apps if a["name"] == "saasure")["_links"]["accessPolicy"]["href"]
    return (await read(http, server, href.removeprefix(server.url) + "/rules"))[0]


async def _token(http: aiohttp.ClientSession, server: SimServer, token_id: str) -> Any:
    return next(t for t in await read(http, server, "/api/v1/api-tokens") if t["id"] == token_id)


async def _super_admins(http: aiohttp.ClientSession, server: SimServer, org: SimOrg) -> set[str]:
    held = set()
    for uid in org.directory.users:
        if any(r["type"] == "SUPER_ADMIN" for r in await read(http, server, f"/api/v1/users/{uid}/roles")):
            held.add(uid)
    return held


async def test_policy_and_setting_plants_replace_good_defaults(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg
) -> None:
    plant = org.inventory.plant
    (password,) = await read(http, server, "/api/v1/policies", type="PASSWORD")
    assert password["settings"]["password"]["complexity"]["minLength"] == 12
    (enroll,) = await read(http, server, "/api/v1/policies", type="MFA_ENROLL")
    required = {a["key"] for a in enroll["settings"]["authenticators"] if a["enroll"]["self"] == "REQUIRED"}
    assert "okta_verify" in required
    assert (await read(http, server, "/api/v1/threats/configuration"))["action"] == "block"
    assert (await _sign_on_rule(http, server))["actions"]["signon"]["session"]["maxSessionLifetimeMinutes"] == 720
    constraints = (await _console_rule(http, server))["actions"]["appSignOn"]["verificationMethod"]["constraints"]
    assert constraints[0]["possession"]["phishingResistant"] == "REQUIRED"

    plant.weak_password_policy(min_length=6)
    plant.mfa_enrollment_optional()
    plant.threat_insight("audit")
    plant.long_session(minutes=0)
    plant.admin_console_without_phishing_resistance()
    (password,) = await read(http, server, "/api/v1/policies", type="PASSWORD")
    assert password["settings"]["password"]["complexity"]["minLength"] == 6
    (enroll,) = await read(http, server, "/api/v1/policies", type="MFA_ENROLL")
    required = {a["key"] for a in enroll["settings"]["authenticators"] if a["enroll"]["self"] == "REQUIRED"}
    assert required == {"okta_password"}
    assert (await read(http, server, "/api/v1/threats/configuration"))["action"] == "audit"
    plant.threat_insight("none")
    assert (await read(http, server, "/api/v1/threats/configuration"))["action"] == "none"
    assert (await _sign_on_rule(http, server))["actions"]["signon"]["session"]["maxSessionLifetimeMinutes"] == 0
    constraints = (await _console_rule(http, server))["actions"]["appSignOn"]["verificationMethod"]["constraints"]
    assert all(c.get("possession", {}).get("phishingResistant") != "REQUIRED" for c in constraints)
    with pytest.raises(ValueError, match="ThreatInsight action"):
        plant.threat_insight("off")
    assert org.events_visible() == []  # planting is the org as found, not a change


async def test_token_plants(server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any) -> None:
    plant = org.inventory.plant
    for token in await read(http, server, "/api/v1/api-tokens"):
        if token["name"] != "itdr-test":  # the population's own tokens are restricted and expire
            assert token["network"]["connection"] == "ZONE" and token["expiresAt"]
    anywhere = await _token(http, server, plant.unrestricted_token())
    assert anywhere["network"] == {"connection": "ANYWHERE"} and anywhere["tokenWindow"] == "P30D"
    forever = await _token(http, server, plant.token_without_expiry())
    assert "expiresAt" not in forever and "tokenWindow" not in forever
    stale = await _token(http, server, plant.stale_token(days=120))
    assert parse_iso(stale["lastUpdated"]) == pytest.approx(clock() - 120 * DAY, abs=1)
    assert parse_iso(stale["expiresAt"]) > clock()  # unused, yet still valid
    owners = {t["userId"] for t in (anywhere, forever, stale)}
    assert all(any(r.type == "SUPER_ADMIN" for r in org.roles[o]) for o in owners)


async def test_admin_and_user_plants(server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any) -> None:
    plant = org.inventory.plant
    before = await _super_admins(http, server, org)
    added = plant.super_admins(count=3)
    assert await _super_admins(http, server, org) == before | set(added) and len(before) == 4
    no_mfa = plant.admin_without_mfa(role="ORG_ADMIN")
    assert [r["type"] for r in await read(http, server, f"/api/v1/users/{no_mfa}/roles")] == ["ORG_ADMIN"]
    assert await read(http, server, f"/api/v1/users/{no_mfa}/factors") == []
    bare = plant.user_without_factors()
    assert await read(http, server, f"/api/v1/users/{bare}/factors") == []
    idle = plant.inactive_admin(role="SUPER_ADMIN", days=120)
    user = await read(http, server, f"/api/v1/users/{idle}")
    assert user["status"] == "ACTIVE" and parse_iso(user["lastLogin"]) == pytest.approx(clock() - 120 * DAY, abs=1)
    assert len({*added, no_mfa, bare, idle}) == 6  # each plant takes a user of its own


def test_plants_by_name_and_in_a_bare_org(clock: Any) -> None:
    org = SimOrg(seed=1, clock=clock)
    made = org.inventory.plant.apply("super_admins", count=2)
    assert isinstance(made, list) and all(org.roles[u][0].type == "SUPER_ADMIN" for u in made)
    for kind in PLANTS:
        org.inventory.plant.apply(kind)  # every plant works with its defaults, even with no directory
    with pytest.raises(ValueError, match="unknown plant"):
        org.inventory.plant.apply("open_the_gates")
    with pytest.raises(ValueError, match="takes count"):
        org.inventory.plant.apply("super_admins", days=3)


async def test_logged_changes_write_okta_events_naming_the_record(
    openapi: OpenAPI, server: SimServer, http: aiohttp.ClientSession, org: SimOrg
) -> None:
    inv = org.inventory
    new = inv.create_user("new.hire@acme.com", "New", "Hire")["id"]
    group = org.directory.groups["Engineering"].id
    app = next(a for a in inv.apps.by_id.values() if a.kind == "saml")
    assert inv.add_member(group, new) and not inv.add_member(group, new)  # a second add changes nothing
    inv.grant_role(new, "SUPER_ADMIN")
    inv.grant_group_role(group, "READ_ONLY_ADMIN")
    inv.assign_user_to_app(app.id, new)
    other_group = next(g.id for g in org.directory.groups.values() if g.type == "OKTA_GROUP" and g.id not in app.groups)
    assert inv.assign_group_to_app(app.id, other_group)
    secret = inv.create_api_token("Provisioning", "new.hire@acme.com", network="ANYWHERE")
    token_id = org.api_tokens[secret].id
    inv.revoke_api_token(token_id)
    inv.enroll_factor(new, "webauthn")
    inv.reset_factors(new)
    inv.revoke_role(new, "SUPER_ADMIN")
    req, resp = await exchange(http, server.url, "GET", "/api/v1/logs", {"limit": "1000"})
    openapi.validate_response(req, resp)
    events = json.loads(resp.data)
    seen = [(e["eventType"], [(t["type"], t["id"]) for t in e["target"]]) for e in events]
    expected = [
        ("user.lifecycle.create", [("User", new)]),
        ("group.user_membership.add", [("User", new), ("UserGroup", group)]),
        ("user.account.privilege.grant", [("User", new)]),
        ("group.privilege.grant", [("UserGroup", group)]),
        ("application.user_membership.add", [("User", new), ("AppInstance", app.id)]),
        ("group.application_assignment.add", [("UserGroup", other_group), ("AppInstance", app.id)]),
        ("system.api_token.create", [("Token", token_id)]),
        ("system.api_token.revoke", [("Token", token_id)]),
        ("user.mfa.factor.activate", [("User", new)]),
        ("user.mfa.factor.deactivate", [("User", new)]),
        ("user.account.privilege.revoke", [("User", new)]),
    ]
    assert seen == expected
    by_type = {e["eventType"]: e for e in events}
    assert by_type["user.account.privilege.grant"]["debugContext"]["debugData"]["privilegeGranted"] == (
        "Super Administrator"
    )
    assert by_type["group.privilege.grant"]["debugContext"]["debugData"]["privilegeGranted"] == (
        "Read Only Administrator"
    )
    assert by_type["system.api_token.create"]["actor"]["id"] == new  # an owner creates its own token
    granter = by_type["group.user_membership.add"]["actor"]
    assert granter["type"] == "User" and any(r.type == "SUPER_ADMIN" for r in org.roles[granter["id"]])
    assert [r["type"] for r in await read(http, server, f"/api/v1/groups/{group}/roles")] == ["READ_ONLY_ADMIN"]
    assert secret not in org.api_tokens


def test_scenario_inventory_section_is_validated() -> None:
    doc = load_scenario("misconfigured_org").model_dump()
    doc["inventory"]["plant"].append({"kind": "open_the_gates"})
    with pytest.raises(ScenarioError, match=r"inventory\.plant.*open_the_gates"):
        parse_scenario(doc)
    doc["inventory"]["plant"][-1] = {"kind": "stale_token", "minutes": 3}
    with pytest.raises(ScenarioError, match=r"inventory\.plant.*stale_token takes name, days"):
        parse_scenario(doc)


async def test_a_scenario_furnishes_and_plants_once(org: SimOrg, clock: Any) -> None:
    bare = SimOrg(seed=2, clock=clock)
    doc = load_scenario("misconfigured_org").model_dump()
    doc["background"]["rate"] = 0
    scenario = parse_scenario(doc)
    runner = ScenarioRunner(bare, scenario, time_scale=0.01)
    attacks = await runner.run()
    assert attacks and len(bare.users) == 60 and len(bare.directory.groups) == 60
    supers = [uid for uid, held in bare.roles.items() if any(r.type == "SUPER_ADMIN" for r in held)]
    assert len(supers) >= 4 + 3 + 1  # the population's, three planted, the inactive one
    assert bare.inventory.security.threat_insight.action == "audit"
    assert bare.inventory.security.default("PASSWORD").settings["password"]["complexity"]["minLength"] == 6
    tokens = len(bare.api_tokens)
    await ScenarioRunner(bare, scenario, time_scale=0.01).run()  # a second run: furnished already
    assert len(bare.api_tokens) == tokens and len(bare.directory.groups) == 60
