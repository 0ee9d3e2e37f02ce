from __future__ import annotations

from detections.confidence import Action, EvidenceClass, Tier
from detections.engine import Engine, TenantContext
from detections.event import OKTA_ADMIN_CONSOLE_CLIENT, parse_event
from detections.finding import Severity
from detections.registry import DetectionSettings
from detections.session_hijack import SessionHijack, SessionHijackConfig
from detections.tenant_profile import TenantProfile
from detections.testkit import sign_in

T0 = 1_700_000_000.0
HOUR = 3600.0
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.4 Mobile/15E148 Safari/604.1"
)
IPHONE_WEBVIEW = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)


def run(raws, states=None, config=None, context=None):
    engine = Engine([SessionHijack(config)], context or TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def victim(t=T0, **kw):
    return sign_in(t, "nyc", **kw)


def replay(t=T0 + HOUR, place="moscow", **kw):
    """The stolen cookie used from the attacker's browser: same session, other network, other client."""
    kw.setdefault("ua", FIREFOX_WIN)
    kw.setdefault("os", "Windows 10")
    kw.setdefault("browser", "FIREFOX")
    kw.setdefault("dt_hash", None)
    return sign_in(t, place, event_type="user.authentication.sso", **kw)


def test_cookie_replay_from_another_asn_and_client_is_high_confidence_with_clear_sessions():
    v, r = victim(), replay(proxy=True)
    (finding,) = run([v, r])
    assert finding.detection == "session_hijack"
    assert finding.principal == "00u1alice"
    assert finding.confidence == 85  # 20 + 35 + another country 15 + anonymizer 15
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)
    assert finding.severity is Severity.HIGH
    assert {EvidenceClass.ANOMALY, EvidenceClass.ACCESS, EvidenceClass.INFRASTRUCTURE} <= finding.assessment.classes
    assert finding.event_uuids == (v["uuid"], r["uuid"])
    assert finding.dedup_key == "acme:session_hijack:00u1alice:idxSESSION1+AS7922-AS8359"
    assert "T1539" in finding.mitre


def test_session_change_alone_pages_without_action():
    """Replay from the victim's own country with a normal browser still fires, but needs a corroborator to act."""
    (finding,) = run([victim(), replay(place="chicago")])
    assert finding.confidence == 55
    assert finding.assessment.tier is Tier.MEDIUM
    assert finding.assessment.actions == ()


def test_scripted_user_agent_and_threat_insight_corroborate():
    (finding,) = run(
        [victim(), replay(place="chicago", ua="python-requests/2.31", os="Unknown", browser="UNKNOWN", threat=True)]
    )
    assert finding.confidence == 85  # 55 + scripted 15 + ThreatInsight 15
    assert any("scripted" in label for label in labels(finding))
    assert finding.assessment.actions == (Action.CLEAR_SESSIONS,)


def test_dt_hash_change_alone_counts_as_a_client_change():
    (finding,) = run([victim(), sign_in(T0 + HOUR, "london", dt_hash="dt-other")])
    assert any("dtHash" in label for label in labels(finding))


def test_ip_change_on_the_same_asn_is_not_reported():
    assert run([victim(), replay(place="nyc", ip="73.9.9.9")]) == []


def test_network_change_with_the_same_browser_is_not_reported():
    """Laptop moves from home to a café: other ASN, same browser and device token."""
    assert run([victim(), sign_in(T0 + HOUR, "boston")]) == []


def test_raw_user_agent_similarity_tolerates_browser_upgrades():
    unparsed = {"os": None, "browser": None}
    upgraded = sign_in(
        T0 + HOUR,
        "boston",
        ua=victim()["client"]["userAgent"]["rawUserAgent"].replace("124", "125"),
        dt_hash=None,
        **unparsed,
    )
    assert run([victim(dt_hash=None, **unparsed), upgraded]) == []
    other = sign_in(T0 + HOUR, "boston", ua=FIREFOX_WIN, dt_hash=None, **unparsed)
    (finding,) = run([victim(dt_hash=None, **unparsed), other])
    assert finding.confidence == 55


def test_mobile_carrier_to_wifi_on_the_same_device_is_dampened_without_action():
    phone = {"dt_hash": "dt-alice-phone", "os": "iOS"}
    wifi = sign_in(T0, "nyc", ua=IPHONE_SAFARI, browser="MOBILE SAFARI", **phone)
    lte = sign_in(T0 + 600, "nyc_mobile", ua=IPHONE_WEBVIEW, browser="UNKNOWN", **phone)
    (finding,) = run([wifi, lte])
    assert finding.confidence == 35  # 55 − 20
    assert any("mobile carrier" in label for label in labels(finding))
    assert finding.assessment.actions == ()
    assert finding.severity is Severity.MEDIUM


def test_admin_console_internal_client_is_ignored():
    assert run([victim(), replay(proxy=True, client_id=OKTA_ADMIN_CONSOLE_CLIENT)]) == []


