"""Background traffic and event builders: wire shape, push fan-out, engines, determinism, real-time feed."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector.sim import SimOrg
from detector.sim import events as ev
from detector.sim.population import CITIES, NETWORKS, Population
from detector.sim.traffic import TrafficConfig, TrafficGenerator, deliver, signin_flow
from tests.conftest import DATA

T0 = datetime(2026, 5, 28, 20, 0, tzinfo=UTC)
PUBLISHED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BEHAVIORS = re.compile(r"^\{(?:[A-Za-z -]+=(?:POSITIVE|NEGATIVE))(?:, [A-Za-z -]+=(?:POSITIVE|NEGATIVE))*\}$")


def _sample_keys() -> set[str]:
    """Top-level keys of a real LogEvent on the wire (Elastic sample, which carries `device`)."""
    path = DATA / "okta-samples" / "elastic_okta_events.jsonl"
    keys: set[str] = set()
    for line in path.read_text().splitlines():
        keys |= set(json.loads(line))
    return keys


def _traffic(engine: str = "oie", seed: int = 1, **cfg: Any) -> tuple[Population, TrafficGenerator]:
    pop = Population.build(random.Random(seed), 40, engine=engine)  # type: ignore[arg-type]
    return pop, TrafficGenerator(pop, random.Random(seed + 1000), TrafficConfig(**cfg))


def assert_well_formed(e: dict[str, Any]) -> None:
    assert set(e) == _SAMPLE_KEYS, set(e) ^ _SAMPLE_KEYS
    assert re.fullmatch(r"[0-9a-f-]{36}", e["uuid"])
    assert PUBLISHED.match(e["published"])
    assert e["eventType"] and e["version"] == "0" and e["severity"] in {"DEBUG", "INFO", "WARN", "ERROR"}
    assert e["actor"]["type"] == "User" and e["actor"]["id"].startswith("00u") and len(e["actor"]["id"]) == 20
    assert e["outcome"]["result"] in {"SUCCESS", "FAILURE", "ALLOW", "CHALLENGE", "DENY"}
    client = e["client"]
    assert set(client) == {"device", "geographicalContext", "id", "ipAddress", "userAgent", "zone"}
    assert set(client["userAgent"]) == {"rawUserAgent", "os", "browser"}
    geo = client["geographicalContext"]
    assert set(geo) == {"city", "state", "country", "postalCode", "geolocation"}
    assert set(geo["geolocation"]) == {"lat", "lon"}
    assert set(e["securityContext"]) == {"asNumber", "asOrg", "isp", "domain", "isProxy"}
    assert isinstance(e["securityContext"]["asNumber"], int)
    assert e["request"]["ipChain"][0]["ip"] == client["ipAddress"]
    assert e["transaction"]["type"] == "WEB" and e["transaction"]["id"]
    data = e["debugContext"]["debugData"]
    assert all(isinstance(v, str) for v in data.values()), data
    assert data["threatSuspected"] in {"true", "false"} and data["requestUri"].startswith("/")
    if "behaviors" in data:
        assert BEHAVIORS.match(data["behaviors"]), data["behaviors"]
        assert re.fullmatch(r"\{(reasons=.+, )?level=(LOW|MEDIUM|HIGH)\}", data["risk"])
    if "deviceFingerprint" in data:
        assert re.fullmatch(r"[0-9a-f]{32}", data["deviceFingerprint"])
        assert re.fullmatch(r"[0-9a-f]{64}", data["dtHash"])
    ctx = e["authenticationContext"]
    sid = ctx["externalSessionId"]
    assert sid is None or re.fullmatch(r"(idx|102)[A-Za-z0-9]{22}", sid)


_SAMPLE_KEYS = _sample_keys()


@pytest.mark.parametrize("engine", ["oie", "classic"])
def test_generated_events_are_well_formed(engine: str) -> None:
    _, gen = _traffic(engine)
    events = gen.generate(3000, T0)
    assert len(events) == 3000
    for e in events:
        assert_well_formed(e)
    assert len({e["uuid"] for e in events}) == len(events)
    published = [e["published"] for e in events]
    assert published == sorted(published) and published[0] >= ev.iso_ms(T0)


def test_oie_and_classic_vocabulary() -> None:
    _, oie = _traffic("oie")
    _, classic = _traffic("classic")
    o, c = oie.generate(3000, T0), classic.generate(3000, T0)
    factors = Counter(e["debugContext"]["debugData"].get("factor") for e in o)
    assert factors["PASSWORD_AS_FACTOR"] > 0 and factors["OKTA_VERIFY_PUSH"] > 0
    assert all(
        e["authenticationContext"]["externalSessionId"].startswith("idx")
        for e in o
        if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "SUCCESS"
    )
    assert not any(e["debugContext"]["debugData"].get("factor") == "PASSWORD_AS_FACTOR" for e in c)
    assert any(e["eventType"] == "user.mfa.okta_verify" for e in c)
    assert all(
        e["authenticationContext"]["externalSessionId"].startswith("102")
        for e in c
        if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "SUCCESS"
    )


def test_background_mix_has_ordinary_failures_and_flows() -> None:
    _, gen = _traffic(failure_rate=0.2)
    events = gen.generate(4000, T0)
    types = Counter(e["eventType"] for e in events)
    for t in (
        "user.session.start",
        "policy.evaluate_sign_on",
        "user.authentication.auth_via_mfa",
        "system.push.send_factor_verify_push",
        "user.authentication.sso",
        "user.session.end",
    ):
        assert types[t] > 0, t
    fails = [e for e in events if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "FAILURE"]
    assert fails and all(e["outcome"]["reason"] == "INVALID_CREDENTIALS" for e in fails)
    assert all(e["authenticationContext"]["externalSessionId"] is None for e in fails)
    assert all(e["legacyEventType"] == "core.user_auth.login_failed" for e in fails)
    sso = [e for e in events if e["eventType"] == "user.authentication.sso"]
    assert all(any(t["type"] == "AppInstance" for t in e["target"]) for e in sso)
    # Background pushes are approved, never denied.
    pushes = [
        e
        for e in events
        if e["debugContext"]["debugData"].get("factor") == "OKTA_VERIFY_PUSH"
        and e["eventType"] == "user.authentication.auth_via_mfa"
    ]
    answers = {e["debugContext"]["debugData"]["pushOnlyResponseType"] for e in pushes}
    assert pushes and answers == {"OV_RESPONSE_APPROVE"}


def test_push_fan_out_one_send_event_per_enrolled_device() -> None:
    pop, gen = _traffic()
    by_id = {p.id: p for p in pop}
    assert any(len(p.devices) > 1 for p in pop)
    prompts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in gen.generate(3000, T0):
        if e["eventType"] == "system.push.send_factor_verify_push":
            prompts[e["transaction"]["id"]].append(e)
    assert prompts
    for sent in prompts.values():
        person = by_id[sent[0]["actor"]["id"]]
        enrollments = [t["id"] for e in sent for t in e["target"] if t["type"] == "AuthenticatorEnrollment"]
        assert sorted(enrollments) == sorted(d.enrollment_id for d in person.devices)
        assert len({e["published"] for e in sent}) == 1  # same prompt, same instant


def test_signin_flow_shape_and_responder() -> None:
    pop = Population.build(random.Random(3), 5, engine="oie")
    person = next(p for p in pop if p.devices)
    ems, ctx = signin_flow(random.Random(4), person, T0, engine="oie", apps=person.apps[:2])
    types = [e.event["eventType"] for e in ems]
    n_dev = len(person.devices)
    assert types == (
        ["user.authentication.auth_via_mfa", "policy.evaluate_sign_on"]
        + ["system.push.send_factor_verify_push"] * n_dev
        + ["user.authentication.auth_via_mfa", "user.session.start"]
        + ["user.authentication.sso"] * 2
    )
    approve = ems[2 + n_dev].event
    assert approve["client"]["device"] == "Mobile" and approve["client"]["ipAddress"] == person.home_ip
    assert approve["debugContext"]["debugData"]["pushOnlyResponseType"] == "OV_RESPONSE_APPROVE"
    sids = {e.event["authenticationContext"]["externalSessionId"] for e in ems}
    assert sids == {ctx.session_id}
    start = ems[3 + n_dev]
    assert start.opens_session == (person.id, ctx.session_id)
    assert [e.at for e in ems] == sorted(e.at for e in ems)


def test_push_response_builders_per_engine() -> None:
    pop = Population.build(random.Random(5), 1)
    p = pop.people[0]
    dev = p.devices[0]
    rng = random.Random(0)
    oie = ev.Ctx(p.actor, p.phone_origin(dev), "oie", "idx" + "a" * 22, "tx")
    (deny,) = ev.push_response(rng, T0, oie, dev, approve=False)
    assert deny["eventType"] == "user.authentication.auth_via_mfa"
    assert deny["outcome"] == {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}
    data = deny["debugContext"]["debugData"]
    assert data["factor"] == "OKTA_VERIFY_PUSH" and data["pushOnlyResponseType"] == "OV_RESPONSE_DENY"
    classic = ev.Ctx(p.actor, p.phone_origin(dev), "classic", "102" + "a" * 22, "tx")
    (cdeny,) = ev.push_response(rng, T0, classic, dev, approve=False)
    assert cdeny["eventType"] == "user.mfa.okta_verify.deny_push" and cdeny["outcome"]["result"] == "FAILURE"
    accept = ev.push_response(rng, T0, classic, dev, approve=True)
    assert [e["eventType"] for e in accept] == ["user.mfa.okta_verify", "user.authentication.auth_via_mfa"]


def test_behaviors_and_risk_strings() -> None:
    s = ev.behaviors_string({"New Device", "New IP"})
    assert s.startswith("{New Geo-Location=NEGATIVE, New Device=POSITIVE, New IP=POSITIVE")
    assert dict(kv.split("=") for kv in s[1:-1].split(", "))["Velocity"] == "NEGATIVE"
    assert ev.risk_string("LOW") == "{level=LOW}"
    assert ev.risk_string("HIGH", ["Anomalous Device", "Anomalous Location"]) == (
        "{reasons=Anomalous Device, Anomalous Location, level=HIGH}"
    )


def test_generate_is_deterministic_given_the_seed() -> None:
    a = _traffic(seed=9)[1].generate(800, T0)
    b = _traffic(seed=9)[1].generate(800, T0)
    c = _traffic(seed=10)[1].generate(800, T0)
    assert a == b
    assert [e["uuid"] for e in a] != [e["uuid"] for e in c]


def test_rate_and_late_fraction() -> None:
    _, gen = _traffic(rate=50.0, late_fraction=0.1, max_late=4.0)
    ems = gen.emissions(3000, T0)
    span = (ems[-1].at - ems[0].at).total_seconds()
    assert 3000 / 50 * 0.8 < span < 3000 / 50 * 1.2
    late = [e for e in ems if e.persist_delay > 0]
    assert 0.05 < len(late) / len(ems) < 0.15
    assert all(0.5 <= e.persist_delay <= 4.0 for e in late)
    _, none = _traffic(late_fraction=0.0)
    assert all(e.persist_delay == 0 for e in none.emissions(500, T0))


def test_population_is_seeded_and_consistent() -> None:
    a = Population.build(random.Random(42), 30)
    b = Population.build(random.Random(42), 30)
    assert a.people == b.people
    assert len({p.login for p in a}) == 30 and len({p.id for p in a}) == 30
    for p in a:
        assert p.home in CITIES.values() and p.network in NETWORKS.values()
        assert p.network.country == p.home.country and p.network.kind == "residential"
        assert any(p.home_ip.startswith(prefix + ".") for prefix in p.network.prefixes)
        assert 1 <= len(p.devices) <= 3 and p.apps
        assert p.home_origin().fingerprint == p.fingerprint


def test_population_registers_users_in_the_org() -> None:
    org = SimOrg(name="acme", seed=0)
    pop = Population.build(random.Random(1), 12)
    pop.register(org)
    for p in pop:
        user = org.user_by_login(p.login)
        assert user is not None and user.id == p.id


async def test_run_feeds_the_org_in_real_time() -> None:
    org = SimOrg(name="acme", seed=0)
    pop, gen = _traffic(rate=400.0, late_fraction=0.0, warmup=2.0)
    pop.register(org)
    stop = asyncio.Event()
    task = asyncio.create_task(gen.run(org, stop=stop))
    await asyncio.sleep(0.4)
    stop.set()
    stored = await asyncio.wait_for(task, 2)
    events = org.events_visible()
    assert stored == len(events) > 40
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert all(e["published"] <= ev.iso_ms(now) for e in events)
    # Successful sign-ins registered their session ids with the org.
    started = [e for e in events if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "SUCCESS"]
    for e in started:
        user = org.users[e["actor"]["id"]]
        assert e["authenticationContext"]["externalSessionId"] in user.sessions


def test_deliver_passes_persist_delay() -> None:
    calls: list[tuple[str, float]] = []

    class Sink:
        def append(self, event: dict[str, Any], persist_delay: float = 0.0) -> None:
            calls.append((event["eventType"], persist_delay))

    _, gen = _traffic(late_fraction=1.0, max_late=2.0)
    for em in gen.emissions(5, T0):
        deliver(Sink(), em)
    assert len(calls) == 5 and all(0.5 <= d <= 2.0 for _, d in calls)
