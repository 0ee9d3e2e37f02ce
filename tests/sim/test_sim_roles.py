"""Admin roles and OAuth scopes in the simulator: each missing permission is refused as Okta refuses it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from detector.sim import SimOrg, SimServer


async def call(server: SimServer, method: str, path: str, token: str) -> tuple[int, Any, Any]:
    headers = {"Authorization": token if token.startswith(("Bearer ", "DPoP ")) else f"SSWS {token}"}
    async with aiohttp.ClientSession() as s, s.request(method, server.url + path, headers=headers) as resp:
        body = await resp.json() if resp.status != 204 else None
        return resp.status, body, resp.headers


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("SUPER_ADMIN", {"sessions", "suspend", "expire_password", "reset_factors"}),
        ("USER_ADMIN", {"sessions", "suspend", "expire_password", "reset_factors"}),
        ("HELP_DESK_ADMIN", {"sessions", "expire_password", "reset_factors"}),
        ("READ_ONLY_ADMIN", set()),
        ("GROUP_MEMBERSHIP_ADMIN", set()),
    ],
)
async def test_an_api_token_may_do_what_its_owners_role_permits(
    server: SimServer, org: SimOrg, role: str, allowed: set[str]
) -> None:
    org.add_api_token("tok", admin_login="admin@acme.com", roles=[role])
    for op in ("sessions", "suspend", "expire_password", "reset_factors"):
        uid = org.add_user(login=f"{op}@acme.com")["id"]
        events = len(org.events_visible())
        path = f"/api/v1/users/{uid}/sessions" if op == "sessions" else f"/api/v1/users/{uid}/lifecycle/{op}"
        status, body, _ = await call(server, "DELETE" if op == "sessions" else "POST", path, "tok")
        if op in allowed:
            assert status in (200, 204), (op, body)
            continue
        assert status == 403 and body["errorCode"] == "E0000006", (op, body)
        assert body["errorSummary"] == "You do not have permission to perform the requested action"
        assert org.users[uid].status == "ACTIVE" and len(org.events_visible()) == events
        assert org.calls[-1].status == 403 and org.calls[-1].user_id == uid  # recorded: it was attempted


async def test_reads_follow_the_role_too(server: SimServer, org: SimOrg) -> None:
    org.add_api_token("reports", roles=["REPORT_ADMIN"])
    org.add_api_token("members", roles=["GROUP_MEMBERSHIP_ADMIN"])
    assert (await call(server, "GET", "/api/v1/logs", "reports"))[0] == 200
    status, body, _ = await call(server, "GET", "/api/v1/users", "reports")
    assert status == 403 and body["errorCode"] == "E0000006"
    assert (await call(server, "GET", "/api/v1/users", "members"))[0] == 200
    assert (await call(server, "GET", "/api/v1/logs", "members"))[0] == 403


async def test_me_is_the_tokens_owner_and_roles_lists_its_assignments(server: SimServer, org: SimOrg) -> None:
    org.add_api_token("desk", admin_login="desk@acme.com", roles=["HELP_DESK_ADMIN", "READ_ONLY_ADMIN"])
    status, me, _ = await call(server, "GET", "/api/v1/users/me", "desk")
    assert status == 200 and me["profile"]["login"] == "desk@acme.com" and me["id"].startswith("00u")
    assert "desk@acme.com" not in {u.login for u in org.users.values()}  # not a directory user: nothing changed
    status, roles, _ = await call(server, "GET", f"/api/v1/users/{me['id']}/roles", "desk")
    assert status == 200
    assert [(r["type"], r["label"], r["status"], r["assignmentType"]) for r in roles] == [
        ("HELP_DESK_ADMIN", "Help Desk Administrator", "ACTIVE", "USER"),
        ("READ_ONLY_ADMIN", "Read Only Administrator", "ACTIVE", "USER"),
    ]
    assert roles[0]["_links"]["assignee"]["href"].endswith(f"/api/v1/users/{me['id']}")


async def test_only_a_super_admin_reads_another_users_roles(server: SimServer, org: SimOrg) -> None:
    uid = org.add_user(login="ann@acme.com")["id"]
    org.add_api_token("ann-token", admin_login="ann@acme.com", roles=["ORG_ADMIN"])
    org.add_api_token("desk", roles=["HELP_DESK_ADMIN"])
    org.add_api_token("root")
    status, body, _ = await call(server, "GET", f"/api/v1/users/{uid}/roles", "desk")
    assert status == 403 and body["errorCode"] == "E0000006"
    status, roles, _ = await call(server, "GET", f"/api/v1/users/{uid}/roles", "root")
    assert status == 200 and [r["type"] for r in roles] == ["ORG_ADMIN"]
    assert (await call(server, "GET", "/api/v1/users/00unobody/roles", "root"))[0] == 404


async def test_a_revoked_token_is_refused_with_e0000011(server: SimServer, org: SimOrg) -> None:
    org.add_api_token("tok")
    assert (await call(server, "GET", "/api/v1/logs", "tok"))[0] == 200
    org.revoke_api_token("tok")
    status, body, _ = await call(server, "GET", "/api/v1/logs", "tok")
    assert status == 401 and body["errorCode"] == "E0000011"


def test_an_unknown_role_is_refused(org: SimOrg) -> None:
    with pytest.raises(ValueError, match="unknown admin role"):
        org.add_api_token("tok", roles=["SUPER_ADMINN"])


async def test_a_token_without_the_scope_gets_okta_insufficient_scope_challenge(server: SimServer, org: SimOrg) -> None:
    app = org.add_service_app("0oaread", {"keys": []}, ["okta.users.read"])
    token = org.issue_access_token(app, frozenset({"okta.users.read"}), None)
    uid = org.add_user(login="bob@acme.com")["id"]
    assert (await call(server, "GET", f"/api/v1/users/{uid}", f"Bearer {token.value}"))[0] == 200
    status, body, headers = await call(server, "DELETE", f"/api/v1/users/{uid}/sessions", f"Bearer {token.value}")
    assert status == 403 and body["errorCode"] == "E0000006"
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=")
    assert 'error="insufficient_scope"' in challenge and 'scope="okta.users.manage"' in challenge
    assert f'resource="/api/v1/users/{uid}/sessions"' in challenge
    assert org.calls[-1].action == "clear_sessions" and org.calls[-1].status == 403
    status, _, _ = await call(server, "GET", "/api/v1/users/me", f"Bearer {token.value}")
    assert status == 404  # a service app is no user


async def test_users_are_listed_a_page_at_a_time(server: SimServer, org: SimOrg) -> None:
    org.add_api_token("tok")
    ids = [org.add_user(login=f"u{i}@acme.com")["id"] for i in range(3)]
    org.add_user(login="gone@acme.com", status="DEPROVISIONED")
    status, page, headers = await call(server, "GET", "/api/v1/users?limit=2", "tok")
    assert status == 200 and [u["id"] for u in page] == ids[:2]
    nxt = next(link for link in headers.getall("Link") if 'rel="next"' in link)
    path = nxt[nxt.index("/api/v1/users") : nxt.index(">")]
    status, page, headers = await call(server, "GET", path, "tok")
    assert [u["id"] for u in page] == ids[2:] and not any('rel="next"' in h for h in headers.getall("Link"))
    status, body, _ = await call(server, "GET", "/api/v1/users?limit=zero", "tok")
    assert status == 400 and body["errorCode"] == "E0000053"