def test_allowlisted_corporate_egress_is_dampened_below_the_floor():
    config = SessionHijackConfig(allowlist_asns=frozenset({7018, 8359}))
    assert run([victim(), replay(place="chicago")], config=config) == []  # 55 − 40
    (abroad,) = run([victim(), replay()], config=config)  # 55 + another country 15 − 40
    assert abroad.confidence == 30 and abroad.assessment.tier is Tier.LOW and abroad.assessment.actions == ()


def test_other_sessions_and_non_humans_do_not_mix():
    assert run([victim(session="idxA"), replay(session="idxB")]) == []
    service = {"id": "0oaSVC", "type": "PublicClientApp", "alternateId": "svc", "displayName": "svc"}
    assert run([victim(actor=service), replay(actor=service)]) == []


def test_root_session_id_is_the_fallback_key():
    v, r = victim(session=None), replay(session=None, proxy=True)
    for raw in (v, r):
        raw["authenticationContext"] = {"externalSessionId": None, "rootSessionId": "102ROOT"}
    (finding,) = run([v, r])
    assert "102ROOT" in finding.dedup_key


def test_out_of_order_arrival_gives_the_same_finding():
    v, r = victim(), replay(proxy=True)
    (in_order,) = run([v, r])
    (late,) = run([r, v])
    assert late.dedup_key == in_order.dedup_key
    assert late.event_uuids == in_order.event_uuids
    assert late.confidence == in_order.confidence == 85
    assert late.time == in_order.time == T0 + HOUR


def test_one_finding_per_network_pair_per_session_and_new_pairs_fire():
    raws = [victim(), replay(), replay(T0 + HOUR + 60), victim(T0 + HOUR + 120), replay(T0 + 2 * HOUR, "lagos")]
    findings = run(raws)
    assert [f.dedup_key.rsplit("+", 1)[1] for f in findings] == ["AS7922-AS8359", "AS7922-AS37148"]


def test_replay_and_state_round_trip():
    raws = [victim(), replay(proxy=True), replay(T0 + HOUR + 60, proxy=True)]
    engine = Engine([SessionHijack()], TenantContext("acme"))
    states: dict = {}
    first = engine.process_all((parse_event(r, "acme") for r in raws), states)
    assert len(first) == 1
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert (
        engine.state_of(restored, "session_hijack", "00u1alice").to_dict()
        == engine.state_of(states, "session_hijack", "00u1alice").to_dict()
    )
    assert engine.process_all((parse_event(r, "acme") for r in raws), restored) == []


def test_events_older_than_the_session_lifetime_are_dropped():
    assert run([victim(T0 + 2 * 86400.0), replay(T0)]) == []


def test_push_answered_on_the_phone_is_not_a_second_client_of_the_session():
    """OIE logs the push answer in the sign-in's session but from the phone's network (the demo's shape)."""
    from detections.testkit import push_bombing

    attacker = {
        "securityContext": {"asNumber": 9009, "asOrg": "m247", "isProxy": False},
        "client": {"ipAddress": "185.156.46.12", "userAgent": {"rawUserAgent": "Mozilla/5.0 (X11; Linux)",
                   "os": "Linux", "browser": "FIREFOX"}},
        "debug": {"dtHash": "a" * 64},
    }  # fmt: skip
    raws = push_bombing(T0, 3, accept=True, requester=attacker, session="idxSAME")
    for raw in raws[1::2]:  # the answers, from the victim's phone on a mobile network
        raw["client"]["userAgent"] = {
            "rawUserAgent": "OktaVerify/9.1 (Android 14)",
            "os": "Android",
            "browser": "UNKNOWN",
        }
        raw["securityContext"]["asNumber"] = 701
    assert [f for f in run(raws) if f.detection == "session_hijack"] == []


def test_tenant_egress_cidr_or_asn_on_either_side_is_dampened():
    """A session moving between the office VPN egress and home keeps its evidence, with a visible dampener."""
    (plain,) = run([victim(), replay()])
    assert plain.confidence == 70  # 20 + 35 + another country 15

    def tenant(**context):
        return TenantProfile(**context).apply(DetectionSettings()).session_hijack

    for config in (tenant(egress_cidrs=("95.24.0.0/16",)), tenant(egress_cidrs=("73.1.2.0/24",))):
        (dampened,) = run([victim(), replay()], config=config)
        assert dampened.confidence == 30 and dampened.assessment.tier is Tier.LOW
        assert [d.label for d in dampened.assessment.dampeners] == ["allowlisted corporate VPN/SWG network on one side"]
    (by_asn,) = run([victim(), replay()], config=tenant(egress_asns=frozenset({8359})))
    assert by_asn.confidence == 30
    (unrelated,) = run([victim(), replay()], config=tenant(egress_cidrs=("198.51.100.0/24",)))
    assert unrelated.confidence == 70 and not unrelated.assessment.dampeners
    # VPN operators are not the tenant's own addresses: an attacker rents the same commercial VPN
    nord = {"tunnels": '[{"anonymous":true,"operator":"NORD_VPN","type":"VPN"}]'}
    (via_nord,) = run([victim(), replay(debug=nord)], config=tenant(vpn_operators=frozenset({"NordVPN"})))
    assert not via_nord.assessment.dampeners


