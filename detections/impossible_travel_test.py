from __future__ import annotations

from dataclasses import replace

import pytest

from detections import geo
from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.impossible_travel import ImpossibleTravel, ImpossibleTravelConfig
from detections.registry import DetectionSettings
from detections.tenant_profile import TenantProfile
from detections.testkit import sign_in

T0 = 1_700_000_000.0
DAY = 86400.0
HOUR = 3600.0


def baseline(n: int = 12, place: str = "nyc", days: float = 20) -> list[dict]:
    """n sign-ins spread over `days`, ending one day before T0."""
    return [sign_in(T0 - DAY - (n - 1 - i) * days * DAY / n, place) for i in range(n)]


def run(raws, states=None, config=None, context=None):
    engine = Engine([ImpossibleTravel(config)], context or TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def test_haversine_known_distances():
    assert geo.haversine_km(40.7128, -74.0060, 51.5074, -0.1278) == pytest.approx(5570, rel=0.01)
    assert geo.haversine_km(10, 10, 10, 10) == 0
    assert geo.speed_kmh(1000, 0) == pytest.approx(60_000)  # Δt floored at one minute
    assert geo.same_prefix("10.1.2.3", "10.1.2.200") and not geo.same_prefix("10.1.2.3", "10.1.3.3")
    assert not geo.same_prefix("10.1.2.3", None) and not geo.same_prefix("junk", "10.1.2.3")
    assert geo.bordering("Canada", "United States") and not geo.bordering("France", "Nigeria")


def test_new_york_then_london_an_hour_later_is_impossible_travel():
    findings = run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")])
    (finding,) = findings
    assert finding.detection == "impossible_travel"
    assert finding.principal == "00u1alice"
    assert finding.severity is Severity.HIGH  # far side is a new country for the user
    assert finding.confidence == 55  # travel 40 + new country/ASN 15
    assert finding.assessment.tier is Tier.MEDIUM
    assert finding.assessment.actions == ()  # travel alone never acts
    assert "T1078" in finding.mitre
    assert "5570 km" in finding.summary or "5571 km" in finding.summary


def test_travel_with_threat_intel_and_new_device_pages_but_does_not_act_alone():
    raw = sign_in(T0 + HOUR, "lagos", threat=True, behaviors="{New Device=POSITIVE, New Country=POSITIVE}")
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), raw])
    assert finding.confidence == 80  # 40 + 15 + 10 + 15
    assert finding.assessment.tier is Tier.HIGH
    assert finding.assessment.actions == ()


def test_slow_travel_and_short_hops_are_fine():
    assert run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + 10 * HOUR, "london")]) == []  # 557 km/h
    assert run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + 300, "boston")]) == []  # 306 km < 500 km


@pytest.mark.parametrize(
    "far",
    [
        {"ip": "73.1.2.99"},  # same /24 as the New York sign-in (London geolocation of a home IP)
        {"ip": "73.1.2.3"},  # same IP
    ],
)
def test_same_ip_or_prefix_suppresses(far):
    assert run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", **far)]) == []


def test_same_asn_suppresses():
    london_on_comcast = sign_in(T0 + HOUR, "london", ip="81.2.69.160")
    london_on_comcast["securityContext"]["asNumber"] = 7922
    assert run([*baseline(), sign_in(T0, "nyc"), london_on_comcast]) == []


def test_apple_private_relay_is_dampened_and_never_becomes_the_baseline():
    relay = sign_in(T0 + HOUR, "frankfurt_relay", proxy=True)
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), relay, sign_in(T0 + 2 * HOUR, "nyc", ip="73.1.2.4")])
    assert finding.severity is Severity.LOW and finding.assessment.tier is Tier.LOW
    assert any("anonymizer" in label for label in labels(finding))
    assert finding.confidence == 25  # 40 + 15 − 30
    # the return to New York is compared with the last *trusted* sign-in (New York), not the relay


def test_anonymous_tunnel_counts_as_proxy():
    vpn = sign_in(T0 + HOUR, "moscow", debug={"tunnels": '[{"anonymous":true,"operator":"NORD_VPN","type":"VPN"}]'})
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), vpn])
    assert any("anonymizer" in label for label in labels(finding))


