from __future__ import annotations

import orjson

from detections.actor_record import ActorRecord
from detections.baseline import Baseline, BaselineConfig, Profile
from detections.confidence import Tier
from detections.engine import Engine, TenantContext
from detections.event import Event, parse_event
from detections.impossible_travel import ImpossibleTravel
from detections.mfa_fatigue import MfaFatigue
from detections.registry import build_detections
from detections.testkit import push_answer, push_prompt, sign_in

T0 = 1_700_000_000.0
DAY = 86400.0
HOUR = 3600.0


def ev(raw: dict) -> Event:
    return parse_event(raw, "acme")


def learned(n: int = 12, days: float = 20, place: str = "nyc", **kw) -> tuple[Baseline, Profile]:
    baseline, profile = Baseline(), Profile()
    for i in range(n):
        assert baseline.learn(ev(sign_in(T0 - DAY - (n - 1 - i) * days * DAY / n, place, **kw)), profile)
    return baseline, profile


def test_a_new_country_network_and_device_are_named_with_the_users_usual():
    baseline, profile = learned()
    novelty = baseline.judge(ev(sign_in(T0, "moscow", dt_hash="dt-evil", browser="FIREFOX", os="Linux")), profile)
    assert not novelty.learning and novelty.sign_ins == 12
    assert novelty.new_place is not None and novelty.new_place.facet == "country"
    assert novelty.new_place.describe() == "new country Russia (usually United States)"
    assert novelty.new_network is not None and novelty.new_network.value == "95.24.1.0/24"
    assert novelty.new_network.usual == ("73.1.2.0/24",)
    assert novelty.new_device is not None and novelty.new_device.value == "dt-evil"
    assert novelty.get("asn") is not None and novelty.get("agent") is not None
    assert "profile learned: 12 sign-in(s) over 19 day(s)" in novelty.explain(novelty.new_place)
    usual = baseline.judge(ev(sign_in(T0, "nyc")), profile)
    assert usual.new == () and usual.new_place is None and usual.new_device is None


def test_judged_before_learned_and_only_successful_sign_ins_teach():
    baseline, profile = Baseline(), Profile()
    first = ev(sign_in(T0, "nyc"))
    assert baseline.judge(first, profile).new == ()  # nothing to compare with: nothing is "new"
    assert not baseline.learn(ev(sign_in(T0 + 1, "moscow", result="FAILURE")), profile)
    assert not baseline.learn(ev(push_prompt(T0 + 2)), profile)
    assert baseline.learn(first, profile) and profile.sign_ins == 1
    novelty = baseline.judge(ev(sign_in(T0 + HOUR, "london")), profile)
    assert novelty.learning and novelty.new_place is not None  # learning is stated, novelty still judged
    assert "profile learning: 1 sign-in(s)" in novelty.explain(novelty.new_place)


def test_oktas_behaviours_are_combined_with_the_profile():
    baseline, profile = learned()
    okta_new = baseline.judge(ev(sign_in(T0, "nyc", behaviors="{New Device=POSITIVE}")), profile)
    assert okta_new.new_device is not None and okta_new.new_device.by == "okta"
    okta_known = baseline.judge(ev(sign_in(T0, "moscow", behaviors="{New Country=NEGATIVE}")), profile)
    assert okta_known.get("country") is None and okta_known.get("asn") is not None  # Okta has older history
    unknown = baseline.judge(ev(sign_in(T0, "moscow", behaviors="{New Country=UNKNOWN}")), profile)
    assert unknown.get("country") is not None and unknown.get("country").by == "baseline"
    both = baseline.judge(ev(sign_in(T0, "moscow", behaviors="{New Country=POSITIVE}")), profile)
    assert both.get("country").by == "baseline+okta"
    # a facet the event does not show: Okta's word alone
    no_token = baseline.judge(ev(sign_in(T0, "nyc", dt_hash=None, behaviors="{New Device=POSITIVE}")), profile)
    assert no_token.new_device is not None and no_token.new_device.by == "okta"


def test_a_sign_in_through_a_relay_teaches_the_device_not_the_place():
    baseline, profile = learned()
    baseline.learn(ev(sign_in(T0, "frankfurt_relay", proxy=True, dt_hash="dt-new")), profile)
    assert "Germany" not in profile.seen["country"] and "dt-new" in profile.seen["device"]


