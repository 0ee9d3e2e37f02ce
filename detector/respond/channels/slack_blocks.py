"""Block Kit for an incident, built with slack_sdk's models: the whole incident (the webhook's message, the
bot's header) and an update (the bot's thread reply: what changed since the last delivery).

Slack's limits are met by construction and checked by slack_sdk's validation (``to_dict()`` raises):
50 blocks a message, 3,000 characters a text, 2,000 a field and its value for a button. What does not
fit is cut with a visible "… N more", never dropped silently. Every string from the incident goes through
``slack_mrkdwn``; ``plain_text`` objects (the header, buttons, confirm dialogs) hold fixed words only, and
URLs are only ever button ``url`` fields, never mrkdwn links, so no text can become a link or a mention.

Buttons: ``approve`` / ``deny`` with the approval request id as value, ``undo`` with the action id, for
the Slack app's interactivity handler; "Open incident" is a link button.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from detector.respond.channels import render as r
from detector.respond.escaping import SLACK_TEXT_LIMIT, slack_mrkdwn, slack_truncate

MAX_BLOCKS = 50
FIELD_LIMIT = 2000
BUTTON_VALUE_LIMIT = 2000
MAX_BUTTON_ROWS = 5  # approvals, and undos, with buttons: the rest are counted in a "… N more" line
LINE_LIMIT = 600  # one evidence or action line; a hostile 5,000-character label must not fill the section
_TIER_EMOJI = {"LOW": "⚪", "MEDIUM": "🟡", "HIGH": "🟠", "HIGH-CONFIDENCE": "🔴"}


def md(raw: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    return slack_truncate(slack_mrkdwn(raw), limit)


def lines_within(lines: Sequence[str], limit: int, noun: str) -> str:
    """Escaped ``lines``, one a line, as many as fit in ``limit`` with room left for "… N more ``noun``"."""
    room = limit - len(r.more(len(lines), noun))
    kept, left_out = r.fit(lines, lambda line: len(line) + 1, room)
    return "\n".join(kept) + r.more(left_out, noun)


def fallback_text(incident: Mapping[str, Any]) -> str:
    """The notification text (what a phone or a screen reader shows)."""
    return md(f"{r.headline(incident)}: {r.who(incident)}")


def message(incident: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The whole incident, validated."""
    title = f"*{md(r.text(incident.get('title')) or 'Incident', 500)}*"
    head = [_header(incident), _section(title + f"\n{md(r.summary(incident), 2400)}"), _facts(incident)]
    where = r.where_lines(incident)
    if where:
        head.append(_section("*Where from*\n" + "\n".join(f"*{label}*: {md(v, 900)}" for label, v in where)))
    tail = [*_actions(r.actions_of(incident)), *_links(incident), _context(incident)]
    room = MAX_BLOCKS - len(head) - len(tail) - 2  # a divider, and the "… N more findings" line
    findings = r.newest_first(r.findings_of(incident))
    blocks = [*head, DividerBlock(), *(_finding(f) for f in findings[:room])]
    if len(findings) > room:
        blocks.append(_note(r.more(len(findings) - room, "findings (older)", "")))
    return validated(blocks + tail)


def update(
    incident: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], actions: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A thread reply: the incident's state line, then only the ``findings`` and ``actions`` that are new."""
    state = f"Update: {r.headline(incident)} · version {r.text(incident.get('version'))}"
    resolved = r.resolution(incident)
    head = [_section(f"*{md(state, 1000)}*" + (f"\n{md(resolved, 1900)}" if resolved else ""))]
    tail = [*_actions(actions), _context(incident)]
    room = MAX_BLOCKS - len(head) - len(tail) - 1
    newest = r.newest_first(findings)
    blocks = [*head, *(_finding(f) for f in newest[:room])]
    if len(newest) > room:
        blocks.append(_note(r.more(len(newest) - room, "new findings (older)", "")))
    return validated(blocks + tail)


