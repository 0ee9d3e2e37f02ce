from __future__ import annotations

from detections.anonymizer_signin import AnonymizerSignIn, AnonymizerSignInConfig
from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.registry import DetectionSettings
from detections.tenant_profile import TenantProfile
from detections.testkit import sign_in

T0 = 1_700_000_000.0
HOUR = 3600.0
NEW_BOTH = "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE}"
NORD = {"tunnels": '[{"anonymous":true,"operator":"NORD_VPN","type":"VPN"}]'}


def run(raws, states=None, config=None):
    engine = Engine([AnonymizerSignIn(config)], TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def test_proxy_sign_in_with_new_device_and_new_geo_is_medium_without_action():
    raw = sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH)
    (finding,) = run([raw])
    assert finding.detection == "anonymizer_signin"
    assert finding.severity is Severity.MEDIUM
    assert finding.confidence == 40  # anonymizer 15 + new geo 15 + new device 10
    assert finding.assessment.tier is Tier.MEDIUM
    assert finding.assessment.actions == ()
    assert finding.dedup_key == f"acme:anonymizer_signin:00u1alice:{raw['uuid']}"
    assert "T1090" in finding.mitre


def test_anonymous_tunnel_names_the_operator_and_threat_insight_boosts():
    raw = sign_in(T0, "moscow", behaviors="{New Device=POSITIVE}", debug=NORD, threat=True)
    (finding,) = run([raw])
    assert any("NORD_VPN" in label for label in labels(finding))
    assert finding.confidence == 40  # 15 + 10 + ThreatInsight 15


def test_private_relay_like_proxy_without_novelty_is_nothing():
    relay = sign_in(T0, "frankfurt_relay", proxy=True, behaviors="{New Geo-Location=NEGATIVE, New Device=NEGATIVE}")
    assert run([relay]) == []
    assert run([sign_in(T0, "frankfurt_relay", proxy=True)]) == []


def test_private_relay_with_novelty_is_dampened_below_the_floor():
    assert run([sign_in(T0, "frankfurt_relay", proxy=True, behaviors=NEW_BOTH)]) == []
    (finding,) = run(
        [sign_in(T0, "frankfurt_relay", proxy=True, behaviors=NEW_BOTH)],
        config=AnonymizerSignInConfig(relay_asns=frozenset()),
    )
    assert finding.confidence == 40


def test_unknown_behaviors_are_not_novelty():
    unknown = "{New Geo-Location=UNKNOWN, New Device=BAD_REQUEST}"
    assert run([sign_in(T0, "moscow", proxy=True, behaviors=unknown)]) == []


def test_no_proxy_failures_and_non_humans_are_ignored():
    assert run([sign_in(T0, "moscow", behaviors=NEW_BOTH)]) == []
    assert (
        run([sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH, result="FAILURE", reason="INVALID_CREDENTIALS")])
        == []
    )
    service = {"id": "0oaSVC", "type": "PublicClientApp", "alternateId": "svc", "displayName": "svc"}
    assert run([sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH, actor=service)]) == []


def test_allowlisted_corporate_vpn_is_not_evaluated():
    corp = {"tunnels": '[{"anonymous":true,"operator":"ZSCALER","type":"VPN"}]'}
    config = AnonymizerSignInConfig(allowlist_operators=frozenset({"ZSCALER"}), allowlist_asns=frozenset({2856}))
    assert run([sign_in(T0, "moscow", behaviors=NEW_BOTH, debug=corp)], config=config) == []
    assert run([sign_in(T0, "london", proxy=True, behaviors=NEW_BOTH)], config=config) == []
    assert len(run([sign_in(T0, "moscow", behaviors=NEW_BOTH, debug=NORD)], config=config)) == 1


def test_privileged_user_is_high_severity():
    config = AnonymizerSignInConfig(privileged_user_ids=frozenset({"00u1alice"}))
    (finding,) = run([sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH)], config=config)
    assert finding.severity is Severity.HIGH