def test_bordering_country_is_dampened():
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + 600, "toronto")])  # 550 km in 10 min
    assert any("bordering" in label for label in labels(finding))
    assert finding.confidence == 35


def test_mobile_carrier_versus_wifi_in_the_same_country_is_not_reported():
    """T-Mobile egress in Dallas while the laptop is on Comcast in New York: carrier geolocation, not travel."""
    assert run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + 1800, "dallas_mobile")]) == []


def test_cold_start_user_is_dampened():
    (finding,) = run([sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", behaviors="{New Country=POSITIVE}")])
    assert any("cold start" in label for label in labels(finding))
    assert finding.confidence == 40  # 40 + 15 − 15


def test_cold_start_cap_keeps_new_users_below_high_confidence():
    config = ImpossibleTravelConfig(cold_start_cap=50)
    raw = sign_in(T0 + HOUR, "lagos", threat=True, behaviors="{New Device=POSITIVE, New Country=POSITIVE}")
    (finding,) = run([sign_in(T0, "nyc"), raw], config=config)
    assert finding.confidence == 50


def test_known_transition_is_dampened_the_second_time():
    first = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")]
    again = [sign_in(T0 + 3 * DAY, "nyc"), sign_in(T0 + 3 * DAY + HOUR, "london")]
    (one,) = run(first + again)  # the repeat scores 40 − 30 = 10: below the emit floor
    assert one.time == T0 + HOUR
    one, two = run(first + again, config=ImpossibleTravelConfig(min_confidence=0))
    assert not any("seen before" in label for label in labels(one))
    assert any("seen before" in label for label in labels(two))
    assert two.confidence < one.confidence


def test_missing_geo_failures_and_non_humans_are_ignored():
    no_geo = sign_in(T0 + HOUR, "london")
    no_geo["client"]["geographicalContext"] = None
    assert run([*baseline(), sign_in(T0, "nyc"), no_geo]) == []
    failed = sign_in(T0 + HOUR, "london", result="FAILURE", reason="INVALID_CREDENTIALS")
    assert run([*baseline(), sign_in(T0, "nyc"), failed]) == []
    service = {"id": "0oaSERVICE", "type": "PublicClientApp", "alternateId": "svc", "displayName": "svc"}
    raws = [sign_in(T0, "nyc", actor=service), sign_in(T0 + HOUR, "london", actor=service)]
    assert run(raws) == []
    system = {"id": "0oa1", "type": "User", "alternateId": "system@okta.com", "displayName": "Okta"}
    assert run([sign_in(T0, "nyc", actor=system), sign_in(T0 + HOUR, "london", actor=system)]) == []


def test_sso_counts_as_a_successful_sign_in():
    (finding,) = run(
        [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", event_type="user.authentication.sso")]
    )
    assert finding.detection == "impossible_travel"


def test_allowlisted_corporate_egress_is_not_evaluated():
    config = ImpossibleTravelConfig(allowlist_cidrs=("81.2.69.0/24",))
    assert run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")], config=config) == []


def test_late_event_is_compared_with_the_later_sign_in_and_keys_match():
    nyc, london = sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")
    in_order = run([*baseline(), nyc, london])
    late = run([*baseline(), london, nyc])
    assert len(in_order) == len(late) == 1
    assert in_order[0].dedup_key == late[0].dedup_key
    assert set(late[0].event_uuids) == {nyc["uuid"], london["uuid"]}


def test_replay_and_suppression_and_state_round_trip():
    raws = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london"), sign_in(T0 + HOUR + 600, "nyc")]
    engine = Engine([ImpossibleTravel()], TenantContext("acme"))
    states: dict = {}
    first = engine.process_all((parse_event(r, "acme") for r in raws), states)
    assert len(first) == 1  # the hop back within the hour is suppressed
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert (
        engine.state_of(restored, "impossible_travel", "00u1alice").to_dict()
        == engine.state_of(states, "impossible_travel", "00u1alice").to_dict()
    )
    assert engine.process_all((parse_event(r, "acme") for r in raws), restored) == []  # replay


def test_our_own_enforcement_client_is_ignored():
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    raws = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", client_id="0oaITDR")]
    assert run(raws, context=context) == []


# -- tenant context ------------------------------------------------------------------------------------------------

LAGOS_WITH_THREAT = {"threat": True, "behaviors": "{New Device=POSITIVE, New Country=POSITIVE}"}


@pytest.mark.parametrize("listed", ["ALICE@acme.com", "00u1alice"])  # login (any case) or Okta id
def test_known_traveller_is_dampened_visibly_and_no_longer_pages(listed):
    raws = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "lagos", **LAGOS_WITH_THREAT)]
    (plain,) = run(raws)
    assert plain.confidence == 80 and plain.assessment.tier is Tier.HIGH  # pages
    assert plain.severity is Severity.HIGH
    config = ImpossibleTravelConfig(known_travellers=frozenset({listed}))
    (dampened,) = run(raws, config=config)
    assert dampened.confidence == 50  # 80 − 30: the same evidence, one more dampener
    assert [e.label for e in dampened.assessment.evidence] == [e.label for e in plain.assessment.evidence]
    (known,) = dampened.assessment.dampeners
    assert known.points == 30 and "known traveller" in known.label and "alice@acme.com" in known.label
    assert {"label": known.label, "points": -30} in dampened.to_dict()["dampeners"]
    assert dampened.assessment.tier is Tier.MEDIUM  # alert only: below the page tier
    assert dampened.assessment.actions == () and dampened.severity is Severity.MEDIUM


def test_known_traveller_to_a_new_country_is_still_recorded_for_the_digest():
    config = ImpossibleTravelConfig(known_travellers=frozenset({"alice@acme.com"}))
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")], config=config)
    assert finding.confidence == 25 and finding.assessment.tier is Tier.LOW  # 40 + new country 15 − 30
    assert finding.severity is Severity.LOW


def test_other_users_are_not_known_travellers():
    config = ImpossibleTravelConfig(known_travellers=frozenset({"ceo@acme.com", "00uCEO"}))
    (finding,) = run([*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "lagos", **LAGOS_WITH_THREAT)], config=config)
    assert finding.confidence == 80 and not finding.assessment.dampeners


