"""Slack interactivity: the Approve / Deny / Undo buttons the Slack channel renders, pressed in Slack.

Slack POSTs the press to our public route signed with the app's signing secret (``X-Slack-Signature``:
v0 HMAC-SHA256 over ``v0:<timestamp>:<body>``). slack_sdk's SignatureVerifier checks it and refuses a
timestamp more than 5 minutes from our clock; the route then claims the signature once in the ledger, so a
captured request sent again is ignored. The buttons carry ``action_id`` approve / deny (``value``: the
approval request id) or undo (``value``: the action id); the Slack user id pressing it is the approver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson
from slack_sdk.signature import Clock, SignatureVerifier

VERBS = frozenset({"approve", "deny", "undo"})
MAX_BODY = 64 << 10  # a block_actions payload is a few KiB


@dataclass(frozen=True, slots=True)
class ButtonPress:
    verb: str  # approve | deny | undo
    value: str  # the request id (approve, deny) or the action id (undo)
    user: str  # the Slack user id


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackRequests:
    def __init__(self, signing_secret: str, clock: Callable[[], float]) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Signed by Slack with our secret, within 5 minutes of now."""
        try:
            return self._verifier.is_valid(
                body, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
            )
        except ValueError:  # a timestamp that is not a number
            return False


def button_press(body: bytes) -> ButtonPress | None:
    """The button of a ``block_actions`` payload (``payload=<json>``, form-encoded); None if it is not ours."""
    try:
        payload = orjson.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        press = ButtonPress(action["action_id"], action["value"], payload["user"]["id"])
    except (UnicodeDecodeError, orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    fields = (press.verb, press.value, press.user)
    if payload.get("type") != "block_actions" or press.verb not in VERBS:
        return None
    if not all(isinstance(f, str) and 0 < len(f) <= 200 and f.isprintable() for f in fields):
        return None
    return press
