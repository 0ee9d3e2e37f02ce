"""OktaClient against the Okta simulator over real HTTP: SSWS, pages, users, enforcement, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from okta_support import SSWS_TOKEN, Sim

from detector.okta import (
    OktaApiError,
    OktaAuthError,
    OktaClient,
    OktaNotFound,
    Priority,
    SswsAuth,
)
from detector.sim import SimOrg, SimServer


def _event(i: int) -> dict:
    return {
        "eventType": "user.session.start",
        "displayMessage": f"User login to Okta #{i}",
        "severity": "INFO",
        "actor": {"id": "00u1", "type": "User", "alternateId": "alice@acme.com", "displayName": "Alice"},
        "outcome": {"result": "SUCCESS"},
        "client": {"ipAddress": "203.0.113.7"},
    }


async def test_ssws_happy_path_with_sim_server() -> None:
    org = SimOrg(name="acme", seed=0)
    org.add_api_token(SSWS_TOKEN, name="reader")
    user = org.add_user(login="alice@acme.com", first_name="Alice", last_name="Ng")
    server = SimServer(org, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with OktaClient(server.url, SswsAuth(SSWS_TOKEN)) as client:
            got = await client.get_user(user["id"])
            assert got["id"] == user["id"] and got["profile"]["login"] == "alice@acme.com"
            by_login = await client.get_user("alice@acme.com")  # '@' is URL-quoted on the way
            assert by_login["id"] == user["id"]
            assert client.budget.snapshot()["user_get"]["limit"] == 2000
    finally:
        await server.stop()


async def test_ssws_bad_token_is_auth_error_without_the_token(sim: Sim) -> None:
    bad = "00WRONGsecretTOKEN"
    async with OktaClient(sim.url, SswsAuth(bad)) as client:
        with pytest.raises(OktaAuthError) as info:
            await client.fetch_log_page()
    err = info.value
    assert err.status == 401 and err.error_code == "E0000011"
    assert err.request_id and err.request_id in str(err)
    for text in (str(err), repr(err), repr(client), repr(client.auth)):
        assert bad not in text and SSWS_TOKEN not in text
    assert len(sim.requests()) == 1  # a bad SSWS token is not retried


async def test_fetch_log_page_follows_next_links(sim: Sim, client: OktaClient) -> None:
    for i in range(5):
        sim.org.append(_event(i))
    page = await client.fetch_log_page(limit=2)
    assert page.next_url and page.next_url.startswith(sim.url + "/api/v1/logs?")
    assert page.request_id
    seen = list(page.events)
    url = page.next_url
    while True:
        page = await client.fetch_log_page(url)
        assert page.next_url is not None  # polling queries always have a next link
        if not page.events:
            break
        seen += page.events
        url = page.next_url
    assert [e["displayMessage"] for e in seen] == [f"User login to Okta #{i}" for i in range(5)]
    assert len({e["uuid"] for e in seen}) == 5
    # the empty page's next link is still usable: new events show up there
    sim.org.append(_event(5))
    later = await client.fetch_log_page(page.next_url)
    assert [e["displayMessage"] for e in later.events] == ["User login to Okta #5"]
    assert later.raw_events == [orjson.dumps(e) for e in later.events]
    first = sim.requests("/api/v1/logs")[0]
    assert first.status == 200


async def test_fetch_log_page_since_and_empty_page(sim: Sim, client: OktaClient) -> None:
    sim.org.append(_event(0))
    page = await client.fetch_log_page(since=datetime.now(UTC) + timedelta(hours=1), limit=10)
    assert page.events == [] and page.raw_events == [] and page.next_url
    page = await client.fetch_log_page(since=datetime.now(UTC) - timedelta(hours=1))
    assert len(page.events) == 1


async def test_fetch_log_page_input_validation(client: OktaClient) -> None:
    with pytest.raises(ValueError):
        await client.fetch_log_page("https://evil.example.com/api/v1/logs?after=x")
    with pytest.raises(ValueError):
        await client.fetch_log_page(since=datetime(2024, 1, 1))  # naive: ambiguous
    with pytest.raises(ValueError):
        await client.fetch_log_page(limit=5000)


async def test_user_reads(sim: Sim, client: OktaClient) -> None:
    user = sim.org.add_user(login="bob@acme.com", first_name="Bob", last_name="Li", groups=["Admins"])
    groups = await client.list_user_groups(user["id"])
    assert {g["profile"]["name"] for g in groups} >= {"Everyone", "Admins"}
    with pytest.raises(OktaNotFound) as info:
        await client.get_user("00unosuchuser")
    assert info.value.error_code == "E0000007" and info.value.status == 404
    with pytest.raises(OktaNotFound):
        await client.get_user("../../logs")  # quoted into one path segment, not a traversal
    assert len(sim.requests("/api/v1/users/00unosuchuser")) == 1  # 404 not retried


async def test_enforcement_calls_reach_the_org(sim: Sim, client: OktaClient) -> None:
    user = sim.org.add_user(login="carol@acme.com", first_name="Carol", last_name="Ng")
    uid = user["id"]
    sim.org.open_session(uid)
    await client.clear_user_sessions(uid, forget_devices=True)
    assert await client.lifecycle(uid, "suspend") is None
    with pytest.raises(OktaApiError) as info:
        await client.lifecycle(uid, "suspend")  # suspending a suspended user
    err = info.value
    assert type(err) is OktaApiError
    assert (err.status, err.error_code) == (400, "E0000001")
    assert "E0000001" in str(err) and SSWS_TOKEN not in str(err)
    assert await client.lifecycle(uid, "unsuspend") is None
    expired = await client.lifecycle(uid, "expire_password")
    assert expired is not None and expired["status"] == "PASSWORD_EXPIRED"
    assert [(c.action, c.user_id, c.status) for c in sim.org.calls] == [
        ("clear_sessions", uid, 204),
        ("suspend", uid, 200),
        ("suspend", uid, 400),
        ("unsuspend", uid, 200),
        ("expire_password", uid, 200),
    ]
    assert len(sim.requests(f"/api/v1/users/{uid}/lifecycle/suspend")) == 2  # the 400 was not retried
    assert (await client.get_user(uid))["status"] == "PASSWORD_EXPIRED"
    with pytest.raises(ValueError):
        await client.lifecycle(uid, "delete")  # type: ignore[arg-type]


async def test_activate_without_email_returns_activation_link(sim: Sim, client: OktaClient) -> None:
    user = sim.org.add_user(login="dan@acme.com", status="STAGED")
    out = await client.lifecycle(user["id"], "activate", send_email=False)
    assert out is not None and "activationUrl" in out


async def test_session_is_reused_and_closed(sim: Sim) -> None:
    client = OktaClient(sim.url, SswsAuth(SSWS_TOKEN))
    await client.fetch_log_page()
    session = client._shared.session
    await client.fetch_log_page()
    assert client._shared.session is session and session is not None
    view = client.with_priority(Priority.SYNC)
    await view.fetch_log_page()  # a priority view sends on the same session, through the same budget
    assert view._shared.session is session and view.budget is client.budget
    assert (view.priority, client.priority) == (Priority.SYNC, Priority.TAIL)
    client.auth = SswsAuth("00rotated")  # a rotated secret reaches the view too
    assert view.auth is client.auth
    await view.aclose()
    assert session.closed and client._shared.session is None
