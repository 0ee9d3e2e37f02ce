from __future__ import annotations

from detections.confidence import Action, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.registry import DetectionSettings, build_detections
from detections.tenant_profile import TenantProfile
from detections.testkit import failed_sign_in, sign_in, threat_detected
from detections.threat_signals import Book, Signal, ThreatSignalsConfig

T0 = 1_700_000_000.0
MIN = 60.0
HOUR = 3600.0
SPRAYER = "45.135.232.10"
# a hosting network no one else shares (the event says nothing of a carrier, cloud, VPN or tunnel)
STARK = {"asNumber": 44477, "asOrg": "stark industries solutions ltd", "isp": "stark industries", "isProxy": False}
COMCAST = {"asNumber": 7922, "asOrg": "comcast", "isp": "comcast", "isProxy": False}
TMOBILE = {"asNumber": 21928, "asOrg": "t-mobile usa", "isp": "t-mobile usa", "isProxy": False}
NEW_CLIENT = "{New Device=POSITIVE, New IP=POSITIVE}"


def engine(tenant: str = "acme", book: Book | None = None, profile: TenantProfile | None = None, **settings):
    detections = build_detections(DetectionSettings(**settings), profile, book)
    return Engine(detections, TenantContext(tenant, profile=profile or TenantProfile()))


def run(eng: Engine, raws, states=None):
    states = {} if states is None else states
    return eng.process_all((parse_event(r, eng.context.tenant) for r in raws), states)


def spray(n=12, start=T0, ip=SPRAYER, network=STARK):
    """N users each failing once from one IP: nobody reaches success_after_credential_attack's five."""
    return [
        failed_sign_in(start + i * MIN, f"user{i}@acme.com", ip=ip, securityContext=dict(network)) for i in range(n)
    ]


def success_of(i: int, t: float, ip: str = SPRAYER, behaviors: str | None = NEW_CLIENT, securityContext=STARK, **kw):
    who = {"id": f"00uuser{i}", "type": "User", "alternateId": f"user{i}@acme.com", "displayName": f"user{i}"}
    event = sign_in(t, "moscow", ip=ip, actor=who, behaviors=behaviors, **kw)
    event["securityContext"] = dict(securityContext)
    return event


def named(findings, detection):
    return [f for f in findings if f.detection == detection]


