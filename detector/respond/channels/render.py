"""What every destination shows of an incident, as plain text: each renderer escapes these strings for its
own format (never building markup out of them) and adds only its fixed labels.

Every string of an incident may be attacker-chosen (the login, summaries, evidence labels, action details,
even the URLs), so nothing here is trusted: URLs are kept only when they are plain http(s) URLs, and lists
are cut with a visible "… N more" rather than dropped or left to overflow a destination's limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from detector.respond.incidents import TIER_ORDER

T = TypeVar("T")

TIER_LABEL = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "high-confidence": "HIGH-CONFIDENCE"}
MAX_URL = 3000  # Slack's limit for a button's url; Teams and PagerDuty take as much
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\"<>\\^`{|}]")


def text(value: Any) -> str:
    """A field as a string: missing is empty, a number is its digits."""
    return "" if value is None else str(value)


def tier(value: Any) -> str:
    return TIER_LABEL.get(text(value), "UNKNOWN")


def who(incident: Mapping[str, Any]) -> str:
    """The login when there is one (with the entity it belongs to), else the entity (``ip:…``, ``tenant``)."""
    login, entity = text(incident.get("login")), text(incident.get("entity"))
    return f"{login} ({entity})" if login and entity else login or entity


def headline(incident: Mapping[str, Any]) -> str:
    status = " · RESOLVED" if incident.get("status") == "resolved" else ""
    return f"{tier(incident.get('severity'))}{status} · {text(incident.get('title')) or 'Incident'}"


def summary(incident: Mapping[str, Any]) -> str:
    """The summary of the newest finding at the incident's tier (the one that gave it its title)."""
    findings = findings_of(incident)
    top = [f for f in findings if f.get("tier") == incident.get("severity")] or findings
    return text(top[-1].get("summary")) if top else ""


def resolution(incident: Mapping[str, Any]) -> str:
    r = incident.get("resolution")
    if incident.get("status") != "resolved" or not isinstance(r, Mapping):
        return ""
    note = text(r.get("note"))
    return f"resolved by {text(r.get('by')) or 'unknown'} at {text(r.get('at'))}" + (f": {note}" if note else "")


def findings_of(incident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in incident.get("findings") or () if isinstance(f, Mapping)]


def actions_of(incident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in incident.get("actions") or () if isinstance(a, Mapping)]


def newest_first(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The timeline newest first, most severe first within one time: what an analyst reads first."""
    return sorted(findings, key=lambda f: (text(f.get("time")), TIER_ORDER.get(text(f.get("tier")), -1)), reverse=True)


def finding_title(finding: Mapping[str, Any]) -> str:
    return (
        f"{tier(finding.get('tier'))} · {text(finding.get('title')) or text(finding.get('detection'))}"
        f" · confidence {text(finding.get('confidence'))} · {text(finding.get('time'))}"
    )


def evidence_lines(finding: Mapping[str, Any]) -> list[str]:
    """The score's reasons: ``+30 label (class)`` per evidence item, ``-40 label`` per dampener (its points
    are negative in ``to_dict``)."""
    lines = [
        f"+{text(e.get('points'))} {text(e.get('label'))}" + (f" ({text(e['class'])})" if e.get("class") else "")
        for e in finding.get("evidence") or ()
        if isinstance(e, Mapping)
    ]
    lines += [
        f"{text(d.get('points'))} {text(d.get('label'))}"
        for d in finding.get("dampeners") or ()
        if isinstance(d, Mapping)
    ]
    return lines


def facts(incident: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The incident at a glance, label and value, as every card shows it."""
    return [
        ("Who", who(incident)),
        ("Severity", tier(incident.get("severity"))),
        ("Status", status_line(incident)),
        ("Tenant", text(incident.get("tenant"))),
        ("Opened", text(incident.get("opened"))),
        ("Updated", text(incident.get("updated"))),
        ("Findings", text(incident.get("finding_count"))),
    ]