def tenant(**context) -> ImpossibleTravelConfig:
    """The impossible-travel config a tenant with this context runs (build_detections merges it in)."""
    return TenantProfile(**context).apply(DetectionSettings()).impossible_travel


ZSCALER = {"tunnels": '[{"anonymous":false,"operator":"ZSCALER","type":"VPN"}]'}


def test_corporate_vpn_tunnel_is_not_evaluated_when_the_tenant_names_its_operator():
    """Zscaler's egress geolocates where Zscaler is, not where the user is; the tunnel is not anonymous."""
    raws = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", debug=ZSCALER)]
    assert len(run(raws)) == 1
    assert run(raws, config=tenant(vpn_operators=frozenset({"Zscaler"}))) == []
    both = {"tunnels": '[{"anonymous":false,"operator":"ZSCALER"},{"anonymous":true,"operator":"NORD_VPN"}]'}
    chained = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london", debug=both)]
    assert len(run(chained, config=tenant(vpn_operators=frozenset({"ZSCALER"})))) == 1  # every tunnel must be ours


def test_tenant_egress_cidrs_and_asns_merge_with_the_detections_own():
    raws = [*baseline(), sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")]
    own = ImpossibleTravelConfig(allowlist_cidrs=("10.0.0.0/8",))
    merged = TenantProfile(egress_cidrs=("81.2.69.0/24",)).apply(replace(DetectionSettings(), impossible_travel=own))
    assert merged.impossible_travel.allowlist_cidrs == ("10.0.0.0/8", "81.2.69.0/24")
    assert run(raws, config=merged.impossible_travel) == []
    assert run(raws, config=tenant(egress_asns=frozenset({2856}))) == []  # British Telecom as "our" SWG
    assert len(run(raws, config=tenant(egress_cidrs=("81.2.70.0/24",), egress_asns=frozenset({53813})))) == 1
