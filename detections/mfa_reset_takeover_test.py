from __future__ import annotations

import random

from detections.confidence import Action, EvidenceClass, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.mfa_reset_takeover import MfaResetTakeover, MfaResetTakeoverConfig
from detections.testkit import ALICE, factor_activate, factor_reset, sign_in

T0 = 1_700_000_000.0
MIN = 60.0
DAY = 86400.0
ATTACKER = {"dt_hash": "dt-attacker", "ua": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/125.0"}
PHONE = {"dt_hash": "dt-alice-new-phone", "os": "iOS", "browser": "MOBILE SAFARI"}


def run(raws, states=None, config=None, context=None):
    engine = Engine([MfaResetTakeover(config)], context or TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def history(n=5):
    """Alice's usual sign-ins: her laptop at home in New York, the days before."""
    return [sign_in(T0 - (i + 1) * DAY, "nyc") for i in range(n)]


def takeover(place="lagos", **sign_in_kw):
    """The help desk resets Alice's factors; the caller enrols a factor and signs in from their own machine."""
    kw = {**ATTACKER, **sign_in_kw}
    return [
        factor_reset(T0),
        factor_activate(T0 + 8 * MIN, place),
        sign_in(T0 + 10 * MIN, place, **kw),
    ]


def test_help_desk_reset_then_enrolment_and_sign_in_from_a_new_device_and_country_is_high_confidence():
    chain = takeover()
    (finding,) = run(history() + chain)
    assert finding.detection == "mfa_reset_takeover"
    assert finding.principal == "00u1alice" and finding.principal_login == "alice@acme.com"
    assert finding.severity is Severity.HIGH
    assert sorted(e.points for e in finding.assessment.evidence) == [10, 15, 30, 35]
    assert finding.confidence == 90
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert set(finding.assessment.actions) == {Action.CLEAR_SESSIONS, Action.RESET_FACTORS}
    assert finding.event_uuids == tuple(r["uuid"] for r in chain)
    assert finding.dedup_key == "acme:mfa_reset_takeover:00u1alice:2023-11-14T22:00:00Z+actions"
    assert {"T1556.006", "T1656"} <= set(finding.mitre)
    assert "admin@acme.com" in finding.summary


def test_reset_events_are_keyed_by_their_target_and_the_rest_by_the_user():
    detection = MfaResetTakeover()
    reset, enrol, login = (parse_event(r, "acme") for r in takeover())
    assert reset.actor_id == "00uADMIN"
    assert {detection.state_key(e) for e in (reset, enrol, login)} == {"00u1alice"}
    failed = parse_event(factor_reset(T0, result="FAILURE"), "acme")
    no_user = parse_event({**factor_reset(T0), "target": [{"id": "x", "type": "AppInstance"}]}, "acme")
    assert detection.state_key(failed) is None and detection.state_key(no_user) is None
    assert MfaResetTakeover.keyed_by_actor is False


def test_sign_in_from_the_users_known_laptop_and_network_is_nothing():
    """The everyday help-desk reset: new phone enrolled, the user signs in from their laptop as always."""
    raws = [*history(), factor_reset(T0), factor_activate(T0 + 5 * MIN), sign_in(T0 + 6 * MIN, "nyc")]
    assert run(raws) == []


def test_without_enrolment_or_outside_the_window_is_nothing():
    reset, enrol, login = takeover()
    assert run([*history(), reset, login]) == []  # no new factor
    late_enrol = factor_activate(T0 + 61 * MIN, "lagos")
    late_login = sign_in(T0 + 62 * MIN, "lagos", **ATTACKER)
    assert run([*history(), reset, late_enrol, late_login]) == []
    assert run([*history(), enrol, login]) == []  # no reset
    before = [sign_in(T0 - 5 * MIN, "lagos", **ATTACKER), reset, enrol]  # the sign-in came before the reset
    assert run(history() + before) == []


def test_enrolment_after_the_sign_in_still_completes_the_chain():
    """Classic starts the session before the factor is enrolled."""
    reset, enrol, login = takeover()
    (finding,) = run([*history(), reset, login, {**enrol, "published": factor_activate(T0 + 12 * MIN)["published"]}])
    assert finding.confidence == 90


def test_user_resetting_their_own_factor_from_their_known_laptop_is_dampened_without_action():
    """New phone: Alice removes the old factor on her laptop, enrols the phone, and signs in on the phone."""
    own = factor_reset(T0, "nyc", event_type="user.mfa.factor.deactivate", by=ALICE, dt_hash="dt-alice-laptop")
    phone_login = sign_in(T0 + 10 * MIN, "nyc_mobile", behaviors="{New Device=POSITIVE}", **PHONE)
    (finding,) = run([*history(), own, factor_activate(T0 + 5 * MIN), phone_login])
    assert any("their own factor from a known device" in label for label in labels(finding))
    assert any("mobile carrier" in label for label in labels(finding))
    assert finding.confidence == 30  # 30 + 35 + 15 + 10 − 40 − 20
    assert finding.assessment.actions == () and finding.severity is Severity.MEDIUM


def test_self_reset_is_recognised_by_login_when_the_ids_differ():
    """Panther's fixture: actor.id and target.id differ in form, the login is the same."""
    own = factor_reset(T0, "nyc", by={**ALICE, "id": "11111111111"}, dt_hash="dt-alice-laptop")
    (finding,) = run([*history(), own, *takeover()[1:]])
    assert any("their own factor" in label for label in labels(finding))


def test_self_reset_from_an_unknown_device_is_not_dampened():
    """Someone holding Alice's session resets her factor from their own machine: the same takeover."""
    stranger = factor_reset(T0, "lagos", by=ALICE, dt_hash="dt-attacker")
    (finding,) = run([*history(), stranger, *takeover()[1:]])
    assert finding.confidence == 90 and finding.assessment.dampeners == ()
    assert Action.RESET_FACTORS in finding.assessment.actions


def test_unenrolling_okta_verify_logs_several_deactivations_and_counts_once():
    """Removing push also removes the other Okta Verify factors: three deactivate events, one reset."""
    resets = [factor_reset(T0 + i * 0.2, event_type="user.mfa.factor.deactivate") for i in range(3)]
    findings = run([*history(), *resets, *takeover()[1:]])
    assert len(findings) == 1 and findings[0].event_uuids[0] == resets[0]["uuid"]


def test_cold_start_relies_on_okta_behaviors_and_is_capped_below_action():
    bare = takeover()
    assert run(bare) == []  # no history of ours and no Okta verdict: cannot call anything "new"
    okta = "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE}"
    (finding,) = run(takeover(behaviors=okta, proxy=True))
    assert any("cold start" in label for label in labels(finding))
    assert finding.confidence == 84  # 30 + 35 + 15 + 10 + anonymizer 15 − 15, capped at 84
    assert finding.assessment.tier is Tier.HIGH and finding.assessment.actions == ()


def test_new_network_on_a_known_device_pages_without_action():
    (finding,) = run(history() + takeover("chicago", dt_hash="dt-alice-laptop"))
    assert finding.confidence == 80  # 30 + 35 + new ASN 15
    assert finding.assessment.tier is Tier.HIGH and finding.assessment.actions == ()


def test_allowlisted_corporate_egress_is_dampened():
    config = MfaResetTakeoverConfig(allowlist_asns=frozenset({7018}))
    (finding,) = run(history() + takeover("chicago"), config=config)
    assert finding.confidence == 50  # 30 + 35 + 15 + 10 − 40
    assert finding.assessment.actions == ()


def test_a_later_sign_in_that_earns_the_actions_still_fires_once():
    """One finding per hour, except that a page-only finding must not mask the chain that earns enforcement."""
    reset, enrol, first = takeover("chicago", dt_hash="dt-alice-laptop")  # 80: page only
    worse = sign_in(T0 + 15 * MIN, "lagos", **ATTACKER)  # 90: act
    again = sign_in(T0 + 20 * MIN, "moscow", **ATTACKER)
    findings = run([*history(), reset, enrol, first, worse, again])
    assert [f.confidence for f in findings] == [80, 90]
    assert findings[0].assessment.actions == () and Action.RESET_FACTORS in findings[1].assessment.actions
    assert findings[0].dedup_key != findings[1].dedup_key


def test_out_of_order_delivery_gives_the_same_finding():
    """The System Log delivers in storage order: the chain's events may arrive in any order within minutes."""
    chain = [*takeover(), sign_in(T0 + 2 * MIN, "nyc"), factor_reset(T0 + 30, event_type="user.mfa.factor.deactivate")]
    (in_order,) = run(history() + chain)
    for seed in range(8):
        shuffled = chain[:]
        random.Random(seed).shuffle(shuffled)
        (finding,) = run(history() + shuffled)
        assert (finding.dedup_key, finding.confidence) == (in_order.dedup_key, in_order.confidence)


def test_the_attackers_own_sign_ins_never_become_baseline_for_the_reset():
    """Judged against history before the reset, however many times the attacker signs in."""
    reset, enrol, login = takeover()
    repeats = [sign_in(T0 + (11 + i) * MIN, "lagos", **ATTACKER) for i in range(5)]
    findings = run([*history(), reset, *repeats, enrol, login])
    assert len(findings) == 1 and findings[0].confidence == 90


def test_replayed_events_count_once():
    raws = history(2) + takeover(behaviors="{New Geo-Location=POSITIVE, New Device=POSITIVE}")
    states: dict = {}
    run(raws[:2], states)
    run(raws[:2], states)  # replayed baseline: still only 2 sign-ins, still a cold start
    (finding,) = run(raws[2:], states)
    assert any("cold start" in label for label in labels(finding))
    assert run(raws, states) == []  # the whole chain delivered again


def test_state_survives_encoding_round_trip():
    engine = Engine([MfaResetTakeover()], TenantContext("acme"))
    states: dict = {}
    reset, enrol, login = takeover()
    engine.process_all((parse_event(r, "acme") for r in [*history(), reset, enrol]), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    (finding,) = engine.process(parse_event(login, "acme"), restored)
    assert finding.confidence == 90


def test_our_own_factor_reset_is_ignored():
    """Our reset_factors action shows up as user.mfa.factor.reset_all; the user then re-enrols as asked."""
    ours = {"id": "0oaITDR", "type": "PublicClientApp", "alternateId": "okta-itdr", "displayName": "okta-itdr"}
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    raws = [*history(), factor_reset(T0, by=ours), *takeover()[1:]]
    assert run(raws, context=context) == []
    assert len(run(raws)) == 1  # the same reset by anyone else counts


def test_non_human_reset_actor_counts_and_is_named():
    service = {"id": "0oaSVC", "type": "PublicClientAppEntity", "alternateId": "acme-service-app"}
    (finding,) = run([*history(), factor_reset(T0, by=service), *takeover()[1:]])
    assert "acme-service-app (non-human)" in finding.summary
    assert EvidenceClass.ATTACK_PATTERN in finding.assessment.classes


def test_a_users_routine_sign_ins_are_learnt_but_neither_kept_nor_guarded_and_a_new_one_is():
    engine = Engine([MfaResetTakeover()], TenantContext("acme"))
    states: dict = {}
    routine = [*history(5), sign_in(T0, "nyc"), sign_in(T0 + 2 * DAY, "nyc")]
    engine.process_all((parse_event(r, "acme") for r in routine), states)
    state = engine.state_of(states, MfaResetTakeover.id, ALICE["id"])
    assert [p.count for p in state.profile] == [7] and list(state.sign_ins) == []  # learnt, nothing kept
    assert not state.sup.guard  # the first ones were guarded, a day or more behind: forgotten; the rest not kept
    engine.process_all([parse_event(sign_in(T0 + 2 * DAY + MIN, "lagos", **ATTACKER), "acme")], states)
    assert len(list(state.sign_ins)) == 1 and len(state.sup.guard) == 1  # a new device and country: both
    # the routine sign-in replayed is learnt twice (the count was past the cold start: nothing a chain reads)
    again = engine.process(parse_event(routine[-1], "acme"), states)
    assert again == [] and state.profile[0].count == 8


def test_a_reset_that_arrives_after_routine_sign_ins_still_finds_the_new_one():
    reset, enrol, login = takeover()
    (finding,) = run([*history(5), sign_in(T0 + 5 * MIN, "nyc"), enrol, login, reset])  # the reset comes last
    assert finding.event_uuids == (reset["uuid"], enrol["uuid"], login["uuid"])
