"""System Log API of the simulator over real HTTP: cursors, late events, bounded queries, filters."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from detector.sim import SimOrg, SimServer
from detector.sim.timefmt import iso_ms

DAY = 86400.0


def ev(event_type: str = "user.session.start", published: float | None = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": event_type,
        "outcome": {"result": "SUCCESS", "reason": None},
        "actor": {"id": "00u1", "type": "User", "alternateId": "alice@acme.com"},
        "client": {"ipAddress": "10.0.0.1"},
        "severity": "INFO",
    }
    if published is not None:
        event["published"] = iso_ms(published)
    event.update(extra)
    return event


async def fetch(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(url, params=params or None) as resp:
        return resp.status, await resp.json(), resp


def next_url(resp: aiohttp.ClientResponse) -> str | None:
    link = resp.links.get("next")
    return str(link["url"]) if link else None


async def test_polling_empty_page_still_has_self_and_next(server: SimServer, http: aiohttp.ClientSession) -> None:
    status, body, resp = await fetch(http, f"{server.url}/api/v1/logs")
    assert status == 200 and body == []
    assert "self" in resp.links and next_url(resp) is not None
    assert len(resp.headers.getall("Link")) == 2
    assert "after=" in (next_url(resp) or "")


async def test_next_link_picks_up_later_events_and_keeps_params(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    org.append(ev(uuid="e1"))
    since = iso_ms(clock() - 60)
    status, body, resp = await fetch(
        http, f"{server.url}/api/v1/logs", since=since, limit="5", filter='eventType eq "user.session.start"'
    )
    assert [e["uuid"] for e in body] == ["e1"]
    nxt = next_url(resp)
    assert nxt and "limit=5" in nxt and "since=" in nxt and "filter=" in nxt
    status, body, resp2 = await fetch(http, nxt)
    assert body == [] and next_url(resp2) == nxt  # caught up: same cursor
    clock.advance(5)
    org.append(ev(uuid="e2"))
    org.append(ev("user.session.end", uuid="e3"))  # filtered out
    org.append(ev(uuid="e4"))
    status, body, resp3 = await fetch(http, nxt)
    assert status == 200 and [e["uuid"] for e in body] == ["e2", "e4"]
    status, body, _ = await fetch(http, next_url(resp3) or "")
    assert body == []


async def test_many_pages_with_concurrent_appends_nothing_skipped_or_repeated(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    expected = []
    for i in range(53):
        org.append(ev(uuid=f"a{i}"))
        expected.append(f"a{i}")

    async def writer() -> None:
        for i in range(60):
            clock.advance(0.5)
            org.append(ev(uuid=f"b{i}"), persist_delay=(i % 4) * 0.7)
            expected.append(f"b{i}")
            await asyncio.sleep(0)

    async def reader() -> list[str]:
        seen: list[str] = []
        url: str | None = f"{server.url}/api/v1/logs?limit=7"
        empty_after_writer = 0
        while url and empty_after_writer < 2:
            status, body, resp = await fetch(http, url)
            assert status == 200
            seen.extend(e["uuid"] for e in body)
            url = next_url(resp)
            if not body and writer_task.done():
                clock.advance(5)  # let any late event persist
                empty_after_writer += 1
        return seen

    writer_task = asyncio.create_task(writer())
    seen = await reader()
    await writer_task
    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert sorted(seen) == sorted(expected), "an event was skipped"
    assert seen == [e["uuid"] for e in org.events_visible()]


async def test_late_event_arrives_after_its_delay_in_persistence_order(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    t0 = clock()
    org.append(ev(uuid="early", published=t0))
    org.append(ev(uuid="late", published=t0 - 30), persist_delay=10)
    clock.advance(1)
    org.append(ev(uuid="next", published=t0 + 1))
    status, body, resp = await fetch(http, f"{server.url}/api/v1/logs")
    assert status == 200 and [e["uuid"] for e in body] == ["early", "next"]
    clock.advance(9)
    status, body, _ = await fetch(http, next_url(resp) or "")
    assert [e["uuid"] for e in body] == ["late"]
    assert body[0]["published"] == iso_ms(t0 - 30)
    assert [e["uuid"] for e in org.events_visible()] == ["early", "next", "late"]


async def test_bounded_request_ordered_by_published_and_finite(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    t0 = clock() - 3600
    for i, offset in enumerate([50, 10, 40, 20, 30, 5]):
        org.append(ev(uuid=f"u{i}", published=t0 + offset))
    org.append(ev(uuid="outside", published=t0 + 500))
    params = {"since": iso_ms(t0), "until": iso_ms(t0 + 100), "limit": "4"}
    status, page1, resp = await fetch(http, f"{server.url}/api/v1/logs", **params)
    assert [e["uuid"] for e in page1] == ["u5", "u1", "u3", "u4"]
    nxt = next_url(resp)
    assert nxt is not None
    status, page2, resp2 = await fetch(http, nxt)
    assert status == 200 and [e["uuid"] for e in page2] == ["u2", "u0"]
    assert next_url(resp2) is None and "self" in resp2.links
    status, desc, _ = await fetch(http, f"{server.url}/api/v1/logs", sortOrder="DESCENDING", **params)
    assert [e["uuid"] for e in desc] == ["u0", "u2", "u4", "u3"]


async def test_limit_default_and_range(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    for i in range(130):
        org.append(ev(uuid=f"x{i}"))
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs")
    assert status == 200 and len(body) == 100
    for bad in ("1001", "-1", "ten"):
        status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", limit=bad)
        assert status == 400 and body["errorCode"] == "E0000053"


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ('eventType eq "user.session.start"', {"a", "c"}),
        ('eventType sw "user.session"', {"a", "b", "c"}),
        ('outcome.result eq "FAILURE" and eventType eq "user.session.start"', {"c"}),
        ('(actor.id eq "00u2" or client.ipAddress co "192.168") and not (eventType eq "user.session.end")', {"c", "d"}),
        ('target.id eq "00g1"', {"d"}),
        ("outcome.reason pr", {"c"}),
    ],
)
async def test_filter(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, flt: str, expected: set[str]
) -> None:
    org.append(ev(uuid="a"))
    org.append(ev("user.session.end", uuid="b"))
    org.append(ev(uuid="c", outcome={"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}, actor={"id": "00u2"}))
    org.append(
        ev(
            "group.user_membership.add",
            uuid="d",
            client={"ipAddress": "192.168.1.9"},
            target=[{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}],
        )
    )
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", filter=flt)
    assert status == 200
    assert {e["uuid"] for e in body} == expected


@pytest.mark.parametrize(
    ("flt", "code"),
    [
        ('published gt "2024-01-01T00:00:00Z"', "E0000053"),
        ('eventType eq "x" and', "E0000053"),
        ("eventType eq", "E0000053"),
        ('eventType zz "x"', "E0000053"),
        ('(eventType eq "x"', "E0000053"),
        ('debugContext.debugData.requestUri co "/api"', "E0000031"),
    ],
)
async def test_bad_filter_is_400(server: SimServer, http: aiohttp.ClientSession, flt: str, code: str) -> None:
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", filter=flt)
    assert status == 400 and body["errorCode"] == code
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


async def test_q_keywords_all_must_match(server: SimServer, http: aiohttp.ClientSession, org: SimOrg) -> None:
    org.append(ev(uuid="a", displayMessage="User login to Okta"))
    org.append(ev(uuid="b", displayMessage="User logout from Okta"))
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", q="LOGIN okta")
    assert [e["uuid"] for e in body] == ["a"]
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", q=" ".join(["w"] * 11))
    assert status == 400 and body["errorCode"] == "E0000053"
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", q="x" * 41)
    assert status == 400


async def test_since_limits_and_retention(
    server: SimServer, http: aiohttp.ClientSession, org: SimOrg, clock: Any
) -> None:
    now = clock()
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", since=iso_ms(now - 181 * DAY))
    assert status == 400
    assert body["errorCode"] == "E0000053"
    assert body["errorSummary"] == ("Invalid parameter: The since parameter is over 180 days prior to the current day.")
    org.append(ev(uuid="ancient", published=now - 100 * DAY))
    org.append(ev(uuid="recent", published=now - 10 * DAY))
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", since=iso_ms(now - 150 * DAY), until=iso_ms(now))
    assert status == 200 and [e["uuid"] for e in body] == ["recent"]
    # Default since is 7 days before until: the 10-day-old event is outside a bounded default window.
    status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", until=iso_ms(now))
    assert body == []


async def test_bad_params_are_400(server: SimServer, http: aiohttp.ClientSession) -> None:
    for params in ({"after": "!!not-a-cursor"}, {"after": "Yjox"}, {"since": "yesterday"}, {"sortOrder": "SIDEWAYS"}):
        status, body, _ = await fetch(http, f"{server.url}/api/v1/logs", **params)
        assert status == 400, params
        assert body["errorCode"] == "E0000053"
