from __future__ import annotations

import random

import pytest

from detections.confidence import Tier
from detections.distributed_spray import DistributedSpray, DistributedSprayConfig
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity, latest_revisions
from detections.password_spray import PasswordSpray
from detections.registry import DetectionSettings, build_detections
from detections.testkit import (
    SYSTEM_ACTOR,
    failed_sign_in,
    oie_password_failure,
    oie_push_deny,
    unknown_user_failure,
)

T0 = 1_700_000_000.0
MIN = 60.0


def run(raws, states=None, config=None, detections=None):
    engine = Engine(detections or [DistributedSpray(config)], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def botnet(users: int = 12, per_user: int = 2, ips: int = 8, *, start: float = T0, step: float = 20.0) -> list[dict]:
    """Every user tried ``per_user`` times, each attempt from the next IP of the pool (round robin)."""
    raws = []
    for n in range(users * per_user):
        user, ip = n % users, n % ips
        raws.append(failed_sign_in(start + n * step, f"user{user}@acme.com", ip=f"198.51.100.{ip + 1}"))
    return raws


def labels(finding) -> list[str]:
    return [e.label for e in finding.assessment.evidence]


def test_many_quiet_ips_failing_across_many_users_is_a_distributed_spray():
    raws = botnet()  # 24 attempts, 12 users, 8 IPs, each IP < 10 users, in 8 min
    (finding,) = run(raws)
    assert finding.detection == "distributed_spray" and finding.severity is Severity.MEDIUM
    assert finding.principal == "" and finding.mitre == ("T1110.003",)
    assert finding.confidence == 45 and finding.assessment.actions == ()  # pattern 30 + IPs reused for users 15
    assert "8 IPs each tried several users" in labels(finding)[1]
    assert finding.event_uuids == tuple(r["uuid"] for r in raws[:20])  # fires on the 20th attempt
    assert "12 users" in finding.summary and "8 IPs" in finding.summary
    # ... which the single-source detection cannot see: no IP tried more than 3 users
    assert run(raws, detections=[PasswordSpray()]) == []


@pytest.mark.parametrize(
    ("users", "per_user", "ips"),
    [
        (12, 2, 4),  # only 4 IPs
        (9, 3, 8),  # only 9 users
        (19, 1, 19),  # only 19 attempts
    ],
)
def test_each_threshold_is_needed(users, per_user, ips):
    assert run(botnet(users, per_user, ips)) == []


def test_typo_shaped_breadth_stays_in_the_low_tier():
    """Each user failing once from their own IP: as wide as a proxy-pool spray, but nothing more: 30 points."""
    raws = [failed_sign_in(T0 + i * 30, f"user{i}@acme.com", ip=f"73.{i}.2.3") for i in range(20)]
    (finding,) = run(raws)
    assert finding.confidence == 30 and finding.assessment.tier is Tier.LOW and len(labels(finding)) == 1


def test_spread_over_hours_is_not_one_window():
    assert run(botnet(step=5 * MIN)) == []  # 24 attempts over 2 h: at most 6 in any 30-min window


def test_one_loud_ip_is_password_spray_not_a_distributed_one():
    loud = [failed_sign_in(T0 + i, f"victim{i}@acme.com", ip="203.0.113.9") for i in range(25)]
    few = [failed_sign_in(T0 + 30 + i, f"other{i}@acme.com", ip=f"198.51.100.{i + 1}") for i in range(4)]
    assert run(loud + few) == []  # 5 IPs, but one of them is a single-source spray
    assert len(latest_revisions(run(loud + few, detections=[PasswordSpray()]))) == 1
    raws = loud + botnet(start=T0 + 60)
    (finding,) = run(raws)
    assert not {r["uuid"] for r in loud} & set(finding.event_uuids)
    assert "1 single-source IP(s) left to password_spray" in labels(finding)[0]


def test_a_brute_forced_login_is_depth_not_breadth():
    hammer = [failed_sign_in(T0 + i, "ceo@acme.com", ip=f"198.51.100.{i % 6 + 1}") for i in range(30)]
    others = [failed_sign_in(T0 + 40 + i, f"user{i}@acme.com", ip=f"198.51.100.{i % 6 + 1}") for i in range(9)]
    assert run(hammer + others) == []  # 10 users and 39 attempts, but without ceo@: 9 users, 9 attempts


def test_unknown_usernames_make_it_credential_stuffing():
    raws = []
    for i in range(20):
        ip = f"100.64.{i}.7"
        if i % 2:
            raws.append(unknown_user_failure(T0 + i * 15, f"leaked{i}@gmail.com", ip=ip))
        else:
            raws.append(failed_sign_in(T0 + i * 15, f"user{i}@acme.com", ip=ip))
    (finding,) = run(raws)
    assert finding.detection == "credential_stuffing" and finding.mitre == ("T1110.004",)
    assert finding.confidence == 45 and "10 of 20 logins (50%) are not users of the tenant" in labels(finding)
    assert "50% unknown" in finding.summary and "100% of logins tried ≤ 2 times" in labels(finding)[0]
    few_unknown = raws[:4] + [failed_sign_in(T0 + 400 + i, f"x{i}@acme.com", ip=f"100.65.{i}.1") for i in range(16)]
    (spray,) = run(few_unknown)  # 2 unknown of 20 logins: below the 25 % share
    assert spray.detection == "distributed_spray"


def test_identity_engine_double_logging_counts_once_per_attempt():
    def logged_twice(raws):
        out = []
        for raw in raws:
            twin = oie_password_failure(0, raw["actor"]["alternateId"], ip=raw["client"]["ipAddress"])
            twin["published"], twin["transaction"] = raw["published"], dict(raw["transaction"])
            out += [raw, twin]
        return out

    (finding,) = run(logged_twice(botnet(10, 2)))  # 20 attempts in 40 events
    assert len(finding.event_uuids) == 20
    assert run(logged_twice(botnet(19, 1, 8))) == []  # 19 attempts in 38 events: one short


def test_allowlisted_egress_is_skipped():
    config = DistributedSprayConfig(allowlist_cidrs=("198.51.100.0/24",))
    assert run(botnet(), config=config) == []


def test_threatinsight_and_anonymizer_shares_boost():
    raws = botnet()
    for raw in raws:
        raw["securityContext"]["isProxy"] = True
    for raw in raws[:6]:  # 25 %
        raw["debugContext"]["debugData"]["threatSuspected"] = "true"
    (finding,) = run(raws)
    assert finding.confidence == 75  # 30 + 15 reused IPs + 15 ThreatInsight + 15 anonymizer
    assert any("ThreatInsight" in label for label in labels(finding))
    raws = botnet()
    raws[0]["debugContext"]["debugData"]["threatSuspected"] = "true"  # 1 of 24: below the share
    (finding,) = run(raws)
    assert finding.confidence == 45


def test_non_password_failures_and_non_humans_do_not_count():
    pushes = [
        oie_push_deny(T0 + i, user=f"00u{i}", login=f"u{i}@acme.com", ip=f"198.51.100.{i % 8}") for i in range(30)
    ]
    assert run(pushes) == []
    system = botnet()
    for raw in system:
        raw["actor"] = dict(SYSTEM_ACTOR)
    states: dict = {}
    assert run(system, states) == [] and states == {}


def test_late_events_count_and_stale_ones_are_dropped():
    raws = botnet()
    later = failed_sign_in(T0 + 40 * MIN, "someone@acme.com", ip="192.0.2.1")
    (finding,) = run([*raws[12:], later, *raws[:12]])  # half the attack arrives 32+ min behind the high-water
    assert set(finding.event_uuids) == {r["uuid"] for r in raws[12:] + raws[:8]}
    stale = botnet(start=T0 - 2 * 3600)
    assert run([later, *stale]) == []  # 2 h behind: beyond window + lateness


def test_out_of_order_replay_suppression_and_round_trip():
    raws = botnet(30, 2, 10, step=10)
    (in_order,) = run(raws)
    shuffled = raws[:]
    random.Random(7).shuffle(shuffled)
    assert len(run(shuffled)) == 1
    engine = Engine([DistributedSpray()], TenantContext("acme"))
    states: dict = {}
    engine.process_all((parse_event(r, "acme") for r in raws[:15]), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert list(restored) == ["distributed_spray|tenant"]
    assert restored["distributed_spray|tenant"].to_dict() == states["distributed_spray|tenant"].to_dict()
    assert engine.process_all((parse_event(r, "acme") for r in raws[:15]), restored) == []  # replay adds nothing
    (finding,) = engine.process_all((parse_event(r, "acme") for r in raws[15:]), restored)
    assert finding.dedup_key == in_order.dedup_key
    assert engine.process_all((parse_event(r, "acme") for r in raws), restored) == []  # the whole batch again


def test_a_long_campaign_is_one_finding_revised_as_it_reaches_more_users():
    raws = botnet(300, 1, 40, step=20)  # 100 min of one attempt every 20 s
    findings = run(raws)
    assert len({f.dedup_key for f in findings}) == 1 and [f.revision for f in findings] == [0, 1, 2, 3]
    reached = [int(f.summary.split("campaign so far: ")[1].split()[0]) for f in findings[1:]]
    assert reached == [40, 80, 160]  # each revision when the users reached doubled
    later = botnet(20, 1, 10, start=T0 + 100 * MIN + 2 * 3600)  # after a 2 h pause: a new campaign
    (new,) = run(raws + later)[4:]
    assert new.dedup_key != findings[0].dedup_key and new.revision == 0


def test_memory_is_bounded():
    states: dict = {}
    run(botnet(400, 1, 40, step=1), states, config=DistributedSprayConfig(max_entries=50))
    assert len(states["distributed_spray|tenant"].attempts) == 50


def test_registered_with_per_tenant_settings():
    settings = DetectionSettings(distributed_spray=DistributedSprayConfig(min_ips=3))
    (detection,) = [d for d in build_detections(settings) if isinstance(d, DistributedSpray)]
    assert detection.config.min_ips == 3 and detection.keyed_by_actor is False
