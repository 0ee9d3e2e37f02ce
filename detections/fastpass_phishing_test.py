from __future__ import annotations

from detections.confidence import Action, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.fastpass_phishing import FastPassPhishing, FastPassPhishingConfig
from detections.finding import Severity
from detections.registry import DetectionSettings, build_detections
from detections.testkit import (
    FASTPASS_PHISHING_REASON,
    OKTA_VERIFY_UA,
    SYSTEM_ACTOR,
    fastpass_phishing_block,
    log_event,
    sign_in,
    user_target,
)

T0 = 1_700_000_000.0
MIN = 60.0
PROXY = "45.137.21.9"
BOB = {"id": "00ubob", "type": "User", "alternateId": "bob@acme.com", "displayName": "Bob"}


def run(raws, states=None, config=None, context=None):
    engine = Engine([FastPassPhishing(config)], context or TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def success(t, ip=PROXY, **kw):
    return sign_in(t, "moscow", ip=ip, **kw)


def by_detection(findings):
    return {f.detection: f for f in findings}


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def test_blocked_phishing_is_high_severity_and_takes_no_action():
    phish = fastpass_phishing_block(T0)
    (finding,) = run([phish])
    assert finding.detection == "fastpass_phishing" and finding.severity is Severity.HIGH
    assert finding.principal == "00u1alice" and finding.principal_login == "alice@acme.com"
    assert finding.confidence == 60 and finding.assessment.tier is Tier.HIGH
    assert finding.assessment.actions == ()
    assert finding.dedup_key == f"acme:fastpass_phishing:00u1alice:{phish['uuid']}"
    assert "T1557" in finding.mitre and PROXY in finding.summary


def test_only_okta_fastpass_verdict_counts():
    wrong_password = log_event(
        "user.authentication.auth_via_mfa", T0, result="FAILURE", reason="INVALID_CREDENTIALS", ip=PROXY
    )
    # Panther's anonymizer fixtures carry the FastPass reason on user.session.start: not Okta's spelling
    session_start = log_event("user.session.start", T0, result="FAILURE", reason=FASTPASS_PHISHING_REASON)
    allowed = fastpass_phishing_block(T0)
    allowed["outcome"]["result"] = "SUCCESS"
    assert run([wrong_password, session_start, allowed]) == []
    odd_case = fastpass_phishing_block(T0)
    odd_case["outcome"]["reason"] = "FastPass Declined Phishing Attempt "
    assert len(run([odd_case])) == 1


def test_anonymizer_and_threatinsight_boost_the_blocked_attempt_but_never_act():
    phish = fastpass_phishing_block(T0, debug={"threatSuspected": "true"})
    phish["securityContext"]["isProxy"] = True
    (finding,) = run([phish])
    assert finding.confidence == 90 and finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert finding.assessment.actions == ()


def test_sign_in_from_the_phishing_ip_earns_clear_sessions_and_expire_password():
    phish, ok = fastpass_phishing_block(T0), success(T0 + 20 * MIN)
    found = by_detection(run([phish, ok]))
    assert set(found) == {"fastpass_phishing", "fastpass_phishing_success"}
    chained = found["fastpass_phishing_success"]
    assert chained.severity is Severity.HIGH and chained.principal == "00u1alice"
    assert chained.confidence == 85  # attempt 30 + access 35 + from the phishing IP 20
    assert chained.assessment.tier is Tier.HIGH_CONFIDENCE
    assert chained.assessment.actions == (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
    assert chained.event_uuids == (phish["uuid"], ok["uuid"])
    assert chained.dedup_key == f"acme:fastpass_phishing_success:00u1alice:{ok['uuid']}"
    assert "T1078.004" in chained.mitre


def test_other_ip_other_user_earlier_or_too_late_is_not_chained():
    phish = fastpass_phishing_block(T0)
    assert [f.detection for f in run([phish, success(T0 + 20 * MIN, ip="73.1.2.3")])] == ["fastpass_phishing"]
    assert [f.detection for f in run([phish, success(T0 + 20 * MIN, actor=BOB)])] == ["fastpass_phishing"]
    assert [f.detection for f in run([success(T0 - MIN), phish])] == ["fastpass_phishing"]
    assert [f.detection for f in run([phish, success(T0 + 25 * 3600)])] == ["fastpass_phishing"]
    assert [f.detection for f in run([phish, success(T0 + 24 * 3600 + 10 * MIN)])] == ["fastpass_phishing"]
    assert len(run([phish, success(T0 + 23 * 3600)])) == 2


def test_the_users_known_device_and_ip_is_dampened_below_any_action():
    known = "{New Device=NEGATIVE, New IP=NEGATIVE, New Geo-Location=NEGATIVE}"
    chained = by_detection(run([fastpass_phishing_block(T0), success(T0 + 5 * MIN, behaviors=known)]))
    finding = chained["fastpass_phishing_success"]
    assert finding.confidence == 55 and finding.assessment.actions == ()
    assert any("known device" in label for label in labels(finding))
    config = FastPassPhishingConfig(allowlist_cidrs=("45.137.21.0/24",))
    finding = by_detection(run([fastpass_phishing_block(T0), success(T0 + 5 * MIN)], config=config))
    assert finding["fastpass_phishing_success"].confidence == 45


def test_an_event_logged_from_okta_verify_names_the_device_not_the_proxy():
    phish = fastpass_phishing_block(T0)
    phish["client"]["userAgent"] = {"rawUserAgent": OKTA_VERIFY_UA, "os": "Mac OS X", "browser": "UNKNOWN"}
    (finding,) = run([phish, success(T0 + 5 * MIN)])  # alert, but the user's own IP arms no credential action
    assert finding.detection == "fastpass_phishing"
    assert any("user's device" in label for label in labels(finding))


def test_a_late_blocked_event_completes_the_chain_with_the_same_keys():
    phish, ok = fastpass_phishing_block(T0), success(T0 + 2 * MIN)
    in_order = sorted(f.dedup_key for f in run([phish, ok]))
    late = run([ok, phish])  # the success was stored before the earlier blocked event arrived
    assert sorted(f.dedup_key for f in late) == in_order and len(late) == 2
    much_later = sign_in(T0 + 60 * MIN, "nyc")
    assert [f.detection for f in run([ok, much_later, phish])] == ["fastpass_phishing"]  # beyond the 15 min margin


def test_stale_events_beyond_the_horizon_are_dropped():
    now = success(T0 + 30 * 3600, ip="73.1.2.3")
    assert run([now, fastpass_phishing_block(T0)]) == []  # 30 h behind the high-water: beyond 24 h + lateness


def test_replay_guard_suppression_and_state_round_trip():
    phish, ok = fastpass_phishing_block(T0), success(T0 + 10 * MIN)
    again = fastpass_phishing_block(T0 + 10 * MIN)
    assert len(run([phish, phish, again, ok, ok])) == 2  # duplicates and a second attempt within 30 min fold
    assert len(run([phish, fastpass_phishing_block(T0 + 40 * MIN)])) == 2  # 40 min later: alerts again
    second = success(T0 + 2 * 3600)
    assert len(run([phish, ok, second, ok])) == 3  # ok redelivered after it left the success buffer
    engine = Engine([FastPassPhishing()], TenantContext("acme"))
    states: dict = {}
    assert len(engine.process_all([parse_event(phish, "acme")], states)) == 1
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    assert (
        engine.state_of(restored, "fastpass_phishing", "00u1alice").to_dict()
        == engine.state_of(states, "fastpass_phishing", "00u1alice").to_dict()
    )
    assert engine.process_all([parse_event(phish, "acme")], restored) == []  # replayed after a restart
    (chained,) = engine.process_all([parse_event(ok, "acme")], restored)  # the restored state still chains
    assert chained.detection == "fastpass_phishing_success"
    assert engine.process_all([parse_event(r, "acme") for r in (phish, ok)], restored) == []


def test_our_own_enforcement_events_are_ignored():
    ours = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    phish, ok = fastpass_phishing_block(T0), success(T0 + 5 * MIN, client_id="0oaITDR")
    assert [f.detection for f in run([phish, ok], context=ours)] == ["fastpass_phishing"]
    assert len(run([phish, ok])) == 2  # the same events from anyone else chain
    as_actor = fastpass_phishing_block(T0, user="0oaITDR", login="itdr-service")
    assert run([as_actor], context=ours) == [] and len(run([as_actor])) == 1


def test_blocked_event_under_okta_s_own_actor_alerts_for_the_target_user():
    phish = fastpass_phishing_block(T0)
    phish["actor"], phish["target"] = dict(SYSTEM_ACTOR), [user_target()]
    states: dict = {}
    (finding,) = run([phish, success(T0 + 5 * MIN)], states)
    assert finding.detection == "fastpass_phishing" and finding.principal == "00u1alice"
    assert f"actor|{SYSTEM_ACTOR['id']}" in states  # the event's actor holds the state ...
    assert Engine([FastPassPhishing()], TenantContext("acme")).state_of(  # ... keyed by actor and target
        states, "fastpass_phishing", f"{SYSTEM_ACTOR['id']}>00u1alice"
    )


def test_every_state_key_holds_one_actor():
    """keyed_by_actor: Kafka keeps this state in the actor's partition, so a key must never mix actors."""
    detection = FastPassPhishing()
    system = fastpass_phishing_block(T0)
    system["actor"], system["target"] = dict(SYSTEM_ACTOR), [user_target()]
    unknown = sign_in(T0, actor={"id": "unknown", "type": "User", "alternateId": "admin", "displayName": "unknown"})
    raws = [fastpass_phishing_block(T0), success(T0), success(T0, actor=BOB), system, unknown]
    actors: dict[str, set[str]] = {}
    for raw in raws:
        event = parse_event(raw, "acme")
        key = detection.state_key(event)
        if key is not None:
            actors.setdefault(key, set()).add(event.actor_id)
    assert detection.keyed_by_actor and len(actors) == 3
    assert all(len(ids) == 1 for ids in actors.values())


def test_registered_with_per_tenant_settings():
    settings = DetectionSettings(fastpass_phishing=FastPassPhishingConfig(follow_s=3600))
    (detection,) = [d for d in build_detections(settings) if isinstance(d, FastPassPhishing)]
    assert detection.config.follow_s == 3600
    findings = run([fastpass_phishing_block(T0), success(T0 + 2 * 3600)], config=detection.config)
    assert [f.detection for f in findings] == ["fastpass_phishing"]  # 2 h is beyond this tenant's 1 h
