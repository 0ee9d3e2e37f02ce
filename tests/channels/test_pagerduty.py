"""PagerDuty Events API v2: trigger while open, resolve when resolved, one dedup_key (the incident key),
severity from the tier, routing per tier."""

from __future__ import annotations

import pytest

from .conftest import ROUTING_KEY, ROUTING_KEY_CRITICAL, T0, awaiting, done, finding, incident, view


async def test_trigger_then_resolve_with_the_same_dedup_key_and_mapped_severity(make_channel, pagerduty):
    channel = make_channel("pagerduty")
    inc, book = incident([finding(0, tier="high")], actions=[awaiting()])
    first = await channel.deliver(view(inc), {})
    assert first.kind == "delivered" and first.memo == {"triggered": ["default"], "version": inc.version}
    book.apply(finding(1, tier="high", summary="12 push denials in 10 minutes"))
    second = await channel.deliver(view(inc), first.memo)
    book.resolve(inc, "undo", T0 + 90, "clear_sessions undone")
    third = await channel.deliver(view(inc), second.memo)
    assert third.kind == "delivered" and third.memo == {"triggered": [], "version": inc.version}
    trigger, update, resolve = pagerduty.received
    assert {e["dedup_key"] for e in pagerduty.received} == {inc.key}
    assert [e["event_action"] for e in pagerduty.received] == ["trigger", "trigger", "resolve"]
    assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "error"
    assert "12 push denials" in update["payload"]["custom_details"]["summary"]
    assert trigger["links"][0] == {"href": f"https://itdr.example/incidents/{inc.key}", "text": "Open incident"}
    assert {"href": "https://itdr.example/approve/req-1?sig=abc", "text": "Approve clear_sessions"} in trigger["links"]
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": inc.key}
    assert pagerduty.alerts[(ROUTING_KEY, inc.key)] == {"status": "resolved", "severity": "error", "triggers": 2}


@pytest.mark.parametrize(
    ("tier", "severity"), [("high-confidence", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")]
)
async def test_tiers_map_to_pagerduty_severities(make_channel, pagerduty, tier, severity):
    channel = make_channel("pagerduty", min_tier="low")
    inc, _ = incident([finding(0, tier=tier)])
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    (event,) = pagerduty.received
    assert event["payload"]["severity"] == severity
    assert event["routing_key"] == (ROUTING_KEY_CRITICAL if tier == "high-confidence" else ROUTING_KEY)


async def test_an_incident_that_rose_to_its_own_routing_key_is_resolved_at_both(make_channel, pagerduty):
    channel = make_channel("pagerduty")
    inc, book = incident([finding(0, tier="high")])
    memo = (await channel.deliver(view(inc), {})).memo
    book.apply(finding(1, tier="high-confidence"))
    memo = (await channel.deliver(view(inc), memo)).memo
    assert memo["triggered"] == ["default", "high-confidence"]
    book.resolve(inc, "operator", T0 + 60)
    pagerduty.fail(500, {"status": "error"})  # the first resolve fails: the retry resolves only what is left
    retry = await channel.deliver(view(inc), memo)
    assert retry.kind == "retry" and retry.memo == memo
    assert (await channel.deliver(view(inc), retry.memo)).kind == "delivered"
    assert {k: a["status"] for k, a in pagerduty.alerts.items()} == {
        (ROUTING_KEY, inc.key): "resolved",
        (ROUTING_KEY_CRITICAL, inc.key): "resolved",
    }


async def test_a_refused_event_is_permanent_with_pagerdutys_reason_and_never_the_key(make_channel, pagerduty):
    channel = make_channel("pagerduty")
    inc, _ = incident()
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": [f"bad key {ROUTING_KEY}"]}
    pagerduty.fail(400, body)
    outcome = await channel.deliver(view(inc), {})
    assert outcome.kind == "permanent" and "Event object is invalid" in outcome.reason
    assert ROUTING_KEY not in outcome.reason and pagerduty.url not in outcome.reason


async def test_details_carry_evidence_findings_and_actions(make_channel, pagerduty):
    channel = make_channel("pagerduty")
    inc, book = incident([finding(0), finding(1, detection="mfa_push_accepted", tier="high-confidence")])
    book.record_action(inc.tenant, inc.entity, done())
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    payload = pagerduty.received[0]["payload"]
    details = payload["custom_details"]
    assert payload["class"] == "mfa_push_accepted" and payload["group"] == "acme"
    assert payload["component"] == "alice@acme.com (user:00u1alice)"
    assert [f["detection"] for f in details["findings"]] == ["mfa_push_accepted", "mfa_push_bombing"]
    assert details["findings"][0]["evidence"] == ["+40 5 denials in 10 min (a)", "-10 known VPN"]
    assert details["actions"] == ["clear_sessions: done for alice@acme.com (sessions cleared)"]
    assert details["where_from"]["Countries"] == "Romania" and details["findings_not_shown"] == 0


async def test_a_late_retry_of_an_older_version_never_reopens_a_resolved_alert(make_channel, pagerduty):
    channel = make_channel("pagerduty")
    inc, book = incident()
    memo = (await channel.deliver(view(inc), {})).memo
    book.apply(finding(1))
    stale = view(inc)  # version 2, whose delivery is still being retried when ...
    book.resolve(inc, "operator", T0 + 60)
    memo = (await channel.deliver(view(inc), memo)).memo  # ... version 3 resolves the alert
    late = await channel.deliver(stale, memo)
    assert late.kind == "delivered" and "superseded" in late.reason and late.memo == memo
    assert [e["event_action"] for e in pagerduty.received] == ["trigger", "resolve"]
    assert pagerduty.alerts[(ROUTING_KEY, inc.key)]["status"] == "resolved"
