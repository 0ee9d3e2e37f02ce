"""Scenario engine: YAML format and validation, attack event content, in-process runs, determinism."""

from __future__ import annotations

import copy
import itertools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.sim import SimOrg
from detector.sim.scenario import (
    EPOCH,
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    ScenarioRunner,
    bundled_scenarios,
    load_scenario,
    parse_duration,
    parse_scenario,
)
from tests.sim.conftest import FakeClock

VICTIM = "dana.whitfield@acme.com"


def base(**steps: Any) -> dict[str, Any]:
    """A minimal valid scenario document with one push-bombing step (override step fields by kwargs)."""
    step = {
        "at": "1s",
        "kind": "mfa_push_bombing",
        "user": VICTIM,
        "attacker": {"city": "Bucharest", "asn": 9009, "ip": "185.156.46.12"},
        "denials": 3,
        "interval": "1s",
    }
    step.update(steps)
    return {
        "name": "t",
        "population": {
            "size": 8,
            "seed": 3,
            "users": [
                {"login": VICTIM, "first_name": "Dana", "last_name": "Whitfield", "home": "Chicago", "devices": 2}
            ],
        },
        "background": {"rate": 0},
        "steps": [step],
    }


def events_of(sc: Scenario, start: datetime = EPOCH) -> list[dict[str, Any]]:
    return [e.event for e in sc.compile(start).emissions]


def haversine_km(a: dict[str, float], b: dict[str, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


# --------------------------------------------------------------------------- loading / validation


def test_bundled_scenarios_load() -> None:
    names = bundled_scenarios()
    assert {"demo", "mfa_push_bombing", "impossible_travel", "password_spray", "raw_events"} <= set(names)
    for name in names:
        sc = load_scenario(name)
        assert sc.steps and sc.expected()
        header = (SCENARIO_DIR / f"{name}.yaml").read_text().splitlines()[0]
        assert header.startswith("#")  # every file documents the format at the top


def test_demo_scenario_matches_the_brief() -> None:
    sc = load_scenario("demo")
    assert sc.population.size == 50 and sc.background.rate == 20
    (attack,) = sc.expected()
    assert attack.kind == "mfa_push_bombing" and attack.at == 3.0 and attack.users == (VICTIM,)
    assert attack.details["denials"] == 6 and attack.details["accepted"] is True
    (step,) = sc.steps
    assert step.interval == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["steps"][0].update(denials=0), "steps[0].denials"),
        (lambda d: d["steps"][0].update(at="3 parsecs"), "steps[0].at"),
        (lambda d: d["steps"][0]["attacker"].update(city="Atlantis"), "steps[0].attacker.city"),
        (lambda d: d["steps"][0]["attacker"].update(asn=1), "steps[0].attacker.asn"),
        (lambda d: d["steps"][0]["attacker"].update(ip="999.1.1.1"), "steps[0].attacker.ip"),
        (lambda d: d["steps"][0].update(user="nobody@acme.com"), "steps[0].user"),
        (lambda d: d["steps"][0].update(response_delay="2s"), "steps[0]"),
        (lambda d: d["steps"][0].update(kind="ransomware"), "steps[0]"),
        (lambda d: d["steps"][0].update(colour="red"), "steps[0].colour"),
        (lambda d: d["population"].update(engine="legacy"), "population.engine"),
        (lambda d: d["population"].update(size=0), "population.size"),
        (lambda d: d["background"].update(rate=-1), "background.rate"),
        (lambda d: d.pop("name"), "name"),
    ],
)
def test_validation_errors_name_the_field(mutate: Any, field: str) -> None:
    doc = base()
    mutate(doc)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc)
    assert field in str(err.value), str(err.value)


def test_spray_validation_names_target_index() -> None:
    doc = base()
    doc["steps"] = [
        {"at": 0, "kind": "password_spray", "attacker": {"city": "Lagos"}, "targets": [VICTIM, "ghost@acme.com"]}
    ]
    with pytest.raises(ScenarioError, match=r"steps\[0\]\.targets\[1\]"):
        parse_scenario(doc)


def test_load_scenario_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**base(), "duration": "soon"}))
    with pytest.raises(ScenarioError, match="duration"):
        load_scenario(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="bundled"):
        load_scenario(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(base()))
    assert load_scenario(good).name == "t"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3s", 3.0), ("500ms", 0.5), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), (7, 7.0), (0.25, 0.25)],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "3 parsecs", "-1s", True, None])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --------------------------------------------------------------------------- attack content


