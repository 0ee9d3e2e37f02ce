"""Groups API and admin roles of the simulator: membership changes, their System Log events, role reads."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from detector.sim import SimOrg, SimServer


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_membership_add_and_remove_write_okta_events_once(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg
) -> None:
    uid = org.add_user(login="alice@acme.com", first_name="Alice", last_name="Ng")["id"]
    status, group = await call(http, "POST", f"{server.url}/api/v1/groups", {"profile": {"name": "Quarantine"}})
    assert status == 200 and group["type"] == "OKTA_GROUP" and group["profile"]["name"] == "Quarantine"
    gid = group["id"]
    members = f"{server.url}/api/v1/groups/{gid}/users"
    for _ in range(2):  # the second assignment answers 204 and writes nothing
        assert (await call(http, "PUT", f"{members}/{uid}"))[0] == 204
    status, listed = await call(http, "GET", members)
    assert status == 200 and [u["id"] for u in listed] == [uid]
    groups = (await call(http, "GET", f"{server.url}/api/v1/users/{uid}/groups"))[1]
    assert {g["profile"]["name"] for g in groups} == {"Everyone", "Quarantine"}
    for _ in range(2):
        assert (await call(http, "DELETE", f"{members}/{uid}"))[0] == 204
    assert (await call(http, "GET", members))[1] == []

    events = [e for e in org.events_visible() if e["eventType"].startswith("group.user_membership")]
    assert [e["eventType"] for e in events] == ["group.user_membership.add", "group.user_membership.remove"]
    assert [(t["type"], t["id"]) for t in events[0]["target"]] == [("User", uid), ("UserGroup", gid)]
    assert [c.action for c in org.calls] == ["add_to_group"] * 2 + ["remove_from_group"] * 2


async def test_membership_errors(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    uid = org.add_user(login="bob@acme.com", first_name="Bob", last_name="K")["id"]
    gid = org.add_group("Quarantine")["id"]
    everyone = org.directory.groups["Everyone"].id
    status, body = await call(http, "DELETE", f"{server.url}/api/v1/groups/{everyone}/users/{uid}")
    assert status == 400 and body["errorCode"] == "E0000001"  # only OKTA_GROUP memberships change
    status, body = await call(http, "PUT", f"{server.url}/api/v1/groups/00gnothere/users/{uid}")
    assert status == 404 and body["errorCode"] == "E0000007"
    status, body = await call(http, "PUT", f"{server.url}/api/v1/groups/{gid}/users/00unobody")
    assert status == 404 and body["errorCode"] == "E0000007"
    status, body = await call(http, "POST", f"{server.url}/api/v1/groups", {"profile": {"name": "Quarantine"}})
    assert status == 400 and body["errorCode"] == "E0000001"


async def test_roles_are_read_per_user(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    admin = org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")["id"]
    plain = org.add_user(login="pat@acme.com", first_name="Pat", last_name="L")["id"]
    org.set_roles(admin, ["ORG_ADMIN", "HELP_DESK_ADMIN"])
    status, roles = await call(http, "GET", f"{server.url}/api/v1/users/{admin}/roles")
    assert status == 200 and [r["type"] for r in roles] == ["ORG_ADMIN", "HELP_DESK_ADMIN"]
    assert (await call(http, "GET", f"{server.url}/api/v1/users/{plain}/roles"))[1] == []
    with pytest.raises(ValueError, match="unknown admin role"):
        org.set_roles(plain, ["KING"])