def test_the_profile_is_bounded_forgets_and_decays():
    config = BaselineConfig(max_values=4, horizon_s=30 * DAY, max_hour_count=32)
    baseline, profile = Baseline(config), Profile()
    for i in range(40):  # a new device every sign-in, one a day
        baseline.learn(ev(sign_in(T0 + i * DAY, "nyc", dt_hash=f"dt-{i}")), profile)
    assert list(profile.seen["device"]) == ["dt-36", "dt-37", "dt-38", "dt-39"]  # the most recent kept
    assert sum(profile.hours) < 32  # halved once it held 32 sign-ins
    baseline.learn(ev(sign_in(T0 + 80 * DAY, "london", dt_hash="dt-39")), profile)
    assert "United States" not in profile.seen["country"]  # unseen for longer than the horizon
    back = baseline.judge(ev(sign_in(T0 + 81 * DAY, "nyc", dt_hash="dt-39")), profile)
    assert back.get("country") is not None  # new again


def test_the_profile_round_trips_small_and_versioned():
    baseline, profile = learned(40, days=60, dt_hash="dt-alice-laptop")
    for place in ("london", "paris", "toronto", "chicago", "boston"):
        baseline.learn(ev(sign_in(T0, place)), profile)
    data = orjson.dumps(profile.to_dict())
    assert len(data) < 1200, len(data)
    restored = baseline.load_state(orjson.loads(data))
    assert restored == profile
    try:
        baseline.load_state({**orjson.loads(data), "v": 99})
    except ValueError as exc:
        assert "version" in str(exc)
    else:
        raise AssertionError("an unknown version must not load")


def test_one_profile_per_user_serves_every_detection_and_is_not_kept_when_nobody_reads_it():
    engine = Engine(build_detections(), TenantContext("acme"))
    states: dict = {}
    for i in range(3):
        engine.process(ev(sign_in(T0 + i * HOUR, "nyc")), states)
    records = {k: v for k, v in states.items() if isinstance(v, ActorRecord)}
    profiles = [(k, part) for k, v in records.items() for part, _ in v.items() if part == "baseline"]
    assert profiles == [("actor|00u1alice", "baseline")]  # one, in the user's actor record
    assert engine.novelty(ev(sign_in(T0 + 4 * HOUR, "moscow")), states).new_place is not None
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert engine.state_of(restored, "baseline", "00u1alice") == engine.state_of(states, "baseline", "00u1alice")
    from detections.user_reported_suspicious import UserReportedSuspicious

    alone: dict = {}
    Engine([UserReportedSuspicious()], TenantContext("acme")).process(ev(sign_in(T0, "nyc")), alone)
    assert alone == {}


def test_classic_org_travel_to_a_new_country_on_a_new_device_is_medium_while_learning():
    """No Okta behaviours at all (a Classic org): the baseline alone says the country and the device are new."""
    engine = Engine([ImpossibleTravel()], TenantContext("acme"))
    states: dict = {}
    for i in range(3):  # three days of history: the profile is learning
        engine.process(ev(sign_in(T0 - (3 - i) * DAY, "nyc")), states)
    engine.process(ev(sign_in(T0, "nyc")), states)
    (finding,) = engine.process(ev(sign_in(T0 + HOUR, "moscow", dt_hash="dt-unknown", browser="FIREFOX")), states)
    assert finding.assessment.tier is Tier.MEDIUM, finding.assessment
    labels = [e.label for e in finding.assessment.evidence]
    assert any("new country Russia (usually United States)" in label for label in labels), labels
    assert any("new device dt-unknown (usually dt-alice-laptop)" in label for label in labels), labels
    assert any("cold start" in d.label and "learning" in d.label for d in finding.assessment.dampeners)


