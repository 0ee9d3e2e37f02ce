"""Escaping helpers: hostile event text renders as itself in every output format."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.respond.escaping import (
    ELLIPSIS,
    PAGERDUTY_DETAIL_LIMIT,
    PAGERDUTY_SUMMARY_LIMIT,
    SLACK_TEXT_LIMIT,
    json_data,
    pagerduty_details,
    pagerduty_summary,
    plain_text,
    slack_mrkdwn,
    slack_truncate,
    teams_text,
    terminal_text,
)

ZWSP = "\u200b"
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
HOSTILE = [
    "[/]",
    "\x1b[2J\x1b]0;pwned\x07",
    "[link=https://evil]x[/link]",
    "alice\nFAKE  HIGH-CONFIDENCE 100  admin",
    "a\rb\u2028c\u2029d\u0085e\x0bf\x0cg\x1ch",
    "\u202egnp.exe",
    "\x9b31m\x9d0;title\x9c",
    "<!channel> <!here> <@U123> <https://evil|click>",
    "*bold* _it_ ~strike~ `code` ```block```",
    "[click](https://evil) **b** __u__ # h",
    "&lt;script&gt; &#x202e; &amp;",
    "> quoted",
    "1. item",
    "- item",
    "{{DATE(2017-02-14T06:00:00Z, SHORT)}}",
]
LOGINS = st.from_regex(r"[a-z][a-z0-9]{0,8}([._-][a-z0-9]{1,8}){0,2}@[a-z0-9]{1,8}\.[a-z]{2,4}", fullmatch=True)


def is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI


def controls(text: str) -> list[str]:
    return [c for c in text if is_control(c)]


def slack_plain(mrkdwn: str) -> str:
    """What Slack shows for text that holds no markup: entities decoded, our zero-width spaces gone."""
    return mrkdwn.replace(ZWSP, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def intraword(text: str, i: int) -> bool:
    """An _ between two ASCII letters or digits, which neither Slack nor CommonMark treats as emphasis."""
    return 0 < i < len(text) - 1 and all(c.isascii() and c.isalnum() for c in (text[i - 1], text[i + 1]))


def slack_bare_marks(mrkdwn: str) -> str:
    """Formatting marks in ``mrkdwn`` that touch text (no zero-width space on either side)."""
    return "".join(
        c
        for i, c in enumerate(mrkdwn)
        if c in "*_~`"
        and not (mrkdwn[i - 1 : i] == ZWSP == mrkdwn[i + 1 : i + 2])
        and not (c == "_" and intraword(mrkdwn, i))
    )


def teams_unescaped(text: str) -> tuple[str, str]:
    """(what CommonMark shows, the active characters left unescaped) for a TextBlock text."""
    shown, bare = [], []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            shown.append(text[i + 1])
            i += 2
            continue
        if text[i] in "\\`*[]()<>~{&" or (text[i] == "_" and not intraword(text, i)):
            bare.append(text[i])
        shown.append(text[i])
        i += 1
    return "".join(shown), "".join(bare)


# -- terminal ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_terminal_text_shows_every_control_and_keeps_one_line(text):
    out = terminal_text(text)
    assert controls(out) == [] and len(out.splitlines()) <= 1
    if controls(text):
        assert "\\" in out  # each control left a visible escape


def test_terminal_text_escapes_are_readable():
    assert terminal_text("\x1b[2J\x1b]0;pwned\x07") == "\\x1b[2J\\x1b]0;pwned\\x07"
    assert terminal_text("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert terminal_text("\u202eexe.pdf\u2028\x85") == "\\u202eexe.pdf\\u2028\\x85"
    assert terminal_text("ad\x00min") != "admin"  # never stripped silently: a spoof stays visible


@given(st.text())
def test_terminal_text_property(text):
    out = terminal_text(text)
    assert controls(out) == [] and len(out.splitlines()) <= 1
    assert terminal_text(out) == out  # stable: escaping twice changes nothing


@given(st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))).filter(lambda t: not BIDI & set(t)))
def test_terminal_text_leaves_printable_text_alone(text):
    assert terminal_text(text) == text


# -- Slack ---------------------------------------------------------------------------------------------


def test_slack_mentions_and_links_are_inert():
    out = slack_mrkdwn("<!channel> <!here> <@U123> <https://evil|click> a&b")
    assert out == "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;https://evil|click&gt; a&amp;b"


def test_slack_formatting_marks_cannot_touch_text():
    out = slack_mrkdwn("*bold* _it_ ~s~ `c`")
    assert out.count(ZWSP) == 16 and slack_bare_marks(out) == ""
    assert slack_plain(out) == "*bold* _it_ ~s~ `c`"
    assert slack_mrkdwn("john_doe@acme.com") == "john_doe@acme.com"  # an intraword _ never emphasises


def test_slack_quote_at_the_start_is_broken():
    assert slack_mrkdwn("> quoted").startswith(ZWSP + "&gt;")


@pytest.mark.parametrize("text", HOSTILE)
def test_slack_hostile(text):
    out = slack_mrkdwn(text)
    assert "<" not in out and ">" not in out and controls(out) == [] and slack_bare_marks(out) == ""
    assert re.sub("&(amp|lt|gt);", "", out).count("&") == 0
    assert slack_plain(out) == terminal_text(text)


@given(st.text())
def test_slack_property(text):
    out = slack_mrkdwn(text)
    assert "<" not in out and ">" not in out and controls(out) == []
    assert re.sub("&(amp|lt|gt);", "", out).count("&") == 0  # every & starts one of Slack's three entities
    assert slack_bare_marks(out) == ""  # no emphasis, strike or code
    if ZWSP not in text:
        assert slack_plain(out) == terminal_text(text)  # nothing lost, nothing added


@given(LOGINS)
def test_slack_leaves_a_plain_login_alone(login):
    assert slack_mrkdwn(login) == login


def test_slack_truncate_never_splits_an_entity():
    text = slack_mrkdwn("&" * 1000)  # 5000 characters of &amp;
    out = slack_truncate(text)
    assert len(out) <= SLACK_TEXT_LIMIT and out.endswith("&amp;" + ELLIPSIS)
    assert slack_truncate("short") == "short"
    marks = slack_truncate(slack_mrkdwn("*" * 20), 10)
    assert marks == f"{ZWSP}*{ZWSP}" * 3 + ELLIPSIS
    assert slack_truncate(slack_mrkdwn("john_doe@acme.com"), 6) == "john" + ELLIPSIS  # not "john_…"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=200))
def test_slack_truncate_property(text, limit):
    mrkdwn = slack_mrkdwn(text)
    out = slack_truncate(mrkdwn, limit)
    assert len(out) <= limit
    if len(mrkdwn) <= limit:
        assert out == mrkdwn
    else:
        body = out.removesuffix(ELLIPSIS)
        assert out.endswith(ELLIPSIS) and mrkdwn.startswith(body)
        assert re.search("&[a-z]{0,3}$", body) is None  # no half entity
        assert re.search("[*_~`]$", body) is None  # no mark left touching the ellipsis


# -- Teams ---------------------------------------------------------------------------------------------


def test_teams_link_emphasis_and_html_are_escaped():
    assert teams_text("[click](https://evil)") == r"\[click\]\(https://evil\)"
    assert teams_text("**b** _i_ <b>x</b>") == r"\*\*b\*\* \_i\_ \<b\>x\</b\>"
    assert teams_text("&#x202e;") == r"\&#x202e;"  # an entity cannot decode into a bidi override
    assert teams_text("{{DATE(2017-02-14T06:00:00Z, SHORT)}}").startswith(r"\{\{DATE\(")


@pytest.mark.parametrize(("text", "out"), [("# h", r"\# h"), ("- x", r"\- x"), ("+ x", r"\+ x"), ("12. x", r"12\. x")])
def test_teams_block_markers_at_the_start_are_escaped(text, out):
    assert teams_text(text) == out
    assert teams_text("a - b. c") == "a - b. c"  # only the start of a line starts a block


@pytest.mark.parametrize("text", HOSTILE)
def test_teams_hostile(text):
    out = teams_text(text)
    shown, bare = teams_unescaped(out)
    assert bare == "" and controls(out) == [] and shown == terminal_text(text)


@given(st.text())
def test_teams_property(text):
    out = teams_text(text)
    shown, bare = teams_unescaped(out)
    assert bare == "" and controls(out) == []  # no raw link, emphasis, code or HTML
    assert re.search(r"(?<!\\)\]\(", out) is None
    assert shown == terminal_text(text)  # CommonMark shows exactly the text


@given(LOGINS)
def test_teams_leaves_a_plain_login_alone(login):
    assert teams_text(login) == login


# -- PagerDuty -----------------------------------------------------------------------------------------


def test_pagerduty_summary_is_plain_and_bounded():
    assert pagerduty_summary("alice@acme.com: push bombing") == "alice@acme.com: push bombing"
    assert pagerduty_summary("a\nb\x1b") == "a\\nb\\x1b"
    long = pagerduty_summary("x" * 5000)
    assert len(long) == PAGERDUTY_SUMMARY_LIMIT and long.endswith(ELLIPSIS)


def test_pagerduty_details_bound_every_string():
    details = pagerduty_details({"user": "a\u202eb", "evidence": [{"label": "y" * 10_000, "points": 30}], "n": 3})
    assert details["user"] == "a\\u202eb" and details["n"] == 3
    label = details["evidence"][0]["label"]
    assert len(label) == PAGERDUTY_DETAIL_LIMIT and label.endswith(ELLIPSIS)
    assert details["evidence"][0]["points"] == 30


@given(st.text())
def test_pagerduty_property(text):
    out = pagerduty_summary(text)
    assert len(out) <= PAGERDUTY_SUMMARY_LIMIT and controls(out) == []
    if len(text) <= PAGERDUTY_SUMMARY_LIMIT and not controls(text):
        assert out == text
    detail = pagerduty_details([text])[0]
    assert len(detail) <= PAGERDUTY_DETAIL_LIMIT and controls(detail) == []


# -- plain text and JSON data ------------------------------------------------------------------------------


def test_plain_text_shows_controls_and_is_bounded():
    assert plain_text("Approve \x1b[31mclear_sessions\n", 75) == "Approve \\x1b[31mclear_sessions\\n"
    out = plain_text("x" * 100, 75)
    assert len(out) == 75 and out.endswith(ELLIPSIS)
    assert plain_text("<!channel>", 75) == "<!channel>"  # no markup to escape where none is parsed


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_plain_text_property(text, limit):
    out = plain_text(text, limit)
    assert len(out) <= limit and controls(out) == []


def test_json_data_bounds_every_string_at_any_depth_and_keeps_the_rest():
    data = {"a": ["\u202e" + "y" * 500, {"b": "ok", "n": 3, "t": True, "z": None}]}
    out = json_data(data, 100)
    assert out["a"][0].startswith("\\u202e") and len(out["a"][0]) == 100 and out["a"][0].endswith(ELLIPSIS)
    assert out["a"][1] == {"b": "ok", "n": 3, "t": True, "z": None}
    assert pagerduty_details(data) == json_data(data, PAGERDUTY_DETAIL_LIMIT)