def validated(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """The blocks as JSON; slack_sdk raises SlackObjectFormationError on any limit broken."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks, Slack takes {MAX_BLOCKS}")
    return [block.to_dict() for block in blocks]


def _header(incident: Mapping[str, Any]) -> HeaderBlock:
    """Fixed words only: whether Slack parses a mention in ``plain_text`` is not worth finding out."""
    tier = r.tier(incident.get("severity"))
    resolved = " · RESOLVED" if incident.get("status") == "resolved" else ""
    return HeaderBlock(text=PlainTextObject(text=f"{_TIER_EMOJI.get(tier, '⚪')} {tier} incident{resolved}"))


def _facts(incident: Mapping[str, Any]) -> SectionBlock:
    fields = [MarkdownTextObject(text=f"*{label}*\n{md(v, FIELD_LIMIT - 20)}") for label, v in r.facts(incident)]
    return SectionBlock(fields=fields)


def _finding(finding: Mapping[str, Any]) -> SectionBlock:
    title = f"*{md(r.finding_title(finding), 400)}*"
    body = md(r.text(finding.get("summary")), 1200)
    evidence = [md(line, LINE_LIMIT) for line in r.evidence_lines(finding)]
    room = SLACK_TEXT_LIMIT - len(title) - len(body) - 2
    return _section("\n".join(part for part in (title, body, lines_within(evidence, room, "evidence")) if part))


def _actions(actions: Sequence[Mapping[str, Any]]) -> list[Block]:
    """The actions and their outcomes, then Approve / Deny per approval asked and Undo per action undoable."""
    if not actions:
        return []
    lines = [f"• {md(r.action_line(a), LINE_LIMIT)}" for a in actions]
    blocks: list[Block] = [_section(f"*Actions*\n{lines_within(lines, SLACK_TEXT_LIMIT - 12, 'actions')}")]
    approvals = [(a, p) for a in actions if (p := r.approval_of(a)) and _fits(p.get("request_id"))]
    undoable = [a for a in actions if r.undo_url(a) and _fits(a.get("action_id"))]
    for action, approval in approvals[:MAX_BUTTON_ROWS]:
        blocks.append(_section(f"*Approval asked*: {md(r.action_line(action), LINE_LIMIT)}"))
        request = r.text(approval["request_id"])
        approve = _button("Approve", "approve", request, "primary", _confirm("Run this action on the account?"))
        blocks.append(ActionsBlock(elements=[approve, _button("Deny", "deny", request, "danger")]))
    for action in undoable[:MAX_BUTTON_ROWS]:
        undo = _button("Undo", "undo", r.text(action["action_id"]), None, _confirm("Reverse this action?"))
        blocks.append(SectionBlock(text=MarkdownTextObject(text=md(r.action_line(action), LINE_LIMIT)), accessory=undo))
    left_out = max(len(approvals) - MAX_BUTTON_ROWS, 0) + max(len(undoable) - MAX_BUTTON_ROWS, 0)
    if left_out:
        blocks.append(_note(r.more(left_out, "approvals or undos: open the incident", "")))
    return blocks


def _button(
    label: str, action_id: str, value: str, style: str | None, confirm: ConfirmObject | None = None
) -> ButtonElement:
    """Fixed words on the button; which action it is for is in the mrkdwn text beside it."""
    return ButtonElement(
        text=PlainTextObject(text=label), action_id=action_id, value=value, style=style, confirm=confirm
    )


def _fits(value: Any) -> bool:
    """A button value Slack takes: a request id or action id that is too long gets no button."""
    return 0 < len(r.text(value)) <= BUTTON_VALUE_LIMIT


def _confirm(question: str) -> ConfirmObject:
    return ConfirmObject(
        title=PlainTextObject(text="Are you sure?"),
        text=PlainTextObject(text=question),
        confirm=PlainTextObject(text="Yes"),
        deny=PlainTextObject(text="Cancel"),
    )


def _links(incident: Mapping[str, Any]) -> list[Block]:
    url = r.incident_url(incident)
    if not url:
        return []
    return [ActionsBlock(elements=[ButtonElement(text="Open incident", action_id="open_incident", url=url)])]


def _context(incident: Mapping[str, Any]) -> ContextBlock:
    line = (
        f"okta-itdr · tenant {r.text(incident.get('tenant'))} · incident {r.text(incident.get('key'))}"
        f" · version {r.text(incident.get('version'))}"
    )
    return ContextBlock(elements=[MarkdownTextObject(text=md(line, 1000))])


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=md(text, 1000))])


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn))
