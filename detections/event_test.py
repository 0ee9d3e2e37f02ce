"""The edge: hostile values are refused or neutralised by parse_event, so detections only see valid ones."""

from __future__ import annotations

import math

import pytest

from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, PushResponse, parse_event
from detections.impossible_travel import ImpossibleTravel
from detections.registry import build_detections
from detections.testkit import sign_in

T0 = 1_700_000_000.0
DAY = 86400.0


def with_geo(raw: dict, lat: object, lon: object) -> dict:
    raw["client"]["geographicalContext"]["geolocation"] = {"lat": lat, "lon": lon}
    return raw


@pytest.mark.parametrize("lat", ["inf", "-Infinity", "nan", 1000, -91, True, [1], {"x": 1}, float("nan"), "12abc"])
def test_out_of_range_or_non_numeric_coordinates_are_neutralised_with_a_reason(lat):
    event = parse_event(with_geo(sign_in(T0, "london"), lat, -0.12), "acme")
    assert (event.geo.lat, event.geo.lon) == (None, None)
    assert any("geolocation" in reason for reason in event.invalid)


def test_valid_coordinates_pass_as_floats_including_numeric_strings():
    event = parse_event(with_geo(sign_in(T0, "london"), "51.5", "-0.12"), "acme")
    assert (event.geo.lat, event.geo.lon) == (51.5, -0.12) and event.invalid == ()


@pytest.mark.parametrize("lat", ["inf", "-Infinity", 1000, "nan", True])
def test_a_poisoned_latitude_neither_crashes_nor_invents_impossible_travel(lat):
    history = [sign_in(T0 - 20 * DAY + i * DAY, "nyc") for i in range(12)]
    hostile = with_geo(sign_in(T0 + 60, "london"), lat, -0.12)
    engine = Engine([ImpossibleTravel()], TenantContext("acme"))
    states: dict = {}
    findings = engine.process_all((parse_event(r, "acme") for r in [*history, hostile]), states)
    assert findings == []  # before: ValueError (math domain error) or "20015 km apart"


@pytest.mark.parametrize(
    "published",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "x" * 5000],
)
def test_published_outside_a_sane_window_is_refused(published):
    raw = sign_in(T0, "nyc")
    raw["published"] = published
    with pytest.raises(MalformedEvent, match="published"):
        parse_event(raw, "acme")


def test_published_is_bounded_by_the_given_clock():
    raw = sign_in(T0, "nyc")
    assert parse_event(raw, "acme", now=T0).time == T0
    with pytest.raises(MalformedEvent, match="outside"):
        parse_event(raw, "acme", now=T0 - 2 * DAY)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("uuid", 42, "uuid is a int"), ("uuid", "u" * 300, "uuid is 300 characters"), ("eventType", ["x"], "a list")],
)
def test_identifiers_must_be_short_strings(field, value, reason):
    raw = sign_in(T0, "nyc")
    raw[field] = value
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(raw, "acme")


def test_strings_are_bounded_and_objects_in_string_fields_neutralised():
    raw = sign_in(T0, "nyc")
    raw["actor"]["alternateId"] = "a" * 100_000
    raw["actor"]["id"] = {"$gt": ""}
    raw["securityContext"]["asNumber"] = 2**70
    event = parse_event(raw, "acme")
    assert len(event.actor_login) == 2048 and event.actor_id == "" and event.asn is None
    assert len(event.invalid) == 3


def test_anything_unforeseen_is_a_malformed_event_not_a_crash():
    raw = sign_in(T0, "nyc")
    raw["debugContext"] = {"debugData": {"behaviors": {"New Device": 2**70}}}  # orjson cannot re-encode it
    with pytest.raises(MalformedEvent, match="unusable event"):
        parse_event(raw, "acme")


