"""The console line of a finding: event text is shown, never obeyed (markup, ANSI, links, new lines)."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from detector.respond.alerts import format_evidence, format_finding

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours rich itself writes


def finding(login: str = "alice@acme.com", summary: str = "push accepted after 6 denials", **kw) -> dict:
    return {
        "tier": "high-confidence",
        "confidence": 100,
        "title": "Push accepted after MFA bombing",
        "tenant": "acme",
        "principal": "00u1alice",
        "principal_login": login,
        "summary": summary,
        "actions": ["clear_sessions"],
        "evidence": [{"points": 60, "label": f"push accepted from {login}"}],
        "dampeners": [{"points": -30, "label": f"known traveller {login}"}],
        **kw,
    }


def render(text: Text) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="truecolor", width=80, soft_wrap=True).print(text)
    return out.getvalue()


def test_hostile_login_is_plain_text_on_one_line():
    login = "[/][link=https://evil]x[/link][bold red]\x1b[2J\x1b]0;pwned\x07\nFAKE\r\u2028\u202e"
    line = format_finding(finding(login, summary="[/] :warning: <b>"))
    assert isinstance(line, Text)
    shown_login = "[/][link=https://evil]x[/link][bold red]\\x1b[2J\\x1b]0;pwned\\x07\\nFAKE\\r\\u2028\\u202e"
    assert f"user={shown_login} " in line.plain
    assert "[/] :warning: <b>" in line.plain  # no markup, no emoji code
    shown = render(line)
    assert shown.count("\n") == 1 and "\r" not in shown
    assert "\x1b]" not in shown and "\x07" not in shown  # no OSC: neither a link nor a window title
    assert "\x1b" not in SGR.sub("", shown)


def test_only_the_tier_and_title_are_styled():
    line = format_finding(finding("[bold]x[/]"))
    styled = {line.plain[s.start : s.end]: str(s.style) for s in line.spans}
    assert styled == {"HIGH-CONFIDENCE": "bold white on red", "Push accepted after MFA bombing": "bold"}


def test_evidence_and_dampener_labels_are_plain():
    lines = format_evidence(finding("[/]\x1b[31m\nx"))
    assert [line.plain for line in lines] == [
        "    +60  push accepted from [/]\\x1b[31m\\nx",
        "    -30  known traveller [/]\\x1b[31m\\nx",
    ]
    for line in lines:
        shown = render(line)
        assert shown.count("\n") == 1 and "\x1b" not in SGR.sub("", shown)


@given(st.text(), st.text())
def test_any_login_and_summary_render_as_one_line(login, summary):
    shown = render(format_finding(finding(login, summary)))
    assert shown.count("\n") == 1 and len(shown.splitlines()) == 1
    assert "\x1b" not in SGR.sub("", shown)
    if login.isprintable():
        assert login in shown  # shown as typed
