"""Local stand-ins for every destination, served over loopback HTTP, and incidents to send them.

Each stand-in is a real aiohttp server on 127.0.0.1 that answers the way the service does (Slack's
``{"ok": true, "ts", "channel"}``, a Workflows 202, PagerDuty's 202 ``Event processed``), checks what it
is sent, records it, and can be told to fail the next requests (``fail(status, body, headers)``).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from detector.config import parse_config
from detector.respond.channels.http import new_session
from detector.respond.incidents import IncidentBook
from detector.tenants import channels_for

T0 = 1_700_000_000.0
SLACK_TOKEN = "xoxb-0000-test-token"
ROUTING_KEY = "R" * 31 + "1"  # PagerDuty's integration keys are 32 characters
ROUTING_KEY_CRITICAL = "C" * 31 + "2"
SIGNING_KEY = os.urandom(32)
SIGNING_SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()

HOSTILE_LOGINS = [
    "<!channel>",
    "<https://evil|click>",
    "[click](https://evil)",
    "\x1b[2J\x1b]0;pwned\x07admin",
    "alice\nFAKE HIGH-CONFIDENCE",
]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finding(i: int, tier: str = "high", login: str = "alice@acme.com", summary: str = "", **kw: Any) -> dict[str, Any]:
    base = {
        "detection": "mfa_push_bombing",
        "title": "MFA push bombing",
        "tenant": "acme",
        "principal": "00u1alice",
        "principal_login": login,
        "entity": "user:00u1alice",
        "tier": tier,
        "confidence": 70,
        "dedup_key": f"acme:mfa_push_bombing:00u1alice:{i}",
        "revision": 0,
        "time": iso(T0 + i),
        "summary": summary or f"{i + 5} push denials in 10 minutes",
        "mitre": ["T1621"],
        "evidence": [{"class": "a", "label": "5 denials in 10 min", "points": 40, "event_uuids": ["e1"]}],
        "dampeners": [{"label": "known VPN", "points": -10}],
        "actions": ["clear_sessions"],
        "where": {"ip": f"185.220.101.{i % 250}", "asn": 9009, "as_org": "M247", "country": "Romania", "city": None},
    }
    return {**base, **kw}


def incident(findings: Iterable[dict[str, Any]] | None = None, actions: Iterable[dict[str, Any]] = ()) -> Any:
    """A real Incident (IncidentBook), so ``to_dict()`` has exactly the shape channels get."""
    book = IncidentBook()
    current = None
    for f in findings if findings is not None else [finding(0)]:
        current = book.apply(f) or current
    assert current is not None
    for action in actions:
        book.record_action(current.tenant, current.entity, action)
    return current, book


def view(inc: Any, links: bool = True) -> dict[str, Any]:
    data = inc.to_dict()
    if links:
        data["links"] = {"incident": f"https://itdr.example/incidents/{inc.key}"}
    return data


def awaiting(action_id: str = "act-1", request_id: str = "req-1") -> dict[str, Any]:
    return {
        "action_id": action_id,
        "action": "clear_sessions",
        "status": "awaiting_approval",
        "detail": "needs 2 approvals",
        "principal_login": "alice@acme.com",
        "approval": {
            "request_id": request_id,
            "expires": iso(T0 + 3600),
            "approvers_needed": 2,
            "approved_by": ["bob@acme.com"],
            "approve_url": f"https://itdr.example/approve/{request_id}?sig=abc",
            "deny_url": f"https://itdr.example/deny/{request_id}?sig=abc",
        },
    }


def done(action_id: str = "act-1") -> dict[str, Any]:
    return {
        "action_id": action_id,
        "action": "clear_sessions",
        "status": "done",
        "detail": "sessions cleared",
        "principal_login": "alice@acme.com",
        "undo_url": f"https://itdr.example/undo/{action_id}?sig=abc",
    }


def hostile_incident() -> dict[str, Any]:
    """Everything an attacker reaches: hostile logins and labels, 5,000-character summaries, 80 findings,
    approvals and undos, a link that is not http(s)."""
    long = "A" * 2500 + "<!here>*bold*" + "\n" * 10 + "B" * 2500
    findings = [
        finding(
            i,
            tier=("high-confidence" if i == 79 else "high"),
            login=HOSTILE_LOGINS[i % len(HOSTILE_LOGINS)],
            summary=long if i % 2 else HOSTILE_LOGINS[i % len(HOSTILE_LOGINS)] + " " + long,
            title="Push accepted after MFA bombing <!channel>",
            evidence=[
                {"class": "a", "label": HOSTILE_LOGINS[j % 5] + "x" * 5000, "points": 40, "event_uuids": []}
                for j in range(30)
            ],
        )
        for i in range(80)
    ]
    inc, _ = incident(
        findings,
        actions=[{**awaiting(f"act-{i}", f"req-{i}"), "detail": HOSTILE_LOGINS[i % 5] * 200} for i in range(8)]
        + [{**done(f"undo-{i}"), "detail": "\x1b[31m" + "d" * 4000} for i in range(8)],
    )
    data = view(inc)
    data["links"]["other"] = "javascript:alert(1)"
    return data


# -- stand-ins --------------------------------------------------------------------------------------------


@dataclass
class Failure:
    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None  # Slack's API method it is for; None: the next request
    delay_s: float = 0.0  # answer this late


@dataclass
class StandIn:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def fail(
        self,
        status: int,
        body: Any = "",
        headers: dict[str, str] | None = None,
        method: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.failures.append(Failure(status, body, headers or {}, method, delay_s))

    async def failure(self, method: str | None = None) -> web.Response | None:
        f = next((f for f in self.failures if f.method in (None, method)), None)
        if f is None:
            return None
        self.failures.remove(f)
        await asyncio.sleep(f.delay_s)
        if isinstance(f.body, dict):
            return web.json_response(f.body, status=f.status, headers=f.headers)
        return web.Response(status=f.status, text=f.body, headers=f.headers)


@dataclass
class SlackApi(StandIn):
    """chat.postMessage and chat.update, as Slack's Web API answers them."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → the message as it stands
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # thread ts → replies

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if not m.get("thread_ts")]


