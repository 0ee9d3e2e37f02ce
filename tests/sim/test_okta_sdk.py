"""The official Okta Python SDK (okta==3.4.6) talking to the simulator: proof a real client works.

okta 3.4.6 reads `testing.testingDisableHttpsCheck` only from the top level of its config, which a
dict passed to `Client()` can't reach (it is nested under `client`), so the HTTPS check is also
switched off through the SDK's documented environment variable.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import pytest
from okta.client import Client as OktaClient

from detector.sim import RateLimits, SimOrg, SimServer

TOKEN = "00sdk-test-token-value-0000000000000000000"


@pytest.fixture
def org() -> SimOrg:
    # Real clock: the SDK sleeps X-Rate-Limit-Reset - Date + 1 seconds on a 429, in real time.
    return SimOrg(name="acme", seed=3, clock=time.time, rate_limits=RateLimits(logs=2, window_seconds=1.0))


@pytest.fixture
async def okta(server: SimServer, org: SimOrg, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OktaClient]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    org.add_api_token(TOKEN, name="sdk")
    yield OktaClient(
        {
            "orgUrl": server.url,
            "token": TOKEN,
            "testing": {"testingDisableHttpsCheck": True},
            "rateLimit": {"maxRetries": 2},
        }
    )


def after_of(link_header: str) -> str:
    match = re.search(r"<[^>]*[?&]after=([^&>]+)[^>]*>;\s*rel=\"next\"", link_header)
    assert match, link_header
    return match.group(1)


async def test_sdk_lists_log_events_and_follows_the_cursor(okta: OktaClient, org: SimOrg) -> None:
    for i in range(5):
        org.append(
            {
                "eventType": "user.session.start",
                "uuid": f"00000000-0000-4000-8000-00000000000{i}",
                "outcome": {"result": "SUCCESS", "reason": None},
                "severity": "INFO",
            }
        )
    events, resp, err = await okta.list_log_events(limit=3)
    assert err is None
    assert [e.uuid for e in events][:3] == [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    assert events[0].event_type == "user.session.start" and events[0].outcome.result == "SUCCESS"
    events2, resp2, err = await okta.list_log_events(limit=3, after=after_of(resp.headers["Link"]))
    assert err is None
    assert [e.uuid[-1] for e in events2] == ["3", "4"]
    # The third call in the window gets a 429 (logs bucket: 2 per second here); the SDK waits
    # X-Rate-Limit-Reset - Date + 1 seconds and retries successfully.
    started = time.monotonic()
    events3, _, err = await okta.list_log_events(limit=3, after=after_of(resp2.headers["Link"]))
    assert err is None and events3 == []
    assert time.monotonic() - started >= 1.0


async def test_sdk_get_user_and_suspend(okta: OktaClient, org: SimOrg) -> None:
    uid = org.add_user(login="alice@acme.com", first_name="Alice", last_name="Ng")["id"]
    user, _, err = await okta.get_user(uid)
    assert err is None
    assert user.id == uid and user.status.value == "ACTIVE" and user.profile.login == "alice@acme.com"
    result = await okta.suspend_user(uid)
    assert result[-1] is None
    assert org.users[uid].status == "SUSPENDED"
    assert org.calls[-1].action == "suspend" and org.calls[-1].status == 200
    assert org.events_visible()[-1]["eventType"] == "user.lifecycle.suspend"
    again = await okta.suspend_user(uid)  # a second suspend is refused as Okta does
    assert again[-1] is not None and "E0000001" in str(again[-1])
    user, _, err = await okta.get_user("nobody@acme.com")
    assert user is None and "E0000007" in str(err)


async def test_sdk_reads_the_tokens_owner_its_roles_and_users(okta: OktaClient, org: SimOrg) -> None:
    uid = org.add_user(login="erin@acme.com", first_name="Erin", last_name="F")["id"]
    users, _, err = await okta.list_users(limit=1)
    assert err is None and [u.id for u in users] == [uid]
    me, _, err = await okta.get_user("me")
    assert err is None and me.profile.login == "admin@acme.example.com"
    roles, _, err = await okta.list_assigned_roles_for_user(me.id)
    assert err is None
    assert [(r.actual_instance.type.value, r.actual_instance.assignment_type.value) for r in roles] == [
        ("SUPER_ADMIN", "USER")
    ]


async def test_sdk_sees_a_help_desk_token_refused_a_suspend(server: SimServer, org: SimOrg, monkeypatch) -> None:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    org.add_api_token(TOKEN + "desk", admin_login="desk@acme.com", roles=["HELP_DESK_ADMIN"])
    uid = org.add_user(login="frank@acme.com", first_name="Frank", last_name="G")["id"]
    desk = OktaClient({"orgUrl": server.url, "token": TOKEN + "desk", "testing": {"testingDisableHttpsCheck": True}})
    result = await desk.suspend_user(uid)
    assert result[-1] is not None and "E0000006" in str(result[-1])
    assert org.users[uid].status == "ACTIVE"
    assert (await desk.expire_password(uid))[-1] is None  # a help desk admin may force a password reset
