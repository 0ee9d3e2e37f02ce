"""IncidentBook: findings about one entity become one incident while the attack lasts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections
from detections.testkit import failed_sign_in, push_bombing
from detector.respond.incidents import Incident, IncidentBook, IncidentSettings

T0 = 1_700_000_000.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finding(t: float, detection: str = "mfa_push_bombing", tier: str = "medium", **kw: Any) -> dict[str, Any]:
    base = {
        "detection": detection,
        "title": detection.replace("_", " "),
        "tenant": "acme",
        "principal": "00u1alice",
        "principal_login": "alice@acme.com",
        "entity": "user:00u1alice",
        "tier": tier,
        "confidence": 50,
        "dedup_key": f"acme:{detection}:00u1alice:{t}",
        "revision": 0,
        "time": iso(t),
        "summary": "s",
        "evidence": [],
        "actions": [],
        "where": {"ip": "185.220.101.4", "asn": 9009, "as_org": "M247", "country": "Romania", "city": None},
    }
    return {**base, **kw}


def test_the_demo_attack_is_one_incident_at_the_highest_tier():
    raws = push_bombing(T0, 6, accept=True)
    engine = Engine(build_detections(), TenantContext("acme"))
    findings = [f.to_dict() for f in engine.process_all((parse_event(r, "acme") for r in raws), {})]
    assert len(findings) >= 2
    book = IncidentBook()
    updates = [book.apply(f) for f in findings]
    assert len({u.key for u in updates if u}) == 1
    incident = updates[-1]
    assert incident is not None and incident.severity == "high-confidence" and incident.version == len(findings)
    view = incident.to_dict()
    assert view["title"] == "Push accepted after MFA bombing" and view["login"] == "alice@acme.com"
    assert {f["detection"] for f in view["findings"]} == {f["detection"] for f in findings}
    assert view["sources"]["ips"] and view["status"] == "open"


def test_a_window_extended_by_each_finding_capped_at_a_day():
    book = IncidentBook(IncidentSettings(window_s=3600, max_span_s=4 * 3600))
    keys = [book.apply(finding(T0 + i * 3000)).key for i in range(6)]  # every 50 min: joins, until 4 h
    assert keys[:5] == [keys[0]] * 5 and keys[5] != keys[0]
    later = book.apply(finding(T0 + 5 * 3000 + 7200))
    assert later.key != keys[5]  # two hours of quiet: a new incident


def test_redelivered_findings_change_nothing_and_revisions_replace_their_line():
    book = IncidentBook()
    first = finding(T0)
    assert book.apply(first).version == 1
    assert book.apply(first) is None
    revised = book.apply({**first, "revision": 1, "summary": "10 denials", "tier": "high", "time": iso(T0 + 60)})
    assert revised.version == 2 and [f["summary"] for f in revised.findings] == ["10 denials"]
    assert revised.severity == "high" and revised.finding_count == 2


def test_entities_without_a_user_group_by_source_ip():
    book = IncidentBook()
    spray = finding(T0, "password_spray", principal="", entity="ip:203.0.113.9")
    other = finding(T0, "password_spray", principal="", entity="ip:198.51.100.1", dedup_key="other")
    assert book.apply(spray).key != book.apply(other).key
    raws = [failed_sign_in(T0 + i, f"user{i}@acme.com", ip="203.0.113.9") for i in range(12)]
    engine = Engine(build_detections(), TenantContext("acme"))
    (spray_finding,) = [f for f in engine.process_all((parse_event(r, "acme") for r in raws), {})]
    assert spray_finding.entity == "ip:203.0.113.9" and spray_finding.where["ip"] == "203.0.113.9"


def test_resolution_by_quiet_period_and_the_round_trip():
    book = IncidentBook(IncidentSettings(quiet_s=3600))
    incident = book.apply(finding(T0))
    book.record_action("acme", "user:00u1alice", {"action_id": "a1", "action": "clear_sessions", "status": "done"})
    assert book.expire(T0 + 1800) == []
    (resolved,) = book.expire(T0 + 3600)
    assert resolved is incident and resolved.status == "resolved" and resolved.resolution["by"] == "quiet"
    assert Incident.from_dict(resolved.to_dict()).to_dict() == resolved.to_dict()
    assert book.apply(finding(T0 + 3700)).key != incident.key  # resolved: a new one
    assert IncidentBook(open_incidents=[resolved]).open == {}
