from __future__ import annotations

from detections.confidence import Action, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.registry import DetectionSettings
from detections.success_after_credential_attack import (
    SuccessAfterCredentialAttack,
    SuccessAfterCredentialAttackConfig,
)
from detections.tenant_profile import TenantProfile
from detections.testkit import failed_sign_in, oie_password_failure, sign_in

T0 = 1_700_000_000.0
MIN = 60.0
ATTACKER = "185.220.101.4"
LOGIN = "alice@acme.com"


def run(raws, states=None, config=None):
    engine = Engine([SuccessAfterCredentialAttack(config)], TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


MTS = {"asNumber": 8359, "asOrg": "mts", "isp": "mts", "domain": None, "isProxy": False}


def attack(n=5, start=T0, step=2 * MIN, ip=ATTACKER, network=MTS):
    return [
        failed_sign_in(start + i * step, LOGIN, ip=ip, user="00u1alice", securityContext=dict(network))
        for i in range(n)
    ]


def success(t, place="moscow", ip=ATTACKER, **kw):
    return sign_in(t, place, ip=ip, **kw)


def test_failures_then_success_from_the_attacking_ip_is_high_confidence_with_credential_actions():
    fails = attack()
    ok = success(T0 + 30 * MIN)
    (finding,) = run([*fails, ok])
    assert finding.detection == "success_after_credential_attack"
    assert finding.principal == "00u1alice"
    assert finding.severity is Severity.HIGH
    assert finding.confidence == 85  # attack 30 + access 35 + from the attacking IP 20
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
    assert finding.event_uuids == (*(f["uuid"] for f in fails), ok["uuid"])
    assert finding.dedup_key == f"acme:success_after_credential_attack:00u1alice:{ok['uuid']}"
    assert "T1110" in finding.mitre


def test_success_from_the_same_asn_but_another_ip_counts():
    (finding,) = run([*attack(), success(T0 + 30 * MIN, ip="95.24.9.9")])  # moscow's ASN 8359 on both
    assert any("AS8359" in label for label in labels(finding))
    assert finding.confidence == 85


def test_success_from_an_unrelated_network_is_not_this_detection():
    assert run([*attack(), success(T0 + 30 * MIN, "nyc", ip="73.1.2.3")]) == []


def test_too_few_failures_or_too_late_or_spread_out_is_nothing():
    assert run([*attack(n=4), success(T0 + 30 * MIN)]) == []
    assert run([*attack(), success(T0 + 8 * MIN + 61 * MIN)]) == []  # 61 min after the last failure
    assert run([*attack(step=20 * MIN), success(T0 + 90 * MIN)]) == []  # 5 failures over 80 min


def test_identity_engine_double_logging_counts_once_per_attempt():
    raws = []
    for i in range(3):
        f = failed_sign_in(T0 + i * MIN, LOGIN, ip=ATTACKER, user="00u1alice")
        g = oie_password_failure(T0 + i * MIN, LOGIN, ip=ATTACKER)
        g["transaction"] = dict(f["transaction"])
        raws += [f, g]
    assert run([*raws, success(T0 + 10 * MIN)]) == []  # 3 attempts, logged 6 times
    more = [oie_password_failure(T0 + (3 + i) * MIN, LOGIN, ip=ATTACKER) for i in range(2)]
    assert len(run([*raws, *more, success(T0 + 10 * MIN)])) == 1


def test_user_mistyping_on_the_known_device_is_dampened_below_action():
    known = "{New Device=NEGATIVE, New IP=NEGATIVE, New Geo-Location=NEGATIVE}"
    home = "73.1.2.3"
    comcast = {"asNumber": 7922, "asOrg": "comcast", "isp": "comcast", "domain": None, "isProxy": False}
    (finding,) = run([*attack(ip=home, network=comcast), success(T0 + 12 * MIN, "nyc", ip=home, behaviors=known)])
    assert finding.confidence == 55
    assert finding.assessment.actions == ()
    assert any("mistyping" in label for label in labels(finding))


def test_allowlisted_corporate_egress_is_dampened():
    config = SuccessAfterCredentialAttackConfig(allowlist_cidrs=("185.220.101.0/24",))
    (finding,) = run([*attack(), success(T0 + 30 * MIN)], config=config)
    assert finding.confidence == 45 and finding.assessment.actions == ()


def test_late_failures_complete_the_chain_with_the_same_key():
    fails, ok = attack(), success(T0 + 30 * MIN)
    (in_order,) = run([*fails, ok])
    (late,) = run([ok, *fails])
    assert late.dedup_key == in_order.dedup_key
    assert late.event_uuids == in_order.event_uuids
    assert late.principal == "00u1alice"


def test_other_users_do_not_mix():
    bob_fails = [failed_sign_in(T0 + i * MIN, "bob@acme.com", ip=ATTACKER) for i in range(5)]
    assert run([*bob_fails, success(T0 + 10 * MIN)]) == []


def test_one_finding_per_user_per_hour_replay_and_state_round_trip():
    raws = [*attack(), success(T0 + 20 * MIN), success(T0 + 25 * MIN)]
    engine = Engine([SuccessAfterCredentialAttack()], TenantContext("acme"))
    states: dict = {}
    assert len(engine.process_all((parse_event(r, "acme") for r in raws), states)) == 1
    key = f"success_after_credential_attack|{LOGIN}"
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert restored[key].to_dict() == states[key].to_dict()
    assert engine.process_all((parse_event(r, "acme") for r in raws), restored) == []


def test_failed_sign_ins_and_non_humans_are_not_successes():
    service = {"id": "0oaSVC", "type": "PublicClientApp", "alternateId": LOGIN, "displayName": "svc"}
    assert run([*attack(), success(T0 + 30 * MIN, actor=service)]) == []


def tenant(**context) -> SuccessAfterCredentialAttackConfig:
    return TenantProfile(**context).apply(DetectionSettings()).success_after_credential_attack


def test_tenant_egress_dampens_but_its_vpn_operators_do_not():
    raws = [*attack(), success(T0 + 30 * MIN)]
    (by_asn,) = run(raws, config=tenant(egress_asns=frozenset({8359})))
    assert by_asn.confidence == 45 and by_asn.assessment.actions == ()
    assert "allowlisted corporate egress" in labels(by_asn)
    (by_cidr,) = run(raws, config=tenant(egress_cidrs=("185.220.101.0/24",)))
    assert by_cidr.confidence == 45
    nord = {"tunnels": '[{"anonymous":true,"operator":"NORD_VPN","type":"VPN"}]'}
    (via_vpn,) = run(
        [*attack(), success(T0 + 30 * MIN, debug=nord)], config=tenant(vpn_operators=frozenset({"NordVPN"}))
    )
    assert via_vpn.confidence == 85 and via_vpn.assessment.actions == (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
