"""test_connection against the simulator: what each credential may do, what that disables, and no side effect."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detector import connection
from detector.connection import ConnectionReport
from detector.inventory.sync import PART_NAMES
from detector.ops.metrics import Metrics
from detector.tenants import OktaClients
from tests.connection.conftest import APP, ENFORCE_TOKEN, READ_TOKEN, Sim, oauth, ssws, tenant

pytestmark = pytest.mark.usefixtures("tokens")
ALL_ACTIONS = ["clear_sessions", "expire_password", "reset_factors", "suspend"]


async def check(sim: Sim, enforce: dict[str, Any] | None = None, **response: Any) -> ConnectionReport:
    async with OktaClients() as clients:
        return await connection.test_connection(tenant(sim, enforce, **response), clients)


def outcomes(report: ConnectionReport) -> dict[tuple[str, str], str]:
    """Polling's and the actions' permissions (the inventory's: ``inventory``)."""
    return {(r.credential, r.permission): r.check.outcome.value for r in report.results if not r.inventory_part}


def inventory(report: ConnectionReport) -> dict[str, tuple[str, str]]:
    return {r.inventory_part: (r.check.outcome.value, r.check.detail) for r in report.results if r.inventory_part}


def gauge(metrics: Metrics, credential: str, permission: str) -> float | None:
    labels = {"tenant": "acme", "credential": credential, "permission": permission}
    return metrics.registry.get_sample_value("itdr_tenant_permission_ok", labels)


async def test_full_access_is_ok_and_says_so_in_json_and_metrics(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN)
    report = await check(sim, ssws("ITDR_TEST_ENFORCE"), actions=ALL_ACTIONS, allow_suspend=True)
    assert report.ok and report.disabled == ()
    assert report.enabled_actions == tuple(ALL_ACTIONS)
    assert outcomes(report) == {
        ("read", "read_logs"): "ok",
        ("read", "read_users"): "ok",
        ("enforce", "read_users"): "ok",  # suspend reads the user's status first
        **{("enforce", action): "ok" for action in ALL_ACTIONS},
    }
    assert {part: outcome for part, (outcome, _) in inventory(report).items()} == dict.fromkeys(PART_NAMES, "ok")
    data = report.to_dict()
    assert data["ok"] is True and data["credentials"]["enforce"]["roles"] == ["SUPER_ADMIN"]
    assert data["inventory_skipped"] == []
    assert data["credentials"]["enforce"]["principal"] == "admin@acme.example.com"
    text = orjson.dumps(data).decode()
    assert READ_TOKEN not in text and ENFORCE_TOKEN not in text
    metrics = Metrics()
    report.set_metrics(metrics)
    assert gauge(metrics, "read", "read_logs") == 1.0 and gauge(metrics, "enforce", "suspend") == 1.0


async def test_a_revoked_reader_is_an_error_that_disables_polling(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.revoke_api_token(READ_TOKEN)
    report = await check(sim)
    logs = next(r for r in report.results if r.permission == "read_logs")
    assert logs.check.outcome.value == "error" and logs.check.error_code == "E0000011"
    assert logs.check.error_summary == "Invalid token provided"
    assert logs.disables == ("system_log",) and report.disabled == ("system_log",) and not report.ok
    item = next(p for p in report.to_dict()["permissions"] if p["permission"] == "read_logs")
    assert item["result"] == "error" and item["error"] == {"code": "E0000011", "summary": "Invalid token provided"}
    metrics = Metrics()
    report.set_metrics(metrics)
    assert gauge(metrics, "read", "read_logs") == 0.0


async def test_a_read_only_admin_cannot_clear_sessions_or_expire_passwords(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN, roles=["READ_ONLY_ADMIN"])
    sim.org.add_api_token(ENFORCE_TOKEN, admin_login="auditor@acme.com", roles=["READ_ONLY_ADMIN"])
    report = await check(sim, ssws("ITDR_TEST_ENFORCE"), actions=["clear_sessions", "expire_password"])
    assert outcomes(report) == {
        ("read", "read_logs"): "ok",
        ("read", "read_users"): "ok",
        ("enforce", "clear_sessions"): "missing",
        ("enforce", "expire_password"): "missing",
    }
    missing = [r for r in report.results if r.check.outcome.value == "missing" and r.credential == "enforce"]
    assert all("READ_ONLY_ADMIN" in r.check.detail and "auditor@acme.com" in r.check.detail for r in missing)
    assert report.disabled == ("clear_sessions", "expire_password")
    assert report.credentials["enforce"].roles == ("READ_ONLY_ADMIN",)


async def test_a_help_desk_admin_may_do_all_but_suspend(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN, admin_login="desk@acme.com", roles=["HELP_DESK_ADMIN"])
    report = await check(sim, ssws("ITDR_TEST_ENFORCE"), actions=ALL_ACTIONS, allow_suspend=True)
    enforce = {p: o for (c, p), o in outcomes(report).items() if c == "enforce"}
    assert enforce == {
        "read_users": "ok",
        "clear_sessions": "ok",
        "expire_password": "ok",
        "reset_factors": "ok",
        "suspend": "missing",
    }
    assert report.disabled == ("suspend",)
    metrics = Metrics()
    report.set_metrics(metrics)
    assert gauge(metrics, "enforce", "suspend") == 0.0 and gauge(metrics, "enforce", "clear_sessions") == 1.0


async def test_an_oauth_enforcer_without_users_manage_disables_every_action(
    sim: Sim, app_key: tuple[Any, dict[str, Any]]
) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_service_app(APP, {"keys": [app_key[1]]}, ["okta.users.read"], require_dpop=True)
    actions = ["clear_sessions", "reset_factors"]
    report = await check(
        sim, oauth(app_key, ["okta.users.read"]), actions=actions, protected_groups=["Okta Administrators"]
    )
    enforce = [r for r in report.results if r.credential == "enforce"]
    assert [(r.permission, r.check.outcome.value) for r in enforce] == [
        ("read_users", "ok"),  # protected groups are checked by reading the user's groups
        ("okta.users.manage", "missing"),
    ]
    manage = enforce[1]
    assert manage.check.error_code == "invalid_scope" and "not granted to the app" in manage.check.detail
    assert manage.disables == tuple(actions) and report.disabled == tuple(actions)
    assert report.credentials["enforce"].principal == APP


async def test_an_oauth_enforcer_asking_for_a_scope_it_lacks_gets_no_token(
    sim: Sim, app_key: tuple[Any, dict[str, Any]]
) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_service_app(APP, {"keys": [app_key[1]]}, ["okta.users.read"])
    enforce = oauth(app_key, ["okta.users.read", "okta.users.manage"])
    report = await check(sim, enforce, actions=["suspend"], allow_suspend=True)
    users = next(r for r in report.results if r.credential == "enforce" and r.permission == "read_users")
    assert users.check.outcome.value == "missing" and users.check.error_code == "invalid_scope"
    assert users.check.error_summary == "The following scopes are not allowed: okta.users.manage"
    assert report.disabled == ("suspend",)


async def test_only_what_the_policy_enables_is_checked(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN, roles=["HELP_DESK_ADMIN"])
    report = await check(sim, ssws("ITDR_TEST_ENFORCE"), actions=["clear_sessions", "suspend"])  # no allow_suspend
    assert report.enabled_actions == ("clear_sessions",) and report.ok
    assert [r.permission for r in report.results if r.credential == "enforce"] == ["clear_sessions"]
    alert_only = await check(sim)
    assert alert_only.ok and {r.credential for r in alert_only.results} == {"read"}
    assert "enforce" not in alert_only.to_dict()["credentials"]


async def test_a_reader_without_users_is_reported_but_disables_nothing(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN, roles=["REPORT_ADMIN"])
    report = await check(sim)
    users = next(r for r in report.results if r.permission == "read_users")
    assert users.check.outcome.value == "missing" and users.check.error_code == "E0000006"
    assert users.disables == () and report.ok


async def test_a_secret_that_cannot_be_read_is_an_error_not_a_crash(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.org.add_api_token(READ_TOKEN)
    monkeypatch.delenv("ITDR_TEST_ENFORCE")
    report = await check(sim, ssws("ITDR_TEST_ENFORCE"))
    sessions = next(r for r in report.results if r.credential == "enforce")
    assert sessions.check.outcome.value == "error" and "cannot load the credential" in sessions.check.detail
    assert report.disabled == ("clear_sessions",)


async def test_nothing_in_the_org_changes(sim: Sim, app_key: tuple[Any, dict[str, Any]]) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN, roles=["HELP_DESK_ADMIN"])
    sim.org.add_service_app(APP, {"keys": [app_key[1]]}, ["okta.users.read", "okta.users.manage"])
    org = sim.org
    events = org.events_visible()
    users = {
        uid: (org.directory.user_json(u, sim.url), dict(u.sessions), list(u.factors)) for uid, u in org.users.items()
    }
    policy = {"actions": ALL_ACTIONS, "allow_suspend": True, "protected_groups": ["Staff"]}
    for enforce in (ssws("ITDR_TEST_ENFORCE"), oauth(app_key, ["okta.users.manage"])):
        assert (await check(sim, enforce, **policy)).enabled_actions == tuple(ALL_ACTIONS)
    assert org.events_visible() == events
    assert {uid: (org.directory.user_json(u, sim.url), u.sessions, u.factors) for uid, u in org.users.items()} == users
    assert org.calls == []
    assert {m for m, p in sim.seen if p != "/oauth2/v1/token"} == {"GET"}
    assert {p for _, p in sim.seen} >= {"/api/v1/logs", "/api/v1/users", "/api/v1/users/me", "/oauth2/v1/token"}


async def test_inventory_reads_refused_are_lines_of_what_the_sync_skips_not_a_failure(sim: Sim) -> None:
    """A reader that may read users but no other user's roles, groups' roles or API tokens: each part said."""
    sim.org.add_api_token(READ_TOKEN, roles=["READ_ONLY_ADMIN"])
    report = await check(sim)
    parts = inventory(report)
    assert report.ok and report.disabled == ()  # polling works: the sync's skips do not fail the check
    assert parts["users"][0] == parts["users_deprovisioned"][0] == parts["groups"][0] == "ok"
    assert parts["user_roles"][0] == "missing" and "the sync skips it" in parts["user_roles"][1]
    assert {p for p, (o, _) in parts.items() if o != "ok"} == set(report.inventory_skipped)
    assert "user_roles" in report.inventory_skipped and "users" not in report.inventory_skipped
    item = next(p for p in report.to_dict()["permissions"] if p["permission"] == "inventory.user_roles")
    assert item["result"] == "missing" and item["disables"] == [] and item["inventory_skips"] == ["user_roles"]
    assert item["error"]["code"] == "E0000006"


async def test_a_refused_role_holders_list_is_read_user_by_user(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.inject_fault("GET", "/api/v1/iam/assignees/users", "status", times=1, status=404)
    parts = inventory(await check(sim))
    assert parts["user_roles"][0] == "ok" and "every user's roles" in parts["user_roles"][1]


async def test_no_inventory_no_inventory_reads(sim: Sim) -> None:
    sim.org.add_api_token(READ_TOKEN)
    async with OktaClients() as clients:
        config = tenant(sim)
        off = config.model_copy(update={"inventory": config.inventory.model_copy(update={"enabled": False})})
        report = await connection.test_connection(off, clients)
    assert inventory(report) == {} and not [p for _, p in sim.seen if p.startswith("/api/v1/groups")]
