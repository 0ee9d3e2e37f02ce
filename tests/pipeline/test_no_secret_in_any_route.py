"""No route of the admin API ever answers with a secret, and none fails with a 500.

Every route the embedded daemon serves is listed from its ``Api`` (so a route added later is covered
without touching this test) and called, with the admin token and without it, after an attack has made an
incident, actions and failing deliveries (whose errors are the likeliest place for a URL to leak). Every
configured secret is looked for in each status line, header and body.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from deploy.kafka.broker import free_port
from detector.config import parse_config
from detector.ops.http import Api

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict
from .test_admin_api import daemon, eventually
from .test_embedded_pipeline import clears, inject_push_bombing

DEAD = f"http://127.0.0.1:{free_port()}"  # nothing listens: every delivery fails and says why
SECRETS = {
    "ITDR_TEST_READ_TOKEN": READ_TOKEN,
    "ITDR_TEST_ENFORCE_TOKEN": ENFORCE_TOKEN,
    "ITDR_TEST_ADMIN": "admin-token-7d1e0c55b2a94f36",
    "ITDR_TEST_SLACK_HOOK": f"{DEAD}/services/T000/B000/slackhooksecret9f3a",
    "ITDR_TEST_SLACK_BOT": "xoxb-1111-2222-botsecret7c4e",
    "ITDR_TEST_TEAMS": f"{DEAD}/workflows/run?sig=teamssig5b8d2e&api-version=1",
    "ITDR_TEST_PD": "pdroutingkey0123456789abcdef0123",
    "ITDR_TEST_HOOK": f"{DEAD}/hook?token=hooksecret2a6f",
    "ITDR_TEST_HOOK_SECRET": "whsec_" + base64.b64encode(b"route-test-signing-key-0123456789").decode(),
    "ITDR_TEST_LINK_KEY": "link-key-3c9e1f7a5b2d4068a1c3e5f7b9d1f3a5",
    "ITDR_TEST_SLACK_SIGNING": "slacksigningsecret8e2b4d6f",
    "ITDR_TEST_REDACTION": "redaction-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


def fragments(secret: str) -> set[str]:
    """The secret, and for a URL the parts of it that are secret (a path or query shown alone leaks too)."""
    found = {secret}
    found |= {m for m in re.findall(r"[A-Za-z0-9_-]{12,}", secret) if not m.startswith("127")}
    return found - {"services", "workflows"}


def path_for(route: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "nope"), route)


async def test_no_route_answers_with_a_secret_or_a_500(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    routing = {"min_tier": "low"}
    raw = config_dict(
        sim,
        tmp_path / "data",
        channels=[
            {"kind": "slack_webhook", "name": "hook", "url": {"env": "ITDR_TEST_SLACK_HOOK"}, **routing},
            {
                "kind": "slack_bot",
                "name": "bot",
                "token": {"env": "ITDR_TEST_SLACK_BOT"},
                "channel": "C0123ABC",
                "base_url": f"{DEAD}/api/",
                **routing,
            },
            {"kind": "teams", "name": "teams", "url": {"env": "ITDR_TEST_TEAMS"}, **routing},
            {
                "kind": "pagerduty",
                "name": "pd",
                "routing_keys": {"default": {"env": "ITDR_TEST_PD"}},
                "base_url": DEAD,
                **routing,
            },
            {
                "kind": "webhook",
                "name": "soar",
                "url": {"env": "ITDR_TEST_HOOK"},
                "secret": {"env": "ITDR_TEST_HOOK_SECRET"},
                **routing,
            },
        ],
    )
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}, "public_url": f"http://127.0.0.1:{port}"}
    raw["approvals"] = {
        "link_key": {"env": "ITDR_TEST_LINK_KEY"},
        "slack_signing_secret": {"env": "ITDR_TEST_SLACK_SIGNING"},
    }
    raw["redaction_key"] = {"env": "ITDR_TEST_REDACTION"}
    config = parse_config(raw)
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, victim, time.time() - 120)

    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {SECRETS['ITDR_TEST_ADMIN']}"}
    answers: list[tuple[str, int, str]] = []
    async with daemon(config) as pipeline, aiohttp.ClientSession() as http:

        async def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
            async with http.request(method, base + path, headers=headers, json=body) as resp:
                text = await resp.text()
                answers.append(
                    (f"{method} {path}", resp.status, f"{resp.status} {resp.reason}\n{resp.headers}\n{text}")
                )
                return resp.status, (await resp.json() if resp.content_type == "application/json" else None)

        await eventually(lambda: asyncio.sleep(0, clears(sim)))

        async def incidents() -> list[Any]:
            _, listed = await call("GET", "/api/v1/incidents", auth)
            return listed["incidents"]  # the session clear can land before the incident's first version

        (incident,) = await eventually(incidents)

        async def deliveries_failed() -> bool:
            _, one = await call("GET", f"/api/v1/incidents/{incident['key']}", auth)
            return len([d for d in one["deliveries"] if d["reason"]]) >= 3

        await eventually(deliveries_failed, timeout=20)
        _, actions = await call("GET", "/api/v1/actions", auth)
        expires = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()
        entry_body = {"tenant": "acme", "user": victim["id"], "reason": "travel", "expires": expires, "by": "ana"}
        status, entry = await call("POST", "/api/v1/allowlist", auth, entry_body)
        assert status == 201, entry
        values = {
            "name": "acme",
            "key": incident["key"],
            "action_id": actions["actions"][0]["action_id"],
            "entry_id": entry["entry_id"],
            "request_id": "nope",
        }
        api: Api = pipeline.api()
        for public, routes in ((False, api.routes), (True, api.public)):
            for route in routes:
                method, path = route.method, path_for(route.path, values)
                if method == "POST" and path.endswith("/undo"):
                    continue  # a real undo is not the point here (its answer is covered by test_guardrails)
                for headers in (auth, {}):
                    status, _ = await call(method, path, headers, None if method == "GET" else {})
                    if not public and not headers:
                        assert status == 401, (method, path)
        for path in ("/healthz", "/readyz", "/metrics"):
            await call("GET", path, {})

    assert not [(what, status) for what, status, _ in answers if status >= 500], "a route failed"
    leaks = {
        (what, name)
        for what, _, text in answers
        for name, secret in SECRETS.items()
        for piece in fragments(secret)
        if piece in text
    }
    assert leaks == set(), "a secret in an answer"