def test_every_detection_accepts_what_the_edge_lets_through_and_its_state_round_trips():
    hostile = with_geo(sign_in(T0, "london", ip="not-an-ip", behaviors="{New Device=, =POSITIVE"), "90", "-180")
    hostile["securityContext"] = {"asNumber": "0", "asOrg": "\x1b[2J", "isProxy": "maybe"}
    event = parse_event(hostile, "acme")
    assert math.isfinite(event.geo.lat) and event.asn == 0
    engine = Engine(build_detections(), TenantContext("acme"))
    states: dict = {}
    engine.process(event, states)
    for key, state in states.items():
        assert engine.decode_state(key, engine.encode_state(state)).to_dict() == state.to_dict()


def _every_field(*, actor_type: str, proxy: bool, threat: str) -> dict:
    return {
        "uuid": "u-1",
        "eventType": "user.authentication.auth_via_mfa",
        "published": "2023-11-14T22:13:20.000Z",
        "actor": {"id": "00u1", "type": actor_type, "alternateId": "ann@example.com", "displayName": "Ann"},
        "client": {
            "ipAddress": "203.0.113.9",
            "id": "0oaclient",
            "geographicalContext": {
                "city": "Leeds",
                "state": "England",
                "country": "United Kingdom",
                "geolocation": {"lat": 53.8, "lon": -1.55},
            },
            "userAgent": {"rawUserAgent": "Mozilla/5.0 X", "os": "Linux", "browser": "FIREFOX"},
        },
        "outcome": {"result": "failure", "reason": "INVALID_CREDENTIALS"},
        "securityContext": {"asNumber": 64500, "asOrg": "example net", "isProxy": proxy},
        "authenticationContext": {"externalSessionId": "sess-1", "rootSessionId": "root-1"},
        "transaction": {"id": "tx-1", "detail": {"requestApiTokenId": "tok-1"}},
        "debugContext": {
            "debugData": {
                "factor": "OKTA_VERIFY_PUSH",
                "dtHash": "dt-1",
                "behaviors": "{New IP=POSITIVE}",
                "risk": "{level=HIGH}",
                "threatSuspected": threat,
                "pushOnlyResponseType": "OV_RESPONSE_DENY",
            }
        },
        "target": [{"type": "User", "id": "00u2"}],
    }


def test_every_field_is_read_from_its_own_place():
    """parse_event builds Event and Geo positionally (for speed): each field must hold its own value."""
    raw = _every_field(actor_type="User", proxy=False, threat="true")
    e = parse_event(raw, "acme", now=T0)
    assert (e.tenant, e.uuid, e.time, e.event_type) == ("acme", "u-1", T0, "user.authentication.auth_via_mfa")
    assert (e.outcome, e.outcome_reason) == ("FAILURE", "INVALID_CREDENTIALS")
    assert (e.actor_id, e.actor_type, e.actor_login, e.actor_name) == ("00u1", "User", "ann@example.com", "Ann")
    assert (e.geo.city, e.geo.state, e.geo.country, e.geo.lat, e.geo.lon) == (
        "Leeds",
        "England",
        "United Kingdom",
        53.8,
        -1.55,
    )
    assert (e.ip, e.asn, e.as_org) == ("203.0.113.9", 64500, "example net")
    assert (e.user_agent, e.ua_os, e.ua_browser, e.dt_hash) == ("Mozilla/5.0 X", "Linux", "FIREFOX", "dt-1")
    assert (e.client_id, e.session_id, e.root_session_id) == ("0oaclient", "sess-1", "root-1")
    assert (e.transaction_id, e.api_token_id, e.factor) == ("tx-1", "tok-1", "OKTA_VERIFY_PUSH")
    assert (e.push, e.behaviors, e.risk) == (PushResponse.DENY, {"New IP": "POSITIVE"}, {"level": "HIGH"})
    assert e.debug["dthash"] == "dt-1" and e.targets == ({"type": "User", "id": "00u2"},)
    assert e.raw is raw and e.invalid == ()
    # the three flags, in two events, each with its own pair of values
    other = parse_event(_every_field(actor_type="SystemPrincipal", proxy=True, threat="true"), "acme", now=T0)
    flags = [(x.is_human, x.is_proxy, x.threat_suspected) for x in (e, other)]
    assert flags == [(True, False, True), (False, True, True)]
