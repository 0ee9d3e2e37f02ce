"""PagerDuty Events API v2: ``trigger`` while the incident is open, ``resolve`` once it is resolved (by an
operator, by undoing its action, or after its quiet period), always with the incident key as ``dedup_key``,
so every version updates one PagerDuty alert and a repeat changes nothing.

The routing key is the tier's own when configured (``routing_keys: {default: ..., high-confidence: ...}``),
else ``default``. An incident that rose to a tier with its own key is triggered there too; the memo names
(never holds) every key it was triggered with, so the resolve reaches each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from detector.respond.channels import render as r
from detector.respond.channels.base import Outcome, RoutedChannel, Routing
from detector.respond.channels.http import post
from detector.respond.escaping import pagerduty_details, pagerduty_summary, plain_text

ENQUEUE_PATH = "/v2/enqueue"
SEVERITY = {"high-confidence": "critical", "high": "error", "medium": "warning", "low": "info"}
DETAILS_BUDGET = 256_000  # bytes of custom_details: an event is at most 512 KB
FIELD_LIMIT = 255  # source, component, group, class: short fields in PagerDuty's UI
MAX_LINKS = 10


class PagerDutyChannel(RoutedChannel):
    def __init__(
        self,
        name: str,
        routing: Routing,
        routing_keys: Mapping[str, str],
        base_url: str,
        session: aiohttp.ClientSession,
    ) -> None:
        super().__init__(name, routing)
        self._keys = dict(routing_keys)  # tier or "default" → key
        self._url = base_url.rstrip("/") + ENQUEUE_PATH
        self._session = session

    def key_name(self, severity: Any) -> str:
        return severity if isinstance(severity, str) and severity in self._keys else "default"

    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        triggered = [k for k in memo.get("triggered") or () if k in self._keys]
        if incident.get("status") == "resolved":
            pending = triggered or [self.key_name(incident.get("severity"))]
            for name in list(pending):
                outcome = await self._send(resolve_event(self._keys[name], incident), {**memo, "triggered": pending})
                if outcome.kind != "delivered":
                    return outcome
                pending = [k for k in pending if k != name]
            return Outcome("delivered", {**memo, "triggered": []})
        name = self.key_name(incident.get("severity"))
        # named before the send: a trigger that timed out may still have opened an alert to resolve later
        after = {**memo, "triggered": sorted({*triggered, name})}
        return await self._send(trigger_event(self._keys[name], incident), after)

    async def _send(self, event: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        return await post(self._session, self._url, orjson.dumps(event), {}, memo, self._keys.values())


def resolve_event(routing_key: str, incident: Mapping[str, Any]) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": r.text(incident.get("key"))}


def trigger_event(routing_key: str, incident: Mapping[str, Any]) -> dict[str, Any]:
    tenant = r.text(incident.get("tenant"))
    top = next((f for f in r.newest_first(r.findings_of(incident)) if f.get("tier") == incident.get("severity")), {})
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": r.text(incident.get("key")),
        "payload": {
            "summary": pagerduty_summary(f"{r.headline(incident)}: {r.who(incident)} (tenant {tenant})"),
            "source": plain_text(f"okta-itdr/{tenant}", FIELD_LIMIT),
            "severity": SEVERITY.get(r.text(incident.get("severity")), "info"),
            "timestamp": r.text(incident.get("updated")),
            "component": plain_text(r.who(incident) or "tenant", FIELD_LIMIT),
            "group": plain_text(tenant, FIELD_LIMIT),
            "class": plain_text(r.text(top.get("detection")) or "incident", FIELD_LIMIT),
            "custom_details": details(incident),
        },
        "client": "okta-itdr",
    }
    links = _links(incident)
    if links:
        event["links"] = links
    url = r.incident_url(incident)
    if url:
        event["client_url"] = url
    return event


def details(incident: Mapping[str, Any]) -> Any:
    """What the on-call reads: who, from where, each finding with its evidence, each action; findings newest
    first within DETAILS_BUDGET, the rest counted."""
    findings = [
        pagerduty_details(
            {
                "detection": r.text(f.get("detection")),
                "title": r.text(f.get("title")),
                "tier": r.text(f.get("tier")),
                "confidence": f.get("confidence"),
                "time": r.text(f.get("time")),
                "summary": r.text(f.get("summary")),
                "mitre": [r.text(m) for m in f.get("mitre") or ()],
                "evidence": r.evidence_lines(f),
                "where": f.get("where") if isinstance(f.get("where"), Mapping) else {},
            }
        )
        for f in r.newest_first(r.findings_of(incident))
    ]
    kept, left_out = r.fit(findings, lambda f: len(orjson.dumps(f)) + 1, DETAILS_BUDGET)
    return pagerduty_details(
        {
            "incident": r.text(incident.get("key")),
            "tenant": r.text(incident.get("tenant")),
            "who": r.who(incident),
            "status": r.status_line(incident),
            "severity": r.tier(incident.get("severity")),
            "version": incident.get("version"),
            "opened": r.text(incident.get("opened")),
            "updated": r.text(incident.get("updated")),
            "finding_count": incident.get("finding_count"),
            "summary": r.summary(incident),
            "where_from": dict(r.where_lines(incident)),
            "actions": [r.action_line(a) for a in r.actions_of(incident)[:50]],
            "findings": kept,
            "findings_not_shown": left_out,
        }
    )


def _links(incident: Mapping[str, Any]) -> list[dict[str, str]]:
    url = r.incident_url(incident)
    links = [{"href": url, "text": "Open incident"}] if url else []
    for action in r.actions_of(incident):
        name = r.text(action.get("action"))
        approval = r.approval_of(action) or {}
        for label, url in (
            (f"Approve {name}", r.safe_url(approval.get("approve_url"))),
            (f"Deny {name}", r.safe_url(approval.get("deny_url"))),
            (f"Undo {name}", r.undo_url(action)),
        ):
            if url:
                links.append({"href": url, "text": plain_text(label, 100)})
    return links[:MAX_LINKS]