def test_six_hour_suppression_per_user_in_event_time_and_out_of_order():
    a = sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH)
    b = sign_in(T0 + 5 * HOUR, "lagos", proxy=True, behaviors=NEW_BOTH)
    c = sign_in(T0 + 12 * HOUR, "lagos", proxy=True, behaviors=NEW_BOTH)
    assert [f.event_uuids for f in run([a, b, c])] == [(a["uuid"],), (c["uuid"],)]
    assert len(run([b, a])) == 1  # the late one lands inside the window of the first
    other = sign_in(T0 + HOUR, "lagos", proxy=True, behaviors=NEW_BOTH, user="00u2bob", login="bob@acme.com")
    assert len(run([a, other])) == 2


def test_replay_and_state_round_trip():
    raws = [sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH)]
    engine = Engine([AnonymizerSignIn()], TenantContext("acme"))
    states: dict = {}
    assert len(engine.process_all((parse_event(r, "acme") for r in raws), states)) == 1
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert (
        engine.state_of(restored, "anonymizer_signin", "00u1alice").to_dict()
        == engine.state_of(states, "anonymizer_signin", "00u1alice").to_dict()
    )
    assert engine.process_all((parse_event(r, "acme") for r in raws), restored) == []


def tenant(**context) -> AnonymizerSignInConfig:
    """The config a tenant with this context runs (build_detections merges it in)."""
    return TenantProfile(**context).apply(DetectionSettings()).anonymizer_signin


def test_tenant_vpn_operators_match_okta_spelling_and_merge_with_the_detections_own():
    nord = [sign_in(T0, "moscow", behaviors=NEW_BOTH, debug=NORD)]  # Okta logs NORD_VPN
    assert len(run(nord)) == 1
    assert run(nord, config=tenant(vpn_operators=frozenset({"NordVPN"}))) == []
    own = DetectionSettings(anonymizer_signin=AnonymizerSignInConfig(allowlist_operators=frozenset({"ZSCALER"})))
    merged = TenantProfile(vpn_operators=frozenset({"nordvpn"})).apply(own).anonymizer_signin
    corp = {"tunnels": '[{"anonymous":true,"operator":"ZSCALER","type":"VPN"}]'}
    assert (
        run(nord, config=merged) == []
        and run([sign_in(T0, "moscow", behaviors=NEW_BOTH, debug=corp)], config=merged) == []
    )
    assert len(run(nord, config=tenant(vpn_operators=frozenset({"ZSCALER"})))) == 1  # another operator: evaluated


def test_tenant_egress_cidrs_and_asns_are_not_evaluated():
    proxied = [sign_in(T0, "moscow", proxy=True, behaviors=NEW_BOTH)]  # 95.24.1.2, AS8359
    assert run(proxied, config=tenant(egress_cidrs=("95.24.0.0/16",))) == []
    assert run(proxied, config=tenant(egress_asns=frozenset({8359}))) == []
    assert len(run(proxied, config=tenant(egress_cidrs=("95.25.0.0/16",), egress_asns=frozenset({53813})))) == 1


def test_without_oktas_behaviours_a_device_new_to_the_user_through_a_vpn_is_found_from_the_baseline():
    """A Classic org: no behaviours. The baseline knows the laptop, even through the VPN, and not the place."""
    usual = [sign_in(T0 - (10 - i) * 2 * 86400, "nyc") for i in range(10)]
    through_vpn = [sign_in(T0 - 3600, "frankfurt_relay", proxy=True, debug=NORD)]  # the laptop, through NordVPN
    assert run([*usual, *through_vpn]) == []  # a known device, and a relay's place is judged by nobody
    states: dict = {}
    run([*usual, *through_vpn], states)
    (finding,) = run([sign_in(T0, "moscow", proxy=True, dt_hash="dt-stranger", debug=NORD)], states)
    (device,) = [label for label in labels(finding) if label.startswith("new device")]
    assert "new device dt-stranger (usually dt-alice-laptop)" in device and "profile learned" in device
