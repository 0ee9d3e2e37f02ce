"""Microsoft Teams through a Workflows webhook ("when a Teams webhook request is received"): a message with
one Adaptive Card 1.5 attachment per incident update, the same content as Slack's.

Approvals are ``Action.OpenUrl`` buttons to the signed approve / deny URLs (and undo), one ``ActionSet``
per request; "Open incident" is the card's own action. Every string from the incident goes through
``teams_text`` (TextBlocks and facts are Markdown in Teams) or ``plain_text`` (button titles). A Teams
message holds about 28 KB, so findings are kept newest first while the card stays within ``CARD_BUDGET``
and the rest are counted in a "… N more" line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from detector.respond.channels import render as r
from detector.respond.channels.base import Outcome, RoutedChannel, Routing
from detector.respond.channels.http import post
from detector.respond.escaping import plain_text, teams_text

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_BUDGET = 24_000  # bytes of card JSON, under Teams' ~28 KB per message with the envelope to spare
TEXT_LIMIT = 1000  # characters of one text before escaping (a 5,000-character summary is cut, visibly)
TITLE_LIMIT = 60
MAX_BUTTON_ROWS = 5
MAX_FACTS = 10  # evidence items of one finding; actions listed
_TIER_COLOR = {"HIGH-CONFIDENCE": "Attention", "HIGH": "Attention", "MEDIUM": "Warning"}


def t(raw: str, limit: int = TEXT_LIMIT) -> str:
    return teams_text(plain_text(raw, limit))


def card(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The Adaptive Card (1.5) of the whole incident."""
    head: list[dict[str, Any]] = [
        _text(
            t(r.headline(incident), 300),
            size="Large",
            weight="Bolder",
            style="heading",
            color=_TIER_COLOR.get(r.tier(incident.get("severity")), "Default"),
        ),
        _facts(r.facts(incident)),
    ]
    if r.summary(incident):
        head += [_label("What"), _text(t(r.summary(incident)))]
    if r.where_lines(incident):
        head += [_label("Where from"), _facts(r.where_lines(incident))]
    tail = _actions(r.actions_of(incident))
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [],
        "fallbackText": t(f"{r.headline(incident)}: {r.who(incident)}", 300),
    }
    url = r.incident_url(incident)
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open incident", "url": url}]
    footer = _text(
        t(f"okta-itdr · incident {r.text(incident.get('key'))} · version {r.text(incident.get('version'))}", 300),
        isSubtle=True,
        size="Small",
    )
    fixed = _size({**content, "body": [*head, *tail, footer]}) + 200  # and the "… N more" line
    findings = [_finding(f) for f in r.newest_first(r.findings_of(incident))]
    kept, left_out = r.fit(findings, lambda item: _size(item) + 1, CARD_BUDGET - fixed)
    shown = [_label("Findings"), *kept] if findings else []
    if left_out:
        shown.append(_text(t(r.more(left_out, "findings (older)", "")), isSubtle=True))
    content["body"] = [*head, *shown, *tail, footer]
    return content


def message(incident: Mapping[str, Any]) -> dict[str, Any]:
    """What the workflow receives: a message with the card as its one attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(incident)}],
    }


class TeamsChannel(RoutedChannel):
    def __init__(self, name: str, routing: Routing, url: str, session: aiohttp.ClientSession) -> None:
        super().__init__(name, routing)
        self._url = url
        self._session = session

    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        return await post(self._session, self._url, orjson.dumps(message(incident)), {}, memo)


def _finding(finding: Mapping[str, Any]) -> dict[str, Any]:
    items = [_text(t(r.finding_title(finding), 300), weight="Bolder")]
    if finding.get("summary"):
        items.append(_text(t(r.text(finding["summary"]))))
    evidence = r.evidence_lines(finding)
    if evidence:
        facts = [(line.partition(" ")[0], line.partition(" ")[2]) for line in evidence[:MAX_FACTS]]
        items.append(_facts(facts + _more_fact(len(evidence) - MAX_FACTS, "evidence")))
    return {"type": "Container", "separator": True, "items": items}


def _actions(actions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The actions and their outcomes, then a button row per approval asked and per action undoable."""
    if not actions:
        return []
    facts = [(r.text(a.get("action")), r.action_outcome(a)) for a in actions[:MAX_FACTS]]
    blocks = [_label("Actions"), _facts(facts + _more_fact(len(actions) - MAX_FACTS, "actions"))]
    rows = []
    for action in actions:
        name, approval, undo = r.text(action.get("action")), r.approval_of(action) or {}, r.undo_url(action)
        approve, deny = r.safe_url(approval.get("approve_url")), r.safe_url(approval.get("deny_url"))
        if approve and deny:
            rows.append([_open(f"Approve {name}", approve, "positive"), _open(f"Deny {name}", deny, "destructive")])
        if undo:
            rows.append([_open(f"Undo {name}", undo, "destructive")])
    blocks += [{"type": "ActionSet", "actions": row} for row in rows[:MAX_BUTTON_ROWS]]
    if len(rows) > MAX_BUTTON_ROWS:
        blocks.append(_text(t(r.more(len(rows) - MAX_BUTTON_ROWS, "approvals or undos: open the incident", ""))))
    return blocks


def _open(title: str, url: str, style: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": plain_text(title, TITLE_LIMIT), "url": url, "style": style}


def _more_fact(count: int, noun: str) -> list[tuple[str, str]]:
    return [("…", f"{count} more {noun}")] if count > 0 else []


def _facts(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": t(k, 100), "value": t(v) or "-"} for k, v in pairs]}


def _label(text: str) -> dict[str, Any]:
    return _text(f"**{text}**", separator=True)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _size(value: Any) -> int:
    return len(orjson.dumps(value))