def test_spray_then_one_sprayed_user_signs_in_from_the_spraying_ip_is_high_confidence():
    eng = engine()
    raws = [*spray(), success_of(3, T0 + 40 * MIN)]
    findings = run(eng, raws)
    (spray_finding,) = named(findings, "password_spray")
    (hit,) = named(findings, "success_from_flagged_source")
    assert hit.principal == "00uuser3" and hit.severity is Severity.HIGH
    assert hit.assessment.tier is Tier.HIGH_CONFIDENCE and hit.confidence == 85
    assert hit.assessment.actions == (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
    cited = hit.assessment.evidence[0].label  # the signal, explained: who flagged it, when, how many, which finding
    assert f"ip:{SPRAYER} flagged by password_spray at 2023-11-14T22:22:20Z, 10 users targeted" in cited
    assert spray_finding.dedup_key in cited
    assert hit.dedup_key == f"acme:success_from_flagged_source:00uuser3:{raws[-1]['uuid']}"
    assert named(findings, "success_after_credential_attack") == []  # one failure each: the old detection is blind


def test_a_success_from_another_ip_or_after_the_ttl_is_nothing():
    other_ip = run(engine(), [*spray(), success_of(3, T0 + 40 * MIN, ip="73.1.2.3", securityContext=COMCAST)])
    assert named(other_ip, "success_from_flagged_source") == []
    after_ttl = run(engine(), [*spray(), success_of(3, T0 + 9 * MIN + 24 * HOUR + MIN)])
    assert named(after_ttl, "success_from_flagged_source") == []
    short = run(engine(threat_signals=ThreatSignalsConfig(ttl_s=HOUR)), [*spray(), success_of(3, T0 + 2 * HOUR)])
    assert named(short, "success_from_flagged_source") == []
    within = run(engine(), [*spray(), success_of(3, T0 + 23 * HOUR)])
    assert len(named(within, "success_from_flagged_source")) == 1


def test_a_dedicated_asn_implicates_its_other_ips_but_a_carrier_or_vpn_does_not():
    dedicated = run(engine(), [*spray(), success_of(3, T0 + 40 * MIN, ip="45.135.232.99", securityContext=STARK)])
    (hit,) = named(dedicated, "success_from_flagged_source")
    assert "45.135.232.99, an IP of the flagged network AS44477" in hit.assessment.evidence[2].label
    assert (
        hit.confidence == 75 and hit.assessment.tier is Tier.HIGH and hit.assessment.actions == ()
    )  # a person decides

    carrier = [*spray(network=TMOBILE), success_of(3, T0 + 40 * MIN, ip="172.56.9.9", securityContext=TMOBILE)]
    assert named(run(engine(), carrier), "success_from_flagged_source") == []
    vpn = {**STARK, "isProxy": True}
    through_vpn = [*spray(network=vpn), success_of(3, T0 + 40 * MIN, ip="45.135.232.99", securityContext=STARK)]
    assert named(run(engine(), through_vpn), "success_from_flagged_source") == []
    egress = TenantProfile(egress_asns=frozenset({44477}))
    own = [*spray(), success_of(3, T0 + 40 * MIN, ip="45.135.232.99", securityContext=STARK)]
    assert named(run(engine(profile=egress), own), "success_from_flagged_source") == []


def test_the_spraying_ip_still_implicates_on_a_shared_network():
    raws = [*spray(network=TMOBILE), success_of(3, T0 + 40 * MIN, securityContext=TMOBILE)]
    assert len(named(run(engine(), raws), "success_from_flagged_source")) == 1


def test_a_success_before_the_spray_finding_is_implicated_when_the_spray_arrives_late():
    raws = spray()
    success = success_of(3, T0 + 5 * MIN)  # during the spray, stored by Okta before the failures were fetched
    late = run(engine(), [success, *raws])
    (hit,) = named(late, "success_from_flagged_source")
    assert hit.event_uuids == (success["uuid"],)
    assert "min before the source was flagged" in hit.assessment.evidence[1].label
    in_order = named(run(engine(), [*raws, success_of(3, T0 + 5 * MIN, uuid=success["uuid"])]), hit.detection)
    assert [f.dedup_key for f in in_order] == [hit.dedup_key]  # same finding whichever arrived first
    other_ip = success_of(5, T0 + 6 * MIN, ip="45.135.232.99")  # another IP of the sprayer's dedicated network
    (by_asn,) = named(run(engine(), [other_ip, *raws]), "success_from_flagged_source")
    assert by_asn.principal == "00uuser5" and "flagged network AS44477" in by_asn.assessment.evidence[2].label
    long_before = run(engine(), [success_of(3, T0 - 2 * HOUR), *raws])
    assert named(long_before, "success_from_flagged_source") == []


def test_one_finding_per_user_per_hour_and_the_book_round_trips_through_a_restart():
    book = Book(persist=True)
    eng, states = engine(book=book), {}
    raws = [*spray(), success_of(3, T0 + 30 * MIN), success_of(3, T0 + 35 * MIN), success_of(4, T0 + 36 * MIN)]
    assert [f.principal for f in named(run(eng, raws, states), "success_from_flagged_source")] == [
        "00uuser3",
        "00uuser4",
    ]
    rows = {k: v for k, v in book.take_rows().items() if v is not None}
    assert any(k.startswith(f"~signals|acme|ip:{SPRAYER}") for k in rows)

    restored_book = Book(persist=True)
    restored_book.load_rows(rows)
    again = engine(book=restored_book)
    restored = {k: again.decode_state(k, again.encode_state(v)) for k, v in states.items()}
    assert run(again, [success_of(3, T0 + 50 * MIN)], restored) == []  # still within the user's hour
    (later,) = run(again, [success_of(5, T0 + 3 * HOUR)], restored)  # the signal survived the restart
    assert later.detection == "success_from_flagged_source" and later.principal == "00uuser5"


def test_threatinsight_and_brute_force_flag_too():
    verdict = threat_detected(T0, ip=SPRAYER)
    (hit,) = named(run(engine(), [verdict, success_of(1, T0 + 10 * MIN)]), "success_from_flagged_source")
    assert "flagged by threatinsight_request" in hit.assessment.evidence[0].label
    guesses = [failed_sign_in(T0 + i * MIN, "user7@acme.com", ip=SPRAYER, securityContext=STARK) for i in range(10)]
    other_ip = success_of(9, T0 + 20 * MIN, ip="45.135.232.99")
    findings = run(engine(), [*guesses, success_of(2, T0 + 20 * MIN), other_ip])  # another user than the one guessed
    assert [f.principal for f in named(findings, "success_from_flagged_source")] == ["00uuser2"]  # its IP, not its ASN


def test_the_users_own_known_device_and_ip_is_dampened_below_action():
    known = "{New Device=NEGATIVE, New IP=NEGATIVE}"
    (hit,) = named(
        run(engine(), [*spray(), success_of(3, T0 + 40 * MIN, behaviors=known)]), "success_from_flagged_source"
    )
    assert hit.confidence == 55 and hit.assessment.actions == ()


def test_a_source_flagged_in_two_tenants_raises_a_cross_tenant_finding_in_each():
    book = Book()
    acme, globex = engine("acme", book), engine("globex", book)
    assert named(run(acme, spray()), "cross_tenant_threat_source") == []
    findings = run(globex, spray(start=T0 + HOUR))
    crossed = named(findings, "cross_tenant_threat_source")
    assert {f.tenant for f in crossed} == {"acme", "globex"}
    for f in crossed:
        assert "flagged in 2 tenants" in f.summary and "acme (password_spray" in f.summary and "globex (" in f.summary
        assert f.assessment.actions == () and f.severity is Severity.MEDIUM
    # the ASN was flagged in both as well: one finding per tenant per source
    assert sorted({(f.tenant, f.entity) for f in crossed}) == [
        ("acme", "asn:44477"),
        ("acme", f"ip:{SPRAYER}"),
        ("globex", "asn:44477"),
        ("globex", f"ip:{SPRAYER}"),
    ]
    assert named(run(globex, [success_of(1, T0 + 2 * HOUR)]), "success_from_flagged_source")  # per tenant too
    assert named(run(engine("initech", book), [success_of(1, T0 + 2 * HOUR)]), "success_from_flagged_source") == []


def test_a_signal_from_another_worker_implicates_a_success_seen_here():
    here, there = Book(), Book()
    mine, theirs = engine(book=here), engine(book=there)
    assert run(mine, [success_of(3, T0 + 5 * MIN)]) == []
    flagged = [f for f in run(theirs, spray()) if f.detection == "password_spray"]
    assert flagged
    (published,) = [s for s in there.take_flags() if s.source == f"ip:{SPRAYER}"]
    received = Signal.from_json(published.to_json())
    (hit,) = mine.signal_received(received)
    assert hit.detection == "success_from_flagged_source" and hit.principal == "00uuser3"
    assert mine.signal_received(received) == []  # a signal read twice implies nothing new


def test_a_book_that_raises_is_isolated_like_any_detection():
    class Broken(Book):
        def flag(self, signal, *, local=True):
            raise RuntimeError("book down")

    eng, states = engine(book=Broken()), {}
    outcomes = [eng.run(parse_event(r, "acme"), states) for r in spray()]
    assert [f.detection for o in outcomes for f in o.findings] == ["password_spray"]  # still emitted
    assert [x.detection for o in outcomes for x in o.failures] == ["threat_signals"]
