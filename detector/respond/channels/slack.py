"""Slack, both ways it is set up, through the official slack_sdk.

* An incoming webhook (``AsyncWebhookClient``): one message per incident update, the whole incident.
* A bot token (``AsyncWebClient``): the incident's first delivery posts a header message (its ``ts`` and
  channel go to the memo); each later version is a thread reply with what changed, and the header is
  edited (``chat.update``) when its status, severity or buttons change. With a memo, a retry after a crash
  threads under the same header: it never posts a second top-level message. Slack has no idempotency key
  for ``chat.postMessage``, so the one window left is a crash between Slack accepting the header and the
  outbox persisting the memo.

Both clients run without slack_sdk's own retries: the outbox retries, with backoff, and honours Slack's
``Retry-After``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from slack_sdk.errors import SlackApiError, SlackObjectFormationError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from detector.respond.channels import render as r
from detector.respond.channels import slack_blocks as blocks
from detector.respond.channels.base import Outcome, RoutedChannel, Routing
from detector.respond.channels.http import no_response, outcome_for, sanitize, url_secrets

# chat.* errors (HTTP 200, ok: false) that a later try can fix; any other (invalid_auth, channel_not_found,
# not_in_channel, invalid_blocks, msg_too_long, message_not_found...) needs a person
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
MAX_SEEN = 1000  # fingerprints kept in the memo: a timeline holds at most 200 findings


class SlackWebhookChannel(RoutedChannel):
    def __init__(self, name: str, routing: Routing, url: str, session: aiohttp.ClientSession) -> None:
        super().__init__(name, routing)
        self._url = url
        self._client = AsyncWebhookClient(url, session=session, retry_handlers=[])

    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        try:
            message = blocks.message(incident)
        except (SlackObjectFormationError, ValueError) as exc:
            return Outcome("permanent", memo, reason=f"Block Kit refused: {sanitize(str(exc))}")
        try:
            response = await self._client.send(
                text=blocks.fallback_text(incident), blocks=message, unfurl_links=False, unfurl_media=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return no_response(exc, memo)
        return outcome_for(response.status_code, response.headers, response.body, memo, url_secrets(self._url))


class SlackBotChannel(RoutedChannel):
    def __init__(
        self, name: str, routing: Routing, token: str, channel: str, base_url: str, session: aiohttp.ClientSession
    ) -> None:
        super().__init__(name, routing)
        self._token = token
        self._channel = channel
        self._client = AsyncWebClient(token=token, base_url=base_url, session=session, retry_handlers=[])

    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        try:
            return await self._deliver(incident, dict(memo))
        except (SlackObjectFormationError, ValueError) as exc:
            return Outcome("permanent", memo, reason=f"Block Kit refused: {sanitize(str(exc))}")

    async def _deliver(self, incident: Mapping[str, Any], memo: dict[str, Any]) -> Outcome:
        version = incident.get("version") or 0
        if not memo.get("ts"):
            sent = await self._call(
                "chat.postMessage",
                memo,
                channel=self._channel,
                text=blocks.fallback_text(incident),
                blocks=blocks.message(incident),
            )
            if isinstance(sent, Outcome):
                return sent
            memo = {
                "channel": sent["channel"],
                "ts": sent["ts"],
                "header": header_state(incident),
                "status": incident.get("status"),
                "seen": seen(incident),
                "version": version,
            }
            return Outcome("delivered", memo)
        if memo.get("version", 0) < version:
            known = set(memo.get("seen") or ())
            findings = [f for f in r.findings_of(incident) if finding_print(f) not in known]
            actions = [a for a in r.actions_of(incident) if action_print(a) not in known]
            if findings or actions or incident.get("status") != memo.get("status"):
                sent = await self._call(
                    "chat.postMessage",
                    memo,
                    channel=memo["channel"],
                    thread_ts=memo["ts"],
                    text=blocks.fallback_text(incident),
                    blocks=blocks.update(incident, findings, actions),
                )
                if isinstance(sent, Outcome):
                    return sent
            memo |= {"seen": seen(incident), "status": incident.get("status"), "version": version}
        state = header_state(incident)
        if memo.get("header") != state:
            sent = await self._call(
                "chat.update",
                memo,
                channel=memo["channel"],
                ts=memo["ts"],
                text=blocks.fallback_text(incident),
                blocks=blocks.message(incident),
            )
            if isinstance(sent, Outcome):
                return sent  # the reply's progress is in memo: the retry only edits the header
            memo["header"] = state
        return Outcome("delivered", memo)

    async def _call(self, method: str, memo: Mapping[str, Any], **args: Any) -> Mapping[str, Any] | Outcome:
        """The Web API's answer when ok, else the Outcome that says what to do (with ``memo`` as it stands)."""
        try:
            if method == "chat.update":
                response = await self._client.chat_update(**args, link_names=False)
            else:
                response = await self._client.chat_postMessage(
                    **args, link_names=False, unfurl_links=False, unfurl_media=False
                )
        except SlackApiError as exc:
            return self._refused(method, exc, memo)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return no_response(exc, memo)
        data = response.data
        if not isinstance(data, dict) or not data.get("ts") or not data.get("channel"):
            return Outcome("retry", memo, reason=f"slack {method}: an answer without ts and channel")
        return data

    def _refused(self, method: str, exc: SlackApiError, memo: Mapping[str, Any]) -> Outcome:
        response = exc.response
        status = getattr(response, "status_code", None) or getattr(response, "status", 0)
        data = getattr(response, "data", None)
        error = sanitize(str(data.get("error") or ""), [self._token]) if isinstance(data, dict) else ""
        if status != 200:
            return outcome_for(status, getattr(response, "headers", {}) or {}, f"{method} {error}", memo, [self._token])
        kind = "retry" if error in _TRANSIENT else "permanent"
        return Outcome(kind, memo, reason=f"slack {method}: {error or 'not ok'}")


def header_state(incident: Mapping[str, Any]) -> str:
    """What the header shows that must not go stale: status, severity and its buttons."""
    buttons = sorted(
        r.text(a.get("action_id")) + ("/undo" if r.undo_url(a) else "/approve")
        for a in r.actions_of(incident)
        if r.approval_of(a) or r.undo_url(a)
    )
    return _print(incident.get("status"), incident.get("severity"), *buttons)


def seen(incident: Mapping[str, Any]) -> list[str]:
    prints = [finding_print(f) for f in r.findings_of(incident)] + [action_print(a) for a in r.actions_of(incident)]
    return prints[-MAX_SEEN:]


def finding_print(finding: Mapping[str, Any]) -> str:
    """One finding at one revision: a revised finding counts as new."""
    return "f" + _print(finding.get("dedup_key"), finding.get("revision"), finding.get("time"), finding.get("summary"))


def action_print(action: Mapping[str, Any]) -> str:
    """One action record as it stands: any change (status, an approver added) counts as new."""
    return "a" + _print(orjson.dumps(action, option=orjson.OPT_SORT_KEYS, default=str).decode())


def _print(*parts: Any) -> str:
    return hashlib.sha256("\x00".join(r.text(p) for p in parts).encode()).hexdigest()[:16]
