"""detector.okta.permissions against the simulator: reads tried, roles read, scopes asked for, nothing acted on."""

from __future__ import annotations

from typing import Any

import pytest
from okta_support import SSWS_TOKEN, Sim

from detector.okta import OktaAuthError, OktaClient, OktaTokenError, PrivateKeyJwtAuth, SswsAuth
from detector.okta.permissions import (
    ROLE_PERMITS,
    AdminRoles,
    Operation,
    Outcome,
    admin_roles,
    check_scopes,
    probe_read,
    role_check,
)

APP = "0oaPermissions"


def oauth_client(sim: Sim, key: tuple[bytes, dict[str, Any]], granted: list[str], asked: list[str]) -> OktaClient:
    pem, jwk = key
    sim.org.add_service_app(client_id=APP, jwks={"keys": [jwk]}, scopes=granted)
    return OktaClient(sim.url, PrivateKeyJwtAuth(sim.url, APP, pem, jwk["kid"], asked), timeout=5.0, max_retries=0)


def ssws_client(sim: Sim, token: str) -> OktaClient:
    return OktaClient(sim.url, SswsAuth(token), timeout=5.0, max_retries=0)


async def test_a_403_for_a_missing_scope_names_the_scope(sim: Sim, client_key: tuple[bytes, dict[str, Any]]) -> None:
    async with oauth_client(sim, client_key, ["okta.logs.read"], ["okta.logs.read"]) as client:
        with pytest.raises(OktaAuthError) as info:
            await client.request_json("GET", "/api/v1/users", params={"limit": "1"})
    assert info.value.status == 403 and info.value.error_code == "E0000006"
    assert info.value.required_scope == "okta.users.read"
    assert "insufficient_scope: needs okta.users.read" in str(info.value)


async def test_an_admin_role_refusal_names_no_scope(sim: Sim) -> None:
    sim.org.add_api_token("reports", roles=["REPORT_ADMIN"])
    async with ssws_client(sim, "reports") as client:
        with pytest.raises(OktaAuthError) as info:
            await client.request_json("GET", "/api/v1/users")
    assert info.value.error_code == "E0000006" and info.value.required_scope is None


async def test_token_scopes_asks_the_token_endpoint_only(sim: Sim, client_key: tuple[bytes, dict[str, Any]]) -> None:
    asked = ["okta.logs.read", "okta.users.read"]
    async with oauth_client(sim, client_key, asked, asked) as client:
        assert await client.token_scopes() == frozenset(asked)
        assert await client.token_scopes(["okta.users.read"]) == frozenset({"okta.users.read"})
        assert client.auth.granted_scopes == frozenset(asked)  # the daemon's own token is untouched
        with pytest.raises(OktaTokenError) as info:
            await client.token_scopes(["okta.users.manage"])
        assert info.value.error == "invalid_scope" and "okta.users.manage" in (info.value.error_description or "")
    assert sim.requests("/api/") == []
    async with ssws_client(sim, SSWS_TOKEN) as client:
        with pytest.raises(ValueError, match="only an OAuth credential"):
            await client.token_scopes()


async def test_reads_are_tried_one_record_at_a_time(sim: Sim) -> None:
    sim.org.add_api_token("reports", roles=["REPORT_ADMIN"])
    async with ssws_client(sim, "reports") as client:
        assert (await probe_read(client, Operation.READ_LOGS)).outcome is Outcome.OK
        users = await probe_read(client, Operation.READ_USERS)
    assert users.outcome is Outcome.MISSING and users.error_code == "E0000006"
    assert users.error_summary == "You do not have permission to perform the requested action"
    assert [(s.method, s.path) for s in sim.requests("/api/")] == [("GET", "/api/v1/logs"), ("GET", "/api/v1/users")]
    sim.org.revoke_api_token("reports")
    async with ssws_client(sim, "reports") as client:
        revoked = await probe_read(client, Operation.READ_LOGS)
    assert revoked.outcome is Outcome.ERROR and revoked.error_code == "E0000011"
    assert "revoked" in revoked.detail and "reports" not in revoked.detail + str(revoked.error_summary)


