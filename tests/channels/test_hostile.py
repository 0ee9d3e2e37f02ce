"""A hostile incident (logins that are Slack mentions and links, Markdown links, ANSI escapes, newlines,
5,000-character summaries and labels, 80 findings, many approvals) renders valid, escaped and within every
destination's limits, and each destination accepts it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from detector.respond.channels.slack_blocks import MAX_BLOCKS

from ..test_escaping import controls, slack_bare_marks, teams_unescaped
from .conftest import hostile_incident
from .test_teams import assert_valid_card

_OUR_TEAMS_LABEL = re.compile(r"\*\*[A-Za-z ]+\*\*")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_nothing_hostile_left(payload: Any, markup: bool = True) -> None:
    """No control character obeyed, no URL that is not http(s); in a chat format, no mention or link."""
    values = list(strings(payload))
    assert not any("\x1b" in v or "\x07" in v or "alice\nFAKE" in v or "javascript:" in v for v in values)
    assert any(re.search(r"alice\\+nFAKE", v) for v in values)  # the newline shown (Markdown doubles the \\)
    if markup:
        assert not any("<!channel>" in v or "<!here>" in v or "<https://evil|click>" in v for v in values)


def our_marks_removed(mrkdwn: str) -> str:
    """The text without the emphasis we add: a bold line (``*title*``) or a bold label (``*IPs*: ``)."""
    lines = [re.sub(r"^\*[A-Za-z ]+\*: ", "", re.sub(r"^\*(.*)\*$", r"\1", line)) for line in mrkdwn.split("\n")]
    return "\n".join(lines)


def slack_texts(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, text object) of every text in the blocks, with where it sits."""
    for block in blocks:
        if isinstance(block.get("text"), dict):
            yield block["type"], block["text"]
        for f in block.get("fields") or ():
            yield "field", f
        for e in [*(block.get("elements") or ()), *([block["accessory"]] if "accessory" in block else [])]:
            yield ("button", e["text"]) if e.get("type") == "button" else ("context", e)


def assert_slack_within_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= MAX_BLOCKS
    for where, obj in slack_texts(blocks):
        limit = {"header": 150, "field": 2000, "button": 75}.get(where, 3000)
        assert len(obj["text"]) <= limit, (where, len(obj["text"]))
        if obj["type"] == "mrkdwn":
            mrkdwn = obj["text"]
            assert "<" not in mrkdwn and ">" not in mrkdwn and not controls(mrkdwn.replace("\n", ""))
            assert slack_bare_marks(our_marks_removed(mrkdwn)) == "", mrkdwn[:300]
    for block in blocks:
        assert len(block.get("fields") or ()) <= 10
        for element in [*(block.get("elements") or ()), *([block["accessory"]] if "accessory" in block else [])]:
            assert len(element.get("value") or "") <= 2000 and len(element.get("url") or "") <= 3000
            assert element.get("url", "https://").startswith("https://")


async def test_slack_webhook_and_bot_render_the_hostile_incident_within_block_kit_limits(
    make_channel, slack_webhook, slack_api
):
    data = hostile_incident()
    assert (await make_channel("slack_webhook").deliver(data, {})).kind == "delivered"
    bot = make_channel("slack_bot")
    memo = (await bot.deliver({**data, "version": data["version"] - 1, "findings": data["findings"][:1]}, {})).memo
    assert (await bot.deliver(data, memo)).kind == "delivered"  # 79 new findings as a thread reply
    messages = [slack_webhook.received[0], *(r["body"] for r in slack_api.received)]
    for message in messages:
        assert_slack_within_limits(message["blocks"])
        assert_nothing_hostile_left(message)
        assert len(message["text"]) <= 3000 and "<" not in message["text"]
    shown = "\n".join(strings(messages[0]["blocks"]))
    assert re.search(r"… \d+ more findings", shown) and re.search(r"… \d+ more evidence", shown)
    assert "… 6 more approvals or undos" in shown  # 8 approvals and 8 undos: buttons for 5 of each
    reply = "\n".join(strings(messages[-1]["blocks"]))
    assert re.search(r"… \d+ more new findings", reply)


async def test_teams_renders_the_hostile_incident_as_a_valid_card_under_the_size_limit(make_channel, teams):
    assert (await make_channel("teams").deliver(hostile_incident(), {})).kind == "delivered"
    message = teams.received[0]
    content = message["attachments"][0]["content"]
    assert_valid_card(content)
    assert len(orjson.dumps(message)) <= 28_000
    assert_nothing_hostile_left(content)
    markdown = [
        *(b["text"] for b in _walk(content) if b.get("type") == "TextBlock"),
        *(s for b in _walk(content) if b.get("type") == "FactSet" for f in b["facts"] for s in f.values()),
    ]
    for text in markdown:
        bare = teams_unescaped(_OUR_TEAMS_LABEL.sub("", text))[1]
        assert bare == "" and not controls(text), text[:200]
    assert r"\[click\]\(https://evil\)" in "\n".join(markdown)
    assert any(re.search(r"… \d+ more findings", t) for t in markdown)
    assert all(a["url"].startswith("https://") for a in _walk(content) if a.get("type") == "Action.OpenUrl")


async def test_pagerduty_takes_the_hostile_incident_within_its_limits(make_channel, pagerduty):
    assert (await make_channel("pagerduty").deliver(hostile_incident(), {})).kind == "delivered"
    (event,) = pagerduty.received
    assert len(event["payload"]["summary"]) <= 1024 and len(orjson.dumps(event)) < 512 * 1024
    assert not any(controls(s) for s in strings(event))
    assert_nothing_hostile_left(event, markup=False)  # JSON: "<!channel>" is inert text there
    details = event["payload"]["custom_details"]
    assert details["findings_not_shown"] > 0 and len(details["findings"]) + details["findings_not_shown"] == 80


async def test_the_webhook_carries_the_hostile_incident_signed_and_bounded(make_channel, receiver):
    assert (await make_channel("webhook").deliver(hostile_incident(), {})).kind == "delivered"
    (body,) = receiver.processed.values()
    assert not any(controls(s) for s in strings(body))
    assert_nothing_hostile_left(body, markup=False)
    data = body["data"]
    assert data["findings_not_shown"] > 0 and len(data["findings"]) + data["findings_not_shown"] == 80
    assert len(receiver.received[0]["body"]) < 256 * 1024


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