@pytest.mark.parametrize("engine", ["oie", "classic"])
def test_push_bombing_events(engine: str) -> None:
    doc = base(denials=6, accept=True, sso_apps=2)
    doc["population"]["engine"] = engine
    sc = parse_scenario(doc)
    comp = sc.compile(EPOCH)
    victim = comp.population.by_login(VICTIM)
    events = [e.event for e in comp.emissions]
    (attack,) = comp.attacks
    assert attack.source_ip == "185.156.46.12" and attack.user_ids == (victim.id,)
    assert {e["uuid"] for e in events} == set(attack.event_uuids)

    sends = [e for e in events if e["eventType"] == "system.push.send_factor_verify_push"]
    assert len(sends) == 7 * len(victim.devices) == attack.details["push_events"]
    for e in sends:  # requester = attacker, flagged new by Okta
        assert e["client"]["ipAddress"] == "185.156.46.12" and e["securityContext"]["asNumber"] == 9009
        behaviors = e["debugContext"]["debugData"]["behaviors"]
        for name in ("New Device", "New IP", "New Geo-Location"):
            assert f"{name}=POSITIVE" in behaviors
    if engine == "oie":
        answers = [
            e
            for e in events
            if e["eventType"] == "user.authentication.auth_via_mfa"
            and e["debugContext"]["debugData"]["factor"] == "OKTA_VERIFY_PUSH"
        ]
        denies = [e for e in answers if e["outcome"]["result"] == "FAILURE"]
        assert all(e["outcome"]["reason"] == "INVALID_CREDENTIALS" for e in denies)
        assert {e["debugContext"]["debugData"]["pushOnlyResponseType"] for e in denies} == {"OV_RESPONSE_DENY"}
        accepts = [e for e in answers if e["outcome"]["result"] == "SUCCESS"]
    else:
        denies = [e for e in events if e["eventType"] == "user.mfa.okta_verify.deny_push"]
        accepts = [e for e in events if e["eventType"] == "user.mfa.okta_verify"]
    assert len(denies) == 6 and len(accepts) == 1
    for e in denies + accepts:  # responder = the victim's phone at home
        assert e["client"]["ipAddress"] == victim.home_ip and e["client"]["device"] == "Mobile"
    deny_times = sorted(e["published"] for e in denies)
    gaps = [
        (datetime.fromisoformat(b[:-1]) - datetime.fromisoformat(a[:-1])).total_seconds()
        for a, b in itertools.pairwise(deny_times)
    ]
    assert all(g == pytest.approx(1.0, abs=0.002) for g in gaps)

    sid = attack.details["session_id"]
    (start,) = [e for e in events if e["eventType"] == "user.session.start"]
    assert start["outcome"]["result"] == "SUCCESS" and start["client"]["ipAddress"] == "185.156.46.12"
    assert start["authenticationContext"]["externalSessionId"] == sid
    assert all(e["authenticationContext"]["externalSessionId"] == sid for e in sends)
    ssos = [e for e in events if e["eventType"] == "user.authentication.sso"]
    assert len(ssos) == 2 and all(e["client"]["ipAddress"] == "185.156.46.12" for e in ssos)
    assert max(e["published"] for e in denies) < accepts[0]["published"] <= start["published"]


def test_push_bombing_without_accept_has_no_session() -> None:
    sc = parse_scenario(base(denials=4, accept=False))
    events = events_of(sc)
    assert not any(e["eventType"] in {"user.session.start", "user.authentication.sso"} for e in events)
    assert sc.expected()[0].details["push_events"] == 4 * 2


def test_impossible_travel_events() -> None:
    sc = load_scenario("impossible_travel")
    comp = sc.compile(EPOCH)
    first = comp.attacks[0]
    starts = [
        e.event
        for e in comp.emissions
        if e.event["eventType"] == "user.session.start" and e.event["actor"]["alternateId"] == first.users[0]
    ]
    assert len(starts) == 2 and all(e["outcome"]["result"] == "SUCCESS" for e in starts)
    home, far = starts
    assert home["client"]["geographicalContext"]["city"] == "New York"
    assert far["client"]["geographicalContext"]["city"] == "Singapore" and far["client"]["ipAddress"] == first.source_ip
    km = haversine_km(
        home["client"]["geographicalContext"]["geolocation"], far["client"]["geographicalContext"]["geolocation"]
    )
    hours = datetime.fromisoformat(far["published"][:-1]) - datetime.fromisoformat(home["published"][:-1])
    assert km > 10_000 and km / (hours.total_seconds() / 3600) > 1000
    assert "New Country=POSITIVE" in far["debugContext"]["debugData"]["behaviors"]
    assert "New Device=NEGATIVE" in far["debugContext"]["debugData"]["behaviors"]  # same laptop, far network
    assert home["debugContext"]["debugData"]["behaviors"].count("POSITIVE") == 0


