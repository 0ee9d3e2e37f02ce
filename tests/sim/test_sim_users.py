"""Users API of the simulator: reads, lifecycle status rules, sessions, and the System Log they write."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from detector.sim import SimOrg, SimServer


async def call(http: aiohttp.ClientSession, method: str, url: str) -> tuple[int, Any, Any]:
    async with http.request(method, url) as resp:
        body = await resp.json() if resp.status != 204 else None
        return resp.status, body, resp.headers


@pytest.mark.parametrize(
    ("start", "action", "status", "code", "end"),
    [
        ("ACTIVE", "suspend", 200, None, "SUSPENDED"),
        ("SUSPENDED", "suspend", 400, "E0000001", "SUSPENDED"),
        ("STAGED", "suspend", 400, "E0000001", "STAGED"),
        ("SUSPENDED", "unsuspend", 200, None, "ACTIVE"),
        ("ACTIVE", "unsuspend", 400, "E0000001", "ACTIVE"),
        ("STAGED", "activate", 200, None, "ACTIVE"),
        ("DEPROVISIONED", "activate", 200, None, "ACTIVE"),
        ("ACTIVE", "activate", 403, "E0000016", "ACTIVE"),
        ("ACTIVE", "deactivate", 200, None, "DEPROVISIONED"),
        ("SUSPENDED", "deactivate", 200, None, "DEPROVISIONED"),
        ("LOCKED_OUT", "unlock", 200, None, "ACTIVE"),
        ("SUSPENDED", "unlock", 403, "E0000038", "SUSPENDED"),
        ("ACTIVE", "expire_password", 200, None, "PASSWORD_EXPIRED"),
        ("ACTIVE", "reset_factors", 200, None, "ACTIVE"),
    ],
)
async def test_lifecycle_status_rules(
    server: SimServer,
    http: aiohttp.ClientSession,
    org: SimOrg,
    start: str,
    action: str,
    status: int,
    code: str | None,
    end: str,
) -> None:
    uid = org.add_user(login="alice@acme.com", first_name="Alice", last_name="Ng", status=start)["id"]
    before = len(org.events_visible())
    got, body, headers = await call(http, "POST", f"{server.url}/api/v1/users/{uid}/lifecycle/{action}")
    assert got == status, body
    assert org.users[uid].status == end
    assert org.calls[-1].action == action and org.calls[-1].status == status
    assert org.calls[-1].user_id == uid
    if code:
        assert body["errorCode"] == code
        assert len(org.events_visible()) == before  # a refused call writes no event
        return
    if action == "expire_password":
        assert body["id"] == uid and body["status"] == "PASSWORD_EXPIRED"
    elif action == "reset_factors":
        assert org.users[uid].factors == []
    else:
        assert body == {}
    event = org.events_visible()[-1]
    assert (
        event["eventType"]
        == {
            "suspend": "user.lifecycle.suspend",
            "unsuspend": "user.lifecycle.unsuspend",
            "activate": "user.lifecycle.activate",
            "deactivate": "user.lifecycle.deactivate",
            "unlock": "user.account.unlock_by_admin",
            "expire_password": "user.account.expire_password",
            "reset_factors": "user.mfa.factor.reset_all",
        }[action]
    )
    assert event["transaction"]["id"] == headers["X-Okta-Request-Id"]
    assert event["debugContext"]["debugData"]["requestUri"] == f"/api/v1/users/{uid}/lifecycle/{action}"
    assert event["target"][0]["id"] == uid and event["target"][0]["type"] == "User"


async def test_ssws_actions_carry_the_token_id(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    token_id = next(iter(org.api_tokens.values())).id
    uid = org.add_user(login="bob@acme.com", first_name="Bob", last_name="K")["id"]
    await call(http, "POST", f"{server.url}/api/v1/users/{uid}/lifecycle/suspend")
    event = org.events_visible()[-1]
    assert event["transaction"]["detail"]["requestApiTokenId"] == token_id
    assert event["actor"]["type"] == "User" and event["client"]["id"] is None
    assert org.calls[-1].credential_id == token_id


async def test_oauth_actions_carry_the_client_id(server: SimServer, org: SimOrg) -> None:
    app = org.add_service_app(
        client_id="0oaactionworker", jwks={"keys": []}, scopes=["okta.users.manage"], name="ITDR actions"
    )
    token = org.issue_access_token(app, frozenset({"okta.users.manage"}), None)
    uid = org.add_user(login="carol@acme.com", first_name="Carol", last_name="D")["id"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token.value}"}) as http:
        assert (await call(http, "POST", f"{server.url}/api/v1/users/{uid}/lifecycle/suspend"))[0] == 200
        assert (await call(http, "GET", f"{server.url}/api/v1/users/{uid}"))[0] == 200  # manage allows reads
    event = org.events_visible()[-1]
    assert event["client"]["id"] == "0oaactionworker"
    assert event["actor"] == {
        "id": "0oaactionworker",
        "type": "PublicClientApp",
        "alternateId": "0oaactionworker",
        "displayName": "ITDR actions",
        "detailEntry": None,
    }
    assert "requestApiTokenId" not in event["transaction"]["detail"]
    assert org.calls[-1].credential_id == "0oaactionworker"


async def test_clear_sessions_writes_clear_and_one_end_per_session(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg
) -> None:
    uid = org.add_user(login="dave@acme.com", first_name="Dave", last_name="E")["id"]
    sessions = {org.open_session(uid), org.open_session(uid)}
    status, _, headers = await call(
        http, "DELETE", f"{server.url}/api/v1/users/{uid}/sessions?oauthTokens=true&forgetDevices=true"
    )
    assert status == 204
    assert org.users[uid].sessions == {}
    events = org.events_visible()[-3:]
    assert [e["eventType"] for e in events] == ["user.session.clear", "user.session.end", "user.session.end"]
    assert {e["transaction"]["id"] for e in events} == {headers["X-Okta-Request-Id"]}
    assert {e["debugContext"]["debugData"]["EndedSessionId"] for e in events[1:]} == sessions
    assert {e["authenticationContext"]["externalSessionId"] for e in events[1:]} == sessions
    assert org.calls[-1].action == "clear_sessions" and org.calls[-1].status == 204
    # Clearing again: still 204, only the clear event.
    assert (await call(http, "DELETE", f"{server.url}/api/v1/users/{uid}/sessions"))[0] == 204
    assert org.events_visible()[-1]["eventType"] == "user.session.clear"


async def test_reads(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    user = org.add_user(login="erin@acme.com", first_name="Erin", last_name="F", groups=["Admins"])
    uid = user["id"]
    assert uid.startswith("00u") and len(uid) == 20
    for key in (
        "id",
        "status",
        "created",
        "activated",
        "statusChanged",
        "lastLogin",
        "lastUpdated",
        "passwordChanged",
        "type",
        "profile",
        "credentials",
        "_links",
    ):
        assert key in user
    status, body, _ = await call(http, "GET", f"{server.url}/api/v1/users/erin@acme.com")
    assert status == 200 and body["id"] == uid and body["profile"]["login"] == "erin@acme.com"
    assert body["_links"]["suspend"]["href"].endswith(f"/api/v1/users/{uid}/lifecycle/suspend")
    status, body, _ = await call(http, "GET", f"{server.url}/api/v1/users/erin")  # login shortname
    assert status == 200 and body["id"] == uid
    status, groups, _ = await call(http, "GET", f"{server.url}/api/v1/users/{uid}/groups")
    assert [g["profile"]["name"] for g in groups] == ["Everyone", "Admins"]
    assert groups[0]["type"] == "BUILT_IN" and groups[1]["type"] == "OKTA_GROUP"
    status, factors, _ = await call(http, "GET", f"{server.url}/api/v1/users/{uid}/factors")
    assert [f["factorType"] for f in factors] == ["push"]
    assert org.user_by_login("erin@acme.com") is org.users[uid]


async def test_unknown_user_and_action(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    for method, path in [
        ("GET", "/api/v1/users/00unobody"),
        ("GET", "/api/v1/users/00unobody/factors"),
        ("POST", "/api/v1/users/00unobody/lifecycle/suspend"),
        ("DELETE", "/api/v1/users/00unobody/sessions"),
    ]:
        status, body, _ = await call(http, method, server.url + path)
        assert status == 404 and body["errorCode"] == "E0000007", path
    uid = org.add_user(login="fay@acme.com", first_name="Fay", last_name="G")["id"]
    status, body, _ = await call(http, "POST", f"{server.url}/api/v1/users/{uid}/lifecycle/explode")
    assert status == 404 and body["errorCode"] == "E0000007"
    status, body, _ = await call(http, "GET", f"{server.url}/api/v1/users/{uid}/lifecycle/suspend")
    assert status == 405 and body["errorCode"] == "E0000022"
    assert [c.status for c in org.calls] == [404, 404]
