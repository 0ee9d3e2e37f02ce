"""A generic webhook, signed per the Standard Webhooks specification (standardwebhooks.com).

The body is ``{"type": "incident.opened" | "incident.updated" | "incident.resolved", "timestamp": <the
incident's last update>, "data": <the incident>}``. Headers: ``webhook-id`` is ``{key}.v{version}``, the
same for every retry of one version (the receiver's idempotency key); ``webhook-timestamp`` is the
attempt's time in unix seconds; ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the secret (``whsec_`` and its base64, given in the config). Strings in
``data`` show their control characters as escapes and are bounded, like every other output, and URLs that
are not plain http(s) are left out; findings are kept newest first within ``DATA_BUDGET`` and
``findings_not_shown`` counts the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import orjson

from detector.respond.channels import render as r
from detector.respond.channels.base import Outcome, RoutedChannel, Routing
from detector.respond.channels.http import post
from detector.respond.escaping import json_data

DATA_BUDGET = 128_000  # bytes of findings in one body
_KEY = re.compile(r"[A-Za-z0-9_-]{1,200}")  # our incident keys (inc-<hex>): no "." to blur the signed content


class WebhookChannel(RoutedChannel):
    def __init__(
        self,
        name: str,
        routing: Routing,
        url: str,
        key: bytes,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, routing)
        self._url = url
        self._key = key
        self._session = session
        self._clock = clock

    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        key, version = r.text(incident.get("key")), incident.get("version")
        if not _KEY.fullmatch(key) or not isinstance(version, int):
            return Outcome("permanent", memo, reason="the incident has no usable key and version for webhook-id")
        opened = memo.get("opened", version)  # the version this receiver first got: a resend of it says opened too
        body = orjson.dumps(payload(incident, first=opened == version))
        msg_id, timestamp = f"{key}.v{version}", str(int(self._clock()))
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(self._key, msg_id, timestamp, body),
        }
        outcome = await post(self._session, self._url, body, headers, memo)
        return replace(outcome, memo={**outcome.memo, "opened": opened}) if outcome.kind == "delivered" else outcome


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(incident: Mapping[str, Any], first: bool) -> dict[str, Any]:
    """``first``: the first version this receiver gets, so it is ``incident.opened`` whatever its number (updates
    written together are delivered as their newest: the first may be v2 or later)."""
    if incident.get("status") == "resolved":
        kind = "incident.resolved"
    else:
        kind = "incident.opened" if first else "incident.updated"
    findings = [json_data(dict(f)) for f in r.newest_first(r.findings_of(incident))]
    kept, left_out = r.fit(findings, lambda f: len(orjson.dumps(f)) + 1, DATA_BUDGET)
    kept.sort(key=lambda f: r.text(f.get("time")))  # the timeline's own order, oldest first
    data = json_data({k: v for k, v in r.with_safe_urls(incident).items() if k != "findings"})
    return {
        "type": kind,
        "timestamp": r.text(incident.get("updated")),
        "data": {**data, "findings": kept, "findings_not_shown": left_out},
    }