def test_password_spray_events() -> None:
    sc = load_scenario("password_spray")
    comp = sc.compile(EPOCH)
    (attack,) = comp.attacks
    events = [e.event for e in comp.emissions]
    assert len(attack.users) == 25 and "kai.tanaka@acme.com" in attack.users
    assert {e["client"]["ipAddress"] for e in events} == {"167.99.31.7"}
    fails = [e for e in events if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "FAILURE"]
    assert len(fails) == 49 and all(e["outcome"]["reason"] == "INVALID_CREDENTIALS" for e in fails)
    assert len({e["actor"]["alternateId"] for e in fails}) == 25
    (ok,) = [e for e in events if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "SUCCESS"]
    assert ok["actor"]["alternateId"] == "kai.tanaka@acme.com"
    kai_fails = [e["published"] for e in fails if e["actor"]["alternateId"] == "kai.tanaka@acme.com"]
    assert len(kai_fails) == 1 and kai_fails[0] < ok["published"]  # guessed on the second round
    assert all(e["debugContext"]["debugData"]["threatSuspected"] == "true" for e in events)
    assert all(e["client"]["userAgent"]["browser"] == "UNKNOWN" for e in events)  # python-requests


def test_oie_spray_also_logs_password_factor_failures() -> None:
    doc = base()
    doc["steps"] = [{"at": 0, "kind": "password_spray", "attacker": {"city": "Lagos", "asn": 29465}, "targets": 5}]
    events = events_of(parse_scenario(doc))
    pw = [e for e in events if e["debugContext"]["debugData"].get("factor") == "PASSWORD_AS_FACTOR"]
    assert len(pw) == 5 and all(e["outcome"]["result"] == "FAILURE" for e in pw)


def test_compile_and_expected_are_deterministic() -> None:
    a, b = load_scenario("demo"), load_scenario("demo")
    assert a.expected() == b.expected()
    assert events_of(a) == events_of(b)
    t1 = datetime(2026, 1, 1, tzinfo=UTC)
    assert [e["uuid"] for e in events_of(a, t1)] == [e["uuid"] for e in events_of(b)]  # start moves time only
    other = parse_scenario({**a.model_dump(), "population": {**a.population.model_dump(), "seed": 8}})
    assert other.expected()[0].event_uuids != a.expected()[0].event_uuids


# --------------------------------------------------------------------------- running against a SimOrg


async def test_runner_stores_the_attack_in_the_org(org: SimOrg) -> None:
    doc = load_scenario("demo").model_dump()
    doc["background"]["rate"] = 30
    doc["duration"] = "10s"
    sc = parse_scenario(doc)
    runner = ScenarioRunner(org, sc, time_scale=0.02)
    attacks = await runner.run()
    stored = {e["uuid"]: e for e in org.events_visible()}
    assert set(attacks[0].event_uuids) <= set(stored)
    assert len(stored) > len(attacks[0].event_uuids)  # background ran too
    assert runner.stored >= len(stored)
    victim = org.user_by_login(VICTIM)
    assert victim is not None and victim.id == attacks[0].user_ids[0]
    assert attacks[0].details["session_id"] in victim.sessions  # admin session clear can end it
    assert len(org.users) == 50
    pushes = [
        e
        for e in stored.values()
        if e["eventType"] == "system.push.send_factor_verify_push" and e["client"]["ipAddress"] == attacks[0].source_ip
    ]
    assert len(pushes) == 7 * 2


async def test_runner_raw_events_and_late_delivery(org: SimOrg, clock: FakeClock) -> None:
    sc = load_scenario("raw_events")
    sc = sc.model_copy(update={"background": sc.background.model_copy(update={"rate": 0})})
    await ScenarioRunner(org, sc, time_scale=0.01).run()
    visible = [e["eventType"] for e in org.events_visible()]
    assert visible == ["user.account.report_suspicious_activity_by_enduser"]  # the grant is still late
    clock.advance(1.0)  # 3 s persist delay x 0.01 scale
    visible = [e["eventType"] for e in org.events_visible()]
    assert visible == ["user.account.report_suspicious_activity_by_enduser", "user.account.privilege.grant"]
    ava = org.user_by_login("ava.cohen@acme.com")
    assert ava is not None and ava.id == "00uAvaCohenRawEvt001"
    assert all("uuid" in e and e["published"] for e in org.events_visible())


async def test_runner_is_repeatable_on_the_same_org(org: SimOrg) -> None:
    doc = base(denials=2)
    sc = parse_scenario(doc)
    first = await ScenarioRunner(org, sc, time_scale=0.01).run()
    second = await ScenarioRunner(org, sc, time_scale=0.01).run()  # users already there: no error
    assert first == second
    assert len(org.events_visible()) == 2 * len(first[0].event_uuids)


def test_runner_rejects_bad_time_scale(org: SimOrg) -> None:
    with pytest.raises(ValueError):
        ScenarioRunner(org, parse_scenario(copy.deepcopy(base())), time_scale=0)