async def test_the_tokens_owner_and_its_roles_are_read(sim: Sim) -> None:
    sim.org.add_api_token("desk", admin_login="desk@acme.com", roles=["HELP_DESK_ADMIN"])
    async with ssws_client(sim, "desk") as client:
        held = await admin_roles(client)
    assert held == AdminRoles("desk@acme.com", ("HELP_DESK_ADMIN",))
    assert role_check(held, Operation.CLEAR_SESSIONS).outcome is Outcome.OK
    assert "perhaps for some groups only" in role_check(held, Operation.RESET_FACTORS).detail
    suspend = role_check(held, Operation.SUSPEND)
    assert suspend.outcome is Outcome.MISSING and "HELP_DESK_ADMIN" in suspend.detail
    assert all(s.method == "GET" for s in sim.requests("/api/")) and sim.org.calls == []


def test_roles_beyond_the_table_are_not_guessed() -> None:
    custom = role_check(AdminRoles("a@acme.com", ("READ_ONLY_ADMIN", "CUSTOM")), Operation.SUSPEND)
    assert custom.outcome is Outcome.ERROR and "CUSTOM" in custom.detail
    assert role_check(AdminRoles("a@acme.com", ("CUSTOM", "ORG_ADMIN")), Operation.SUSPEND).outcome is Outcome.OK
    none = role_check(AdminRoles("a@acme.com", ()), Operation.CLEAR_SESSIONS)
    assert none.outcome is Outcome.MISSING and "holds no admin role" in none.detail
    assert all(not permits & {Operation.READ_LOGS, Operation.READ_USERS} for permits in ROLE_PERMITS.values())


ACTING = [Operation.CLEAR_SESSIONS, Operation.SUSPEND]


@pytest.mark.parametrize(
    ("granted", "asked", "expected"),
    [
        (["okta.users.read", "okta.users.manage"], ["okta.users.manage"], ("ok", "granted to the app", ACTING)),
        (["okta.users.read"], ["okta.users.read"], ("missing", "not granted to the app", ACTING)),
        (["okta.users.read", "okta.users.manage"], ["okta.users.read"], ("missing", "add it to `scopes`", ACTING)),
        (["okta.users.read"], ["okta.users.read", "okta.users.manage"], ("missing", "no token is issued", ACTING)),
    ],
)
async def test_scopes_are_asked_for_one_by_one(
    sim: Sim, client_key: tuple[bytes, dict[str, Any]], granted: list[str], asked: list[str], expected: tuple
) -> None:
    async with oauth_client(sim, client_key, granted, asked) as client:
        checks = await check_scopes(client, ACTING)
    outcome, detail, operations = expected
    assert [c.scope for c in checks] == ["okta.users.manage"]
    assert checks[0].check.outcome.value == outcome and detail in checks[0].check.detail
    assert checks[0].operations == frozenset(operations)
    if outcome == "missing" and "`scopes`" not in detail:
        assert checks[0].check.error_code == "invalid_scope"
    assert sim.requests("/api/") == [] and sim.org.calls == []


async def test_a_configured_scope_the_app_lacks_breaks_every_call(
    sim: Sim, client_key: tuple[bytes, dict[str, Any]]
) -> None:
    asked = ["okta.users.manage", "okta.groups.manage"]
    async with oauth_client(sim, client_key, ["okta.users.manage"], asked) as client:
        checks = {c.scope: c for c in await check_scopes(client, [Operation.CLEAR_SESSIONS])}
    assert checks["okta.users.manage"].check.outcome is Outcome.OK
    groups = checks["okta.groups.manage"]
    assert groups.check.outcome is Outcome.MISSING and groups.operations == {Operation.CLEAR_SESSIONS}
    assert groups.check.error_summary == "The following scopes are not allowed: okta.groups.manage"