def where_lines(incident: Mapping[str, Any], limit: int = 10) -> list[tuple[str, str]]:
    """(label, values) for IPs, ASNs and countries, each list cut at ``limit`` values."""
    sources = incident.get("sources") if isinstance(incident.get("sources"), Mapping) else {}
    out = []
    for label, key in (("IPs", "ips"), ("ASNs", "asns"), ("Countries", "countries")):
        values = [text(v) for v in sources.get(key) or ()]
        if values:
            out.append((label, ", ".join(values[:limit]) + more(len(values) - limit, "", ", ")))
    return out


def status_line(incident: Mapping[str, Any]) -> str:
    resolved = resolution(incident)
    return text(incident.get("status")) + (f" ({resolved})" if resolved else "")


def action_line(action: Mapping[str, Any]) -> str:
    return f"{text(action.get('action'))}: {action_outcome(action)}"


def action_outcome(action: Mapping[str, Any]) -> str:
    """Where an action stands: its status, whom it was for, its detail and any approval asked."""
    line = text(action.get("status"))
    if action.get("principal_login"):
        line += f" for {text(action['principal_login'])}"
    if action.get("detail"):
        line += f" ({text(action['detail'])})"
    approval = approval_of(action)
    if approval:
        line += f", {approval_state(approval)}"
    return line


def approval_of(action: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The open approval request of an action awaiting approval, if it has a request id."""
    approval = action.get("approval")
    if action.get("status") != "awaiting_approval" or not isinstance(approval, Mapping):
        return None
    return approval if text(approval.get("request_id")) else None


def approval_state(approval: Mapping[str, Any]) -> str:
    approved = [text(a) for a in approval.get("approved_by") or ()]
    state = f"{len(approved)} of {text(approval.get('approvers_needed')) or '?'} approvals"
    if approved:
        state += f" ({', '.join(approved[:5])}{more(len(approved) - 5, '', ', ')})"
    return state + (f", expires {text(approval['expires'])}" if approval.get("expires") else "")


def undo_url(action: Mapping[str, Any]) -> str | None:
    return safe_url(action.get("undo_url")) if action.get("status") == "done" else None


def incident_url(incident: Mapping[str, Any]) -> str | None:
    links = incident.get("links")
    return safe_url(links.get("incident")) if isinstance(links, Mapping) else None


def with_safe_urls(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The incident as data for a receiver that may show its links: every URL (``links``, an action's undo,
    approve and deny URLs) kept only when :func:`safe_url` accepts it."""
    links = incident.get("links") if isinstance(incident.get("links"), Mapping) else {}
    actions = []
    for action in actions_of(incident):
        action = {k: v for k, v in action.items() if k != "undo_url" or safe_url(v)}
        if isinstance(action.get("approval"), Mapping):
            urls = ("approve_url", "deny_url")
            action["approval"] = {k: v for k, v in action["approval"].items() if k not in urls or safe_url(v)}
        actions.append(action)
    out = {**incident, "actions": actions}
    if "links" in incident:
        out["links"] = {k: v for k, v in links.items() if safe_url(v)}
    return out


def safe_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, in ASCII (IDNs as xn--, paths percent-encoded),
    with nothing a renderer could misread."""
    if not isinstance(value, str) or len(value) > MAX_URL or not value.isascii() or _URL_UNSAFE.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("https", "http") and parts.hostname else None


def more(count: int, noun: str, sep: str = "\n") -> str:
    """The visible mark of what was cut: ``… 3 more findings``; empty when nothing was."""
    return f"{sep}… {count} more{' ' + noun if noun else ''}" if count > 0 else ""


def fit(items: Iterable[T], cost: Callable[[T], int], budget: int) -> tuple[list[T], int]:
    """The leading items whose costs add up to at most ``budget``, and how many were left out."""
    kept: list[T] = []
    spent, left_out = 0, 0
    for item in items:
        c = cost(item)
        if left_out or spent + c > budget:
            left_out += 1
            continue
        kept.append(item)
        spent += c
    return kept, left_out
