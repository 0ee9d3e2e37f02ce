"""Event text made safe for each place a finding is shown: one function per output format.

Every string of a System Log event is chosen by whoever signs in (the typed username, the user agent, the
city), so a finding's login, summary and labels are hostile text. Each format has its own active characters;
a sink passes every event-derived string through the function for its format, and never builds markup out of
raw event text.

Control characters (C0, DEL, C1, lone surrogates, the Unicode line and paragraph separators, and the bidi
marks, embeddings, overrides and isolates that reorder what an analyst reads) are never dropped silently:
each becomes a visible escape (``\\x1b``, ``\\n``, ``\\u202e``), so ``ad\\x00min`` cannot pass for ``admin``
and one finding stays one line. A literal backslash is left as it is (``ACME\\alice`` is a real login).
"""

from __future__ import annotations

import re
from typing import Any

ELLIPSIS = "…"
SLACK_TEXT_LIMIT = 3000  # Block Kit: the most characters in a section's text object
PAGERDUTY_SUMMARY_LIMIT = 1024  # Events API v2: payload.summary
PAGERDUTY_DETAIL_LIMIT = 4096  # ours: each string in custom_details (an event is at most 512 KB in all)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# Slack: &, < and > start entities, mentions (<!channel>, <@U123>) and links (<https://x|text>); *_~` start
# emphasis and code unless a zero-width space keeps them from touching the text. Slack has no backslash escape.
_ZWSP = "\u200b"
_SLACK_ACTIVE = re.compile(r"[&<>*~`]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # an intraword _ never emphasises
_SLACK_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# What a cut must not split; an intraword _ stays with the letter after it (before an ellipsis it could close
# emphasis).
_SLACK_UNIT = re.compile("&(?:amp|lt|gt);|\u200b[*_~`]\u200b|_?.", re.S)

# Teams Adaptive Card TextBlock: a CommonMark subset (emphasis, links, lists) rendered by several engines.
# A backslash before ASCII punctuation is CommonMark's escape; escaping both ] and ( also breaks [t](url) for
# the renderers that ignore a backslash before [. & is escaped so &#x202e; cannot decode to a bidi override,
# { so {{DATE(...)}} is not evaluated. Block markers only matter at the start: the text holds no newline.
_TEAMS_ACTIVE = re.compile(r"[\\`*\[\]()<>~{&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_TEAMS_BLOCK_START = re.compile(r"^(\s*\d*)([#+\-.])")  # a heading, a bullet, or the dot of "1. item"


def terminal_text(text: str) -> str:
    """Plain text for a terminal: control characters shown as escapes, so nothing moves the cursor or
    retitles the window, and nothing starts a new line. Put it in a ``rich.text.Text``, never in markup."""
    return _CONTROL.sub(_visible, text)


def slack_mrkdwn(text: str) -> str:
    """Text for a Slack ``mrkdwn`` field that renders as itself: no mention, link, emphasis or quote."""
    escaped = _SLACK_ACTIVE.sub(_slack_escape, terminal_text(text))
    return _ZWSP + escaped if escaped.startswith("&gt;") else escaped  # > at a line start quotes the line


def slack_truncate(mrkdwn: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    """``mrkdwn`` cut to ``limit`` characters with an ellipsis, never inside an entity or an escaped mark."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = next(m.start() for m in _SLACK_UNIT.finditer(mrkdwn) if m.end() > limit - len(ELLIPSIS))
    return mrkdwn[:cut] + ELLIPSIS


def teams_text(text: str) -> str:
    """Text for an Adaptive Card ``TextBlock`` that renders as itself: no link, emphasis, list, heading or HTML."""
    escaped = _TEAMS_ACTIVE.sub(r"\\\g<0>", terminal_text(text))
    return _TEAMS_BLOCK_START.sub(r"\1\\\2", escaped, count=1)


def pagerduty_summary(text: str) -> str:
    """A PagerDuty ``payload.summary``: plain text, control characters shown, at most 1024 characters."""
    return plain_text(text, PAGERDUTY_SUMMARY_LIMIT)


def pagerduty_details(value: Any) -> Any:
    """``payload.custom_details`` from JSON-like data: see :func:`json_data`."""
    return json_data(value, PAGERDUTY_DETAIL_LIMIT)


def json_data(value: Any, limit: int = PAGERDUTY_DETAIL_LIMIT) -> Any:
    """JSON-like data for a JSON receiver (PagerDuty, a webhook): JSON needs no escaping, but every string is
    bounded and shows its control characters, since the UIs and tools it is forwarded to show them as text."""
    if isinstance(value, str):
        return plain_text(value, limit)
    if isinstance(value, dict):
        return {key: json_data(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_data(item, limit) for item in value]
    return value


def plain_text(text: str, limit: int) -> str:
    """Text for a field that shows no markup (an Adaptive Card action title, a PagerDuty link label or
    field): control characters shown as escapes, at most ``limit`` characters with an ellipsis."""
    return _truncate(terminal_text(text), limit)


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def _slack_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SLACK_ENTITY.get(char) or _ZWSP + char + _ZWSP


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