@dataclass
class PagerDuty(StandIn):
    alerts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (routing key, dedup key)


@dataclass
class Receiver(StandIn):
    """A Standard Webhooks receiver verifying with the reference implementation, idempotent on webhook-id."""

    secret: str = SIGNING_SECRET
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)


async def _serve(aiohttp_server: Any, app: web.Application, stand_in: StandIn, path: str) -> None:
    server = await aiohttp_server(app)
    stand_in.url = str(server.make_url(path))


@pytest.fixture
async def session() -> AsyncIterator[Any]:
    async with new_session(timeout_s=2.0) as s:
        yield s


@pytest.fixture
async def slack_api(aiohttp_server: Any) -> SlackApi:
    api = SlackApi()

    async def call(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json()
        api.received.append({"method": method, "body": body, "auth": request.headers.get("Authorization")})
        failure = await api.failure(method)
        if failure is not None:
            return failure
        if request.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            ts = f"{1700000000 + len(api.received)}.{len(api.received):06d}"
            message = {**body, "ts": ts}
            api.messages[ts] = message
            if body.get("thread_ts"):
                if body["thread_ts"] not in api.messages:
                    return web.json_response({"ok": False, "error": "thread_not_found"})
                api.replies.setdefault(body["thread_ts"], []).append(message)
            return web.json_response({"ok": True, "channel": "C0SOC", "ts": ts, "message": message})
        if method == "chat.update":
            if body.get("ts") not in api.messages or body.get("channel") != "C0SOC":
                return web.json_response({"ok": False, "error": "message_not_found"})
            api.messages[body["ts"]] = {**api.messages[body["ts"]], **body}
            return web.json_response({"ok": True, "channel": "C0SOC", "ts": body["ts"], "text": body.get("text")})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    app = web.Application()
    app.router.add_post("/api/{method}", call)
    await _serve(aiohttp_server, app, api, "/api/")
    return api


@pytest.fixture
async def slack_webhook(aiohttp_server: Any) -> StandIn:
    hook = StandIn()

    async def receive(request: web.Request) -> web.Response:
        hook.received.append(await request.json())
        return await hook.failure() or web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/T0/B0/hooksecret", receive)
    await _serve(aiohttp_server, app, hook, "/services/T0/B0/hooksecret")
    return hook


@pytest.fixture
async def teams(aiohttp_server: Any) -> StandIn:
    workflow = StandIn()

    async def receive(request: web.Request) -> web.Response:
        if request.query.get("sig") != "workflowsig":
            return web.json_response({"error": {"code": "DirectApiAuthorizationRequired"}}, status=401)
        body = await request.json()
        workflow.received.append(body)
        failure = await workflow.failure()
        if failure is not None:
            return failure
        attachments = body.get("attachments")
        if body.get("type") != "message" or not isinstance(attachments, list) or not attachments:
            return web.json_response({"error": {"code": "TriggerInputSchemaMismatch"}}, status=400)
        if attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
            return web.json_response({"error": {"code": "TriggerInputSchemaMismatch"}}, status=400)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/workflows/abc/triggers/manual/paths/invoke", receive)
    await _serve(aiohttp_server, app, workflow, "/workflows/abc/triggers/manual/paths/invoke?sig=workflowsig")
    return workflow


def pagerduty_errors(event: dict[str, Any]) -> list[str]:
    """What the Events API v2 refuses, checked as its documentation states the fields."""
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    dedup = event.get("dedup_key")
    if not isinstance(dedup, str) or not 0 < len(dedup) <= 255:
        errors.append("'dedup_key' must be 1 to 255 characters")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        if not isinstance(payload.get("summary"), str) or not 0 < len(payload["summary"]) <= 1024:
            errors.append("'payload.summary' must be 1 to 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
        try:
            datetime.fromisoformat(str(payload.get("timestamp")).replace("Z", "+00:00"))
        except ValueError:
            errors.append("'payload.timestamp' is not ISO 8601")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("'payload.custom_details' must be an object")
        for link in event.get("links") or []:
            if not isinstance(link, dict) or not str(link.get("href", "")).startswith(("http://", "https://")):
                errors.append("'links' must hold {href, text}")
    if len(orjson.dumps(event)) > 512 * 1024:
        errors.append("event larger than 512 KB")
    return errors


@pytest.fixture
async def pagerduty(aiohttp_server: Any) -> PagerDuty:
    pd = PagerDuty()

    async def enqueue(request: web.Request) -> web.Response:
        event = await request.json()
        pd.received.append(event)
        failure = await pd.failure()
        if failure is not None:
            return failure
        errors = pagerduty_errors(event)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400
            )
        alert = pd.alerts.setdefault((event["routing_key"], event["dedup_key"]), {"status": "resolved"})
        if event["event_action"] == "trigger":
            triggers = alert.get("triggers", 0) + 1
            alert.update(status="triggered", severity=event["payload"]["severity"], triggers=triggers)
        elif event["event_action"] == "resolve":
            alert["status"] = "resolved"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}, status=202
        )

    app = web.Application()
    app.router.add_post("/v2/enqueue", enqueue)
    await _serve(aiohttp_server, app, pd, "/")
    return pd


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    rx = Receiver()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        rx.received.append({"headers": dict(request.headers), "body": body})
        failure = await rx.failure()
        if failure is not None:
            return failure
        try:
            data = Webhook(rx.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            rx.rejected.append(str(exc))
            return web.Response(status=401, text=str(exc))
        rx.processed.setdefault(request.headers["webhook-id"], data)  # a repeat of one id is not processed again
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/itdr", receive)
    await _serve(aiohttp_server, app, rx, "/hooks/itdr")
    return rx


# -- channels, built from config as the daemon builds them --------------------------------------------------

STAND_IN = {
    "slack_webhook": "slack_webhook",
    "slack_bot": "slack_api",
    "teams": "teams",
    "pagerduty": "pagerduty",
    "webhook": "receiver",
}


def channel_dict(kind: str, url: str, **extra: Any) -> dict[str, Any]:
    """A channel as written in YAML, its secrets in the environment variables ``secrets_env`` sets."""
    base: dict[str, Any] = {"kind": kind, "name": kind.replace("_", "-")}
    if kind in ("slack_webhook", "teams"):
        base["url"] = {"env": "ITDR_TEST_CHANNEL_URL"}
    elif kind == "slack_bot":
        base |= {"token": {"env": "ITDR_TEST_SLACK_TOKEN"}, "channel": "#soc", "base_url": url}
    elif kind == "pagerduty":
        keys = {"default": {"env": "ITDR_TEST_PD_KEY"}, "high-confidence": {"env": "ITDR_TEST_PD_KEY_CRITICAL"}}
        base |= {"routing_keys": keys, "base_url": url}
    else:
        base |= {"url": {"env": "ITDR_TEST_CHANNEL_URL"}, "secret": {"env": "ITDR_TEST_SIGNING_SECRET"}}
    return base | extra


def tenant_dict(*channels: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "acme",
        "org_url": "https://acme.okta.com",
        "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_SLACK_TOKEN"}},
        "channels": list(channels),
    }


@pytest.fixture
def make_channel(session: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """``make_channel(kind, **config)``: the channel of that kind, from config, pointed at its stand-in (which
    the test must request, so that it is started before the test runs)."""

    def make(kind: str, **extra: Any) -> Any:
        stand_in = request.getfixturevalue(STAND_IN[kind])
        monkeypatch.setenv("ITDR_TEST_CHANNEL_URL", stand_in.url)
        monkeypatch.setenv("ITDR_TEST_SLACK_TOKEN", SLACK_TOKEN)
        monkeypatch.setenv("ITDR_TEST_PD_KEY", ROUTING_KEY)
        monkeypatch.setenv("ITDR_TEST_PD_KEY_CRITICAL", ROUTING_KEY_CRITICAL)
        monkeypatch.setenv("ITDR_TEST_SIGNING_SECRET", SIGNING_SECRET)
        config = parse_config({"tenants": [tenant_dict(channel_dict(kind, stand_in.url, **extra))]})
        (channel,) = channels_for(config.tenants[0], session)
        return channel

    return make