def test_denied_pushes_requested_from_a_network_and_device_new_to_the_user_are_medium_before_any_accept():
    """Without Okta behaviours, from the baseline alone; the same bombing from the user's usual laptop is low."""

    def bombing(place: str, dt_hash: str, ip: str | None = None) -> list:
        engine = Engine([MfaFatigue()], TenantContext("acme"))
        states: dict = {}
        for i in range(12):
            engine.process(ev(sign_in(T0 - (12 - i) * 2 * DAY, "nyc")), states)
        findings = []
        for i in range(6):
            t = T0 + i * 20
            prompt = push_prompt(t, place, behaviors=None, authn=f"a{i}", dt_hash=dt_hash, ip=ip)
            findings += engine.process(ev(prompt), states)
            findings += engine.process(ev(push_answer(t + 1, "nyc", accept=False, authn=f"a{i}")), states)
        return [f for f in findings if f.detection == "mfa_push_bombing"]

    attack = bombing("nyc", "dt-evil", ip="198.51.100.7")  # same city, a new network and a new device
    assert attack and attack[0].assessment.tier is Tier.MEDIUM
    labels = " | ".join(e.label for e in attack[0].assessment.evidence)
    assert "network new for the user: " in labels and "usually 73.1.2.0/24" in labels
    assert "device new for the user: " in labels and "new device dt-evil" in labels
    (far, *_) = bombing("moscow", "dt-evil")
    assert far.assessment.tier is Tier.HIGH and "place new for the user: new country Russia" in str(far.assessment)
    usual = bombing("nyc", "dt-alice-laptop")
    assert usual and usual[0].assessment.tier is Tier.LOW


def test_pushes_at_an_hour_the_user_never_signs_in_add_to_the_bombing():
    engine = Engine([MfaFatigue()], TenantContext("acme"))
    states: dict = {}
    for i in range(12):  # always at 22:13 UTC
        engine.process(ev(sign_in(T0 - (12 - i) * 2 * DAY, "nyc")), states)
    night = T0 + 8 * HOUR  # 06:13 UTC: no sign-in within an hour of it
    assert engine.novelty(ev(push_prompt(night, "nyc", behaviors=None)), states).odd_hour
    assert not engine.novelty(ev(push_prompt(T0, "nyc", behaviors=None)), states).odd_hour
    findings = []
    for i in range(6):
        t = night + i * 20
        findings += engine.process(ev(push_prompt(t, "nyc", behaviors=None, authn=f"a{i}")), states)
        findings += engine.process(ev(push_answer(t + 1, "nyc", accept=False, authn=f"a{i}")), states)
    (bombing, *_) = [f for f in findings if f.detection == "mfa_push_bombing"]
    assert bombing.confidence == 35  # 30 + 5: medium
    assert any("hour the user never signs in" in e.label for e in bombing.assessment.evidence)


def test_hostile_strings_keep_the_profile_small():
    baseline, profile = Baseline(), Profile()
    for i in range(30):
        raw = sign_in(T0 + i, "nyc", dt_hash="d" * 2000 + str(i), browser="B" * 2000 + str(i), os="O" * 2000)
        raw["client"]["geographicalContext"]["city"] = "C" * 2000 + str(i)
        baseline.learn(ev(raw), profile)
    assert len(orjson.dumps(profile.to_dict())) < 4 * 12 * 200


def test_a_long_device_hash_is_shown_by_its_start():
    baseline, profile = learned(dt_hash="a" * 64)
    novelty = baseline.judge(ev(sign_in(T0, "nyc", dt_hash="b" * 64)), profile)
    assert novelty.new_device.describe() == f"new device {'b' * 12}… (usually {'a' * 12}…)"


def test_a_profile_of_the_first_encoding_still_loads_and_is_written_shorter():
    baseline, profile = learned(12, days=20, dt_hash="dt-alice-laptop")
    baseline.learn(ev(sign_in(T0 + 30 * DAY, "london")), profile)
    first = {  # version 1, as main wrote it before
        "v": 1,
        "first": profile.first_seen,
        "last": profile.last_seen,
        "n": profile.sign_ins,
        "seen": {facet: {k: list(v) for k, v in values.items()} for facet, values in profile.seen.items()},
        "hours": list(profile.hours),
    }
    assert baseline.load_state(orjson.loads(orjson.dumps(first))) == profile
    written = profile.to_dict()
    assert written["v"] == 2 and len(orjson.dumps(written)) < len(orjson.dumps(first)) * 0.8
    assert baseline.load_state(orjson.loads(orjson.dumps(written))) == profile
    assert any(isinstance(v, list) for values in written["s"].values() for v in values.values())  # not last seen
