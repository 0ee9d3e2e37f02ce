"""The public routes verify their callers themselves, through the real admin HTTP server: Slack's signature
(forged, replayed, too old: refused; valid: the button counts), and signed one-time links (tampered,
expired, reused: refused; a GET never decides)."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from detector.respond.ledger import Status

from .conftest import SLACK_SECRET, Clock, Daemon, Sim, clears, push_bombing, response_config, running

APPROVE = {"modes": {"clear_sessions": "approve"}}


def slack_body(verb: str, value: str, user: str = "U024BE7LH") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice"},
        "actions": [{"action_id": verb, "block_id": "itdr", "value": value, "type": "button"}],
    }
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


def slack_headers(body: bytes, at: float, secret: str = SLACK_SECRET) -> dict[str, str]:
    ts = str(int(at))
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={mac}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def slack(daemon: Daemon, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with daemon.http.post(daemon.base + "/api/v1/slack/actions", data=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_slack_buttons_need_a_fresh_genuine_signature_and_count_once(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")
    sim.org.set_roles(victim["id"], ["SUPER_ADMIN"])  # two approvers: a replay must not be the second
    push_bombing(sim, victim, time.time() - 120)
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        rid = asked.approval["request_id"]
        body = slack_body("approve", rid)

        forged = slack_headers(body, time.time(), secret="not-our-signing-secret-000000000")
        assert (await slack(daemon, body, forged))[0] == 401
        tampered = slack_headers(body, time.time())
        assert (await slack(daemon, slack_body("approve", rid, user="U0EVIL"), tampered))[0] == 401
        old = slack_headers(body, time.time() - 6 * 60)
        assert (await slack(daemon, body, old))[0] == 401
        assert (await slack(daemon, body, {**tampered, "X-Slack-Request-Timestamp": "soon"}))[0] == 401
        assert (await slack(daemon, body, {"Content-Type": "application/x-www-form-urlencoded"}))[0] == 401
        assert (await daemon.api("GET", f"/api/v1/actions/{asked.action_id}"))[1]["approval"]["approved_by"] == []

        valid = slack_headers(body, time.time())
        status, answer = await slack(daemon, body, valid)
        assert status == 200 and answer["response_type"] == "ephemeral"
        assert "1 more approver needed" in answer["text"]
        status, answer = await slack(daemon, body, valid)  # the same request again: ignored
        assert status == 200 and answer["text"] == "This request was already handled."
        stored = (await daemon.api("GET", f"/api/v1/actions/{asked.action_id}"))[1]
        assert stored["status"] == "awaiting_approval" and stored["approval"]["approved_by"] == ["slack:U024BE7LH"]

        second = slack_body("approve", rid, user="U0BOB")
        status, answer = await slack(daemon, second, slack_headers(second, time.time()))
        assert status == 200 and "cleared all sessions" in answer["text"]
        assert len(clears(sim)) == 1

        press = slack_body("deny", rid, user="U0BOB")
        status, answer = await slack(daemon, press, slack_headers(press, time.time() + 1))
        assert status == 200 and answer["text"].startswith("Not done: the request is already decided")


def tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_signed_links_work_once_untampered_and_unexpired(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    clock = Clock()
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config, clock) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        link = asked.approval["approve_url"]

        async with daemon.http.get(link) as resp:  # what a link preview fetches: a page, no decision
            page = await resp.text()
            assert resp.status == 200 and resp.headers["Referrer-Policy"] == "no-referrer"
        assert "victim@acme.com" in page and 'method="post"' in page and '<input name="by"' in page
        assert (await daemon.api("GET", f"/api/v1/actions/{asked.action_id}"))[1]["status"] == "awaiting_approval"

        other = asked.approval["request_id"].replace("apr-", "apr-0")
        for bad in (
            tampered(link, sig="A" * 43),
            tampered(link, exp=str(int(clock()) + 10 * 86_400)),
            tampered(link, step="1"),
            link.replace(asked.approval["request_id"], other),
            link.replace("/approve?", "/deny?"),
            link.split("?")[0] + "?sig=x",
        ):
            async with daemon.http.post(bad, data={"by": "mallory"}) as resp:
                assert resp.status == 403, bad
            async with daemon.http.get(bad) as resp:
                assert resp.status == 403, bad
        async with daemon.http.post(link, data={"by": ""}) as resp:
            assert resp.status == 400  # a name is needed; the link is not spent
        async with daemon.http.post(link, data={"by": "dana <script>"}) as resp:
            page = await resp.text()
            assert resp.status == 200 and "approved by link:dana &lt;script&gt;" in page
        assert len(clears(sim)) == 1
        async with daemon.http.post(link, data={"by": "dana"}) as resp:
            assert resp.status == 409 and "already used" in await resp.text()

        done = (await daemon.api("GET", f"/api/v1/actions/{asked.action_id}"))[1]
        assert done["status"] == "done" and done["approval"]["approved_by"] == ["link:dana <script>"]


async def test_an_expired_link_is_refused(sim: Sim, tmp_path: Path, monkeypatch):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    push_bombing(sim, victim, time.time() - 120)
    clock = Clock()
    config = response_config(sim, tmp_path / "data", monkeypatch, APPROVE)
    async with running(config, clock) as daemon:
        asked = await daemon.record_in(Status.AWAITING_APPROVAL)
        clock.advance(31 * 60)
        async with daemon.http.post(asked.approval["deny_url"], data={"by": "dana"}) as resp:
            assert resp.status == 403 and "expired" in await resp.text()
    assert clears(sim) == []
