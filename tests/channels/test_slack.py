"""Slack: the incoming webhook posts each update; the bot posts one header, threads the updates under it and
edits the header when its status or severity changes, and its memo keeps a retry from posting twice."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from .conftest import SLACK_TOKEN, T0, awaiting, done, finding, incident, view


def texts(value: Any) -> str:
    """Every text in a Block Kit message (or any part of one), one a line."""
    if isinstance(value, dict):
        own = [value["text"]] if isinstance(value.get("text"), str) else []
        return "\n".join(own + [texts(v) for k, v in value.items() if isinstance(v, dict | list)])
    if isinstance(value, list):
        return "\n".join(texts(v) for v in value)
    return ""


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(action_id, value) of every interactive button: in an actions block or beside a section's text."""
    elements = [e for b in blocks for e in [*b.get("elements", ()), b.get("accessory") or {}]]
    return [(e["action_id"], e["value"]) for e in elements if e.get("type") == "button" and "value" in e]


async def test_the_bot_posts_once_then_threads_updates_and_edits_the_header_on_status_change(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, book = incident([finding(0, tier="high")])
    first = await bot.deliver(view(inc), {})
    assert first.kind == "delivered" and first.memo["ts"] and first.memo["channel"] == "C0SOC"
    (header,) = slack_api.top_level()
    assert header["channel"] == "#soc" and "HIGH" in header["blocks"][0]["text"]["text"]
    assert slack_api.received[0]["auth"] == f"Bearer {SLACK_TOKEN}"

    book.apply(finding(1, tier="high", summary="9 push denials in 10 minutes"))
    second = await bot.deliver(view(inc), first.memo)
    assert second.kind == "delivered" and second.memo["ts"] == first.memo["ts"]
    assert len(slack_api.top_level()) == 1
    (reply,) = slack_api.replies[first.memo["ts"]]
    assert "9 push denials" in texts(reply["blocks"]) and "5 push denials" not in texts(reply["blocks"])
    assert [r["method"] for r in slack_api.received] == ["chat.postMessage", "chat.postMessage"]  # no edit yet

    book.resolve(inc, "operator", T0 + 600, "false positive")
    third = await bot.deliver(view(inc), second.memo)
    assert third.kind == "delivered"
    assert [r["method"] for r in slack_api.received][2:] == ["chat.postMessage", "chat.update"]
    assert len(slack_api.replies[first.memo["ts"]]) == 2 and len(slack_api.top_level()) == 1
    edited = slack_api.messages[first.memo["ts"]]
    assert "RESOLVED" in edited["blocks"][0]["text"]["text"] and "false positive" in texts(edited["blocks"])


async def test_a_rise_in_severity_edits_the_header(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, book = incident([finding(0, tier="medium")])
    memo = (await bot.deliver(view(inc), {})).memo
    book.apply(finding(1, tier="high-confidence", title="Push accepted after MFA bombing"))
    assert (await bot.deliver(view(inc), memo)).kind == "delivered"
    assert slack_api.received[-1]["method"] == "chat.update"
    assert "HIGH-CONFIDENCE" in slack_api.messages[memo["ts"]]["blocks"][0]["text"]["text"]


async def test_with_a_memo_a_retry_never_posts_a_second_top_level_message(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, book = incident()
    memo = (await bot.deliver(view(inc), {})).memo
    book.apply(finding(1))
    book.resolve(inc, "undo", T0 + 60, "clear_sessions undone")
    # the reply goes through, the header edit fails: the outcome carries the reply's progress
    slack_api.fail(502, "<html>bad gateway</html>", {"Content-Type": "text/html"}, method="chat.update")
    retry = await bot.deliver(view(inc), memo)
    assert retry.kind == "retry" and retry.memo["ts"] == memo["ts"] and retry.memo["version"] == inc.version
    again = await bot.deliver(view(inc), retry.memo)
    assert again.kind == "delivered"
    methods = [r["method"] for r in slack_api.received]
    assert methods == ["chat.postMessage", "chat.postMessage", "chat.update", "chat.update"]
    # a crash before the outcome was stored: the same version again with the last stored memo
    crash = await bot.deliver(view(inc), memo)
    assert crash.kind == "delivered" and len(slack_api.top_level()) == 1
    assert all(r["body"].get("thread_ts") == memo["ts"] for r in slack_api.received[1:] if r["method"] != "chat.update")


async def test_a_header_that_failed_is_posted_on_the_retry_once(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, _ = incident()
    slack_api.fail(503, {"ok": False, "error": "service_unavailable"}, {"Retry-After": "2"})
    failed = await bot.deliver(view(inc), {})
    assert failed.kind == "retry" and failed.retry_after_s == 2.0 and "ts" not in failed.memo
    assert (await bot.deliver(view(inc), failed.memo)).kind == "delivered"
    assert len(slack_api.top_level()) == 1


async def test_slack_429_retry_after_is_honoured_in_seconds_and_as_a_date(make_channel, slack_api, slack_webhook):
    bot, hook = make_channel("slack_bot"), make_channel("slack_webhook")
    inc, _ = incident()
    slack_api.fail(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    limited = await bot.deliver(view(inc), {})
    assert (limited.kind, limited.retry_after_s) == ("retry", 30.0) and "429" in limited.reason
    slack_webhook.fail(429, "rate_limited", {"Retry-After": formatdate(T0 + 10**9, usegmt=True)})
    dated = await hook.deliver(view(inc), {})
    assert dated.kind == "retry" and dated.retry_after_s is not None and dated.retry_after_s > 3600


async def test_slack_errors_that_need_a_person_are_permanent_and_never_quote_the_token(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, _ = incident()
    slack_api.fail(200, {"ok": False, "error": "channel_not_found"})
    outcome = await bot.deliver(view(inc), {})
    assert outcome.kind == "permanent" and "channel_not_found" in outcome.reason
    slack_api.fail(200, {"ok": False, "error": f"invalid_auth {SLACK_TOKEN}"})
    outcome = await bot.deliver(view(inc), {})
    assert outcome.kind == "permanent" and SLACK_TOKEN not in outcome.reason and "invalid_auth" in outcome.reason
    slack_api.fail(200, {"ok": False, "error": "internal_error"})
    assert (await bot.deliver(view(inc), {})).kind == "retry"


async def test_the_webhook_posts_the_whole_incident_on_every_update(make_channel, slack_webhook):
    hook = make_channel("slack_webhook")
    inc, book = incident(actions=[awaiting()])
    assert (await hook.deliver(view(inc), {})).kind == "delivered"
    book.record_action(inc.tenant, inc.entity, done())
    assert (await hook.deliver(view(inc), {})).kind == "delivered"
    first, second = slack_webhook.received
    assert buttons(first["blocks"]) == [("approve", "req-1"), ("deny", "req-1")]
    assert buttons(second["blocks"]) == [("undo", "act-1")]
    assert second["text"] and second["unfurl_links"] is False


async def test_webhook_refusals_are_permanent_without_the_url(make_channel, slack_webhook):
    hook = make_channel("slack_webhook")
    inc, _ = incident()
    for status, body in (
        (404, "no_service"),
        (400, f"invalid_payload at {slack_webhook.url}"),
        (410, "channel_is_archived"),
    ):
        slack_webhook.fail(status, body)
        outcome = await hook.deliver(view(inc), {})
        assert outcome.kind == "permanent" and str(status) in outcome.reason
        assert "hooksecret" not in outcome.reason and slack_webhook.url not in outcome.reason


async def test_an_older_version_arriving_late_never_rolls_the_header_back(make_channel, slack_api):
    bot = make_channel("slack_bot")
    inc, book = incident()
    stale = view(inc)
    memo = (await bot.deliver(view(inc), {})).memo
    book.resolve(inc, "operator", T0 + 60)
    memo = (await bot.deliver(view(inc), memo)).memo
    calls = len(slack_api.received)
    late = await bot.deliver(stale, memo)
    assert late.kind == "delivered" and "superseded" in late.reason and len(slack_api.received) == calls
    assert "RESOLVED" in slack_api.messages[memo["ts"]]["blocks"][0]["text"]["text"]