def _sessions(states):
    (record,) = states.values()
    assert list(record.items()) == [("session_hijack", "00u1alice")]  # one state for the user
    return Engine([SessionHijack()], TenantContext("acme")).state_of(states, "session_hijack", "00u1alice").sessions


def test_state_is_one_key_per_user_with_a_bounded_map_of_live_sessions():
    """A new session every hour for three days: one state key, sessions evicted by lifetime and by count."""
    raws = [victim(T0 + i * HOUR, session=f"idx{i:03d}") for i in range(72)]
    states: dict = {}
    assert run(raws, states, config=SessionHijackConfig(max_sessions=100)) == []
    assert list(states) == ["actor|00u1alice"]
    # last seen more than a day (event time) before the user's newest event: gone
    assert sorted(_sessions(states)) == [f"idx{i:03d}" for i in range(47, 72)]
    states = {}
    assert run(raws, states) == []  # default cap: the 16 most recently seen
    assert sorted(_sessions(states)) == [f"idx{i:03d}" for i in range(56, 72)]
    states = {}
    run(raws[:3], states, config=SessionHijackConfig(max_sessions=2))
    run([victim(T0 + 3 * HOUR, session="idx000")], states, config=SessionHijackConfig(max_sessions=2))
    assert sorted(_sessions(states)) == ["idx000", "idx002"]  # idx001 is now the least recently seen


def test_many_sightings_in_one_session_stay_capped():
    raws = [victim(T0 + i * 60, ip=f"73.1.2.{i}") for i in range(100)]
    states: dict = {}
    run(raws, states, config=SessionHijackConfig(max_sightings=8))
    (session,) = _sessions(states).values()
    assert len(session.sightings) == 8
    assert session.sightings[0].ip == "73.1.2.0"  # the session's first sighting is kept, then the newest


def test_hijack_in_an_old_but_live_session_is_still_caught():
    """The victim's morning session stays in use while 40 other sessions come and go; its cookie replayed late
    in the day still pairs with the morning sighting."""
    raws = [victim(T0, session="idxMORNING")]
    for i in range(40):
        raws.append(victim(T0 + (i + 1) * 1200, session=f"idxOTHER{i}"))
        if i % 10 == 9:
            raws.append(victim(T0 + (i + 1) * 1200 + 60, session="idxMORNING", ip="73.1.2.99"))
    raws.append(replay(T0 + 20 * HOUR, session="idxMORNING", proxy=True))
    states: dict = {}
    (finding,) = run(raws, states)
    assert finding.dedup_key == "acme:session_hijack:00u1alice:idxMORNING+AS7922-AS8359"
    assert finding.event_uuids == (raws[0]["uuid"], raws[-1]["uuid"])
    assert finding.confidence == 85
    assert len(_sessions(states)) == 16 and "idxMORNING" in _sessions(states)


def test_state_serialized_mid_stream_continues_like_an_uninterrupted_run():
    raws = [victim(), victim(T0 + 60, session="idxB"), replay(session="idxB"), victim(T0 + 1.5 * HOUR, ip="73.1.2.9")]
    raws += [victim(T0 + 2 * HOUR, session="idxC"), replay(T0 + 3 * HOUR, proxy=True)]  # idxC evicts idxB
    raws += [replay(T0 + 3 * HOUR + 60, "lagos", session="idxC"), replay(T0 + 4 * HOUR, proxy=True)]
    engine = Engine([SessionHijack(SessionHijackConfig(max_sessions=2))], TenantContext("acme"))
    straight: dict = {}
    expected = engine.process_all((parse_event(r, "acme") for r in raws), straight)
    assert [f.dedup_key.split(":")[-1] for f in expected] == [
        "idxB+AS7922-AS8359",
        "idxSESSION1+AS7922-AS8359",
        "idxC+AS7922-AS37148",
    ]
    assert sorted(_sessions(straight)) == ["idxC", "idxSESSION1"]
    for cut in range(1, len(raws)):
        states: dict = {}
        got = engine.process_all((parse_event(r, "acme") for r in raws[:cut]), states)
        states = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
        got += engine.process_all((parse_event(r, "acme") for r in raws[cut:]), states)
        assert [f.to_dict() for f in got] == [f.to_dict() for f in expected], cut
        assert _sessions(states) == _sessions(straight)
        # the restored state keeps the replay guard: the whole stream again adds nothing
        assert engine.process_all((parse_event(r, "acme") for r in raws), states) == []
