from __future__ import annotations

import random

from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity, latest_revisions
from detections.password_spray import PasswordSpray, PasswordSprayConfig
from detections.registry import DetectionSettings
from detections.tenant_profile import TenantProfile
from detections.testkit import failed_sign_in, oie_password_failure, oie_push_deny

T0 = 1_700_000_000.0
IP = "203.0.113.9"


def run(raws, states=None, config=None):
    engine = Engine([PasswordSpray(config)], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def spray(n_users: int, *, spacing: float = 120, ip: str = IP) -> list[dict]:
    return [failed_sign_in(T0 + i * spacing, f"user{i}@acme.com", ip=ip) for i in range(n_users)]


def test_ten_users_from_one_ip_within_an_hour_is_a_spray():
    (finding,) = run(spray(12))
    assert finding.detection == "password_spray" and finding.severity is Severity.MEDIUM
    assert finding.principal == "" and IP in finding.summary
    assert finding.confidence == 35 and finding.assessment.tier is Tier.MEDIUM  # ten users: medium on its own
    assert finding.assessment.actions == ()
    assert len(finding.event_uuids) == 12 or len(finding.event_uuids) >= 10
    assert finding.mitre == ("T1110.003",)


def test_nine_users_or_spread_over_hours_is_not():
    assert run(spray(9)) == []
    assert run(spray(12, spacing=600)) == []  # 10 users span 90 min


def test_identity_engine_password_as_factor_counts_and_same_transaction_counts_once():
    raws = []
    for i in range(10):
        a = failed_sign_in(T0 + i * 60, f"user{i}@acme.com")
        b = oie_password_failure(T0 + i * 60 + 0.1, f"user{i}@acme.com")
        b["transaction"]["id"] = a["transaction"]["id"]
        raws += [a, b]
    (finding,) = run(raws)
    assert len(finding.event_uuids) == 10
    assert run([oie_password_failure(T0 + i, f"u{i}@acme.com") for i in range(12)]) != []


def test_push_denials_and_other_ips_do_not_count():
    raws = [oie_push_deny(T0 + i, user=f"00u{i}", login=f"u{i}@acme.com", ip=IP) for i in range(20)]
    assert run(raws) == []
    raws = [failed_sign_in(T0 + i, f"user{i}@acme.com", ip=f"203.0.113.{i}") for i in range(20)]
    assert run(raws) == []


def test_allowlisted_egress_is_skipped():
    assert run(spray(20), config=PasswordSprayConfig(allowlist_cidrs=("203.0.113.0/24",))) == []


def test_threat_intel_boosts():
    raws = [failed_sign_in(T0 + i, f"u{i}@acme.com", debug={"threatSuspected": "true"}) for i in range(10)]
    (finding,) = run(raws)
    assert finding.confidence == 50


def test_a_spray_through_an_anonymizer_is_high():
    relay = {"asNumber": 60068, "asOrg": "datacamp", "isp": "datacamp", "domain": None, "isProxy": True}
    raws = [failed_sign_in(T0 + i, f"u{i}@acme.com", securityContext=relay) for i in range(10)]
    (finding,) = run(raws)
    assert finding.confidence == 60 and finding.assessment.tier is Tier.HIGH and finding.severity is Severity.HIGH


def test_out_of_order_replay_suppression_and_round_trip():
    raws = spray(25, spacing=30)
    in_order = run(raws)
    shuffled = raws[:]
    random.Random(3).shuffle(shuffled)
    assert len(latest_revisions(in_order)) == 1 and len(latest_revisions(run(shuffled))) == 1
    engine = Engine([PasswordSpray()], TenantContext("acme"))
    states: dict = {}
    engine.process_all((parse_event(r, "acme") for r in raws[:9]), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert engine.process_all((parse_event(r, "acme") for r in raws[:9]), restored) == []  # replay adds nothing
    (finding,) = latest_revisions(engine.process_all((parse_event(r, "acme") for r in raws[9:]), restored))
    assert finding.dedup_key == in_order[0].dedup_key and finding.summary == in_order[-1].summary


def test_tenant_egress_cidrs_are_skipped_but_a_shared_asn_or_vpn_is_not():
    def tenant(**context) -> PasswordSprayConfig:
        return TenantProfile(**context).apply(DetectionSettings()).password_spray

    assert run(spray(20), config=tenant(egress_cidrs=("203.0.113.0/24",))) == []
    config = tenant(egress_asns=frozenset({7922}), vpn_operators=frozenset({"NORD_VPN"}))
    assert len(latest_revisions(run(spray(20), config=config))) == 1


def test_a_growing_spray_is_one_finding_revised_as_it_doubles_with_rising_tier():
    raws = [failed_sign_in(T0 + i * 0.5, f"user{i}@acme.com") for i in range(3000)]
    findings = run(raws)
    assert len({f.dedup_key for f in findings}) == 1
    assert [f.revision for f in findings] == list(range(len(findings)))
    first, last = findings[0], findings[-1]
    assert "10 distinct users" in first.summary and first.assessment.tier.value == "medium"
    assert "1600 distinct users" in last.summary and "1600 attempts" in last.summary  # revised as the count doubles
    assert last.assessment.tier.value == "high" and last.severity is Severity.HIGH
    assert findings[4].assessment.tier.value == "high"  # a large spray: high from 100 users
    assert [f.summary.split(" for ")[1].split(" distinct")[0] for f in findings] == [
        "10",
        "20",
        "40",
        "80",
        "100",
        "200",
        "400",
        "800",
        "1600",  # the tier changes at 100 users (high); 1,000 adds points, not a tier
    ]
    assert len(last.event_uuids) == 100


def test_a_pause_longer_than_the_suppression_starts_a_new_spray():
    first = spray(12, spacing=60)
    later = [failed_sign_in(T0 + 3 * 3600 + i * 60, f"other{i}@acme.com") for i in range(12)]
    findings = latest_revisions(run(first + later))
    assert len(findings) == 2 and findings[0].dedup_key != findings[1].dedup_key
