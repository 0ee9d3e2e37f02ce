from __future__ import annotations

import random

from detections.confidence import Action, EvidenceClass, Tier
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.mfa_fatigue import MfaFatigue
from detections.push_requester_mismatch import PushRequesterMismatch, PushRequesterMismatchConfig
from detections.testkit import push_answer, push_prompt

T0 = 1_700_000_000.0
MIN = 60.0
LAPTOP = "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, New IP=NEGATIVE}"
ACCEPTED = "push_requester_mismatch"
REPEATED = "push_requester_mismatch_repeated"


def run(raws, states=None, config=None, context=None, with_fatigue=False):
    detections = [PushRequesterMismatch(config), *([MfaFatigue()] if with_fatigue else [])]
    engine = Engine(detections, context or TenantContext("acme"))
    states = {} if states is None else states
    return engine.process_all((parse_event(r, "acme") for r in raws), states)


def by_detection(findings, name):
    return [f for f in findings if f.detection == name]


def labels(finding):
    return [e.label for e in finding.assessment.evidence] + [d.label for d in finding.assessment.dampeners]


def attempt(t, i, *, accept, place="moscow", answer_place="nyc", behaviors=None, **kw):
    """One prompt requested from ``place`` and answered on the phone at ``answer_place``."""
    authn = f"authn-{i}"
    prompt_kw = {} if behaviors is None else {"behaviors": behaviors}
    return [
        push_prompt(t, place, authn=authn, **prompt_kw, **kw),
        push_answer(t + 5, answer_place, accept=accept, authn=authn, **kw),
    ]


def test_first_prompt_accepted_from_an_unrelated_network_is_high_confidence():
    """No bombing run: the attacker's first prompt is accepted on the victim's phone at home."""
    raws = attempt(T0, 1, accept=True)
    (finding,) = run(raws)
    assert finding.detection == ACCEPTED
    assert finding.principal == "00u1alice"
    assert finding.severity is Severity.HIGH
    # accept 35 + requester ≠ responder 20 + new geo 15 + new device 10 + another country 15
    assert sorted(e.points for e in finding.assessment.evidence) == [10, 15, 15, 20, 35]
    assert finding.confidence == 95
    assert finding.assessment.tier is Tier.HIGH_CONFIDENCE
    assert set(finding.assessment.actions) == {Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD}
    assert finding.event_uuids == (raws[0]["uuid"], raws[1]["uuid"])
    assert finding.dedup_key == f"acme:push_requester_mismatch:00u1alice:{raws[1]['uuid']}"
    assert "T1621" in finding.mitre


def test_accept_from_another_country_without_okta_behaviors_pages_without_action():
    (finding,) = run(attempt(T0, 1, accept=True, behaviors=""))
    assert finding.confidence == 70  # 35 + 20 + another country 15
    assert finding.assessment.tier is Tier.HIGH
    assert finding.assessment.actions == ()


def test_phone_on_lte_while_the_laptop_is_on_wifi_is_not_a_mismatch():
    """The everyday case: known laptop at home, phone on the mobile carrier: other ASN, same country."""
    assert run(attempt(T0, 1, accept=True, place="nyc", answer_place="nyc_mobile", behaviors=LAPTOP)) == []
    new_ip_only = "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, New IP=POSITIVE}"  # a café: not a signal
    assert run(attempt(T0, 1, accept=True, place="boston", answer_place="nyc_mobile", behaviors=new_ip_only)) == []
    # same IP or same ASN are one network
    assert run(attempt(T0, 1, accept=True, place="nyc", answer_place="nyc")) == []


def test_traveller_answering_on_a_roaming_carrier_is_dampened_to_an_alert():
    """Known laptop abroad (Okta: new geo), phone on its home carrier (home-routed): not another country."""
    traveller = "{New Geo-Location=POSITIVE, New Device=NEGATIVE, New IP=POSITIVE}"
    (finding,) = run(attempt(T0, 1, accept=True, place="london", answer_place="nyc_mobile", behaviors=traveller))
    assert finding.confidence == 50  # 35 + 20 + new geo 15 − mobile carrier 20
    assert any("mobile carrier" in label for label in labels(finding))
    assert not any("answered on the phone in" in label for label in labels(finding))
    assert finding.assessment.tier is Tier.MEDIUM and finding.assessment.actions == ()
    assert finding.severity is Severity.MEDIUM


def test_attacker_with_a_new_device_is_not_dampened_by_the_victims_carrier():
    (finding,) = run(attempt(T0, 1, accept=True, answer_place="nyc_mobile"))
    assert finding.confidence == 80  # 35 + 20 + 15 + 10, no country point (carrier egress), no dampener
    assert finding.assessment.dampeners == ()


def test_corporate_vpn_egress_is_dampened_below_an_alert():
    """Laptop on the corporate VPN (exit in another city, Okta sees a new geo), phone on home Wi-Fi."""
    vpn_exit = "{New Geo-Location=POSITIVE, New Device=NEGATIVE, New IP=POSITIVE}"
    config = PushRequesterMismatchConfig(allowlist_asns=frozenset({7018}))
    raws = attempt(T0, 1, accept=True, place="chicago", behaviors=vpn_exit)
    assert run(raws, config=config) == []  # 35 + 20 + 15 − 40 = 30
    (unconfigured,) = run(raws)
    assert unconfigured.confidence == 70


def test_repeated_mismatched_refusals_are_medium_without_action():
    raws = attempt(T0, 1, accept=False) + attempt(T0 + 5 * MIN, 2, accept=False)
    assert run(raws[:2]) == []  # one refusal: a mis-tap at most
    (finding,) = run(raws)
    assert finding.detection == REPEATED
    assert finding.severity is Severity.MEDIUM
    assert finding.confidence == 60  # pattern 20 + new geo 15 + new device 10 + another country 15
    assert EvidenceClass.ATTACK_PATTERN in finding.assessment.classes
    assert finding.assessment.actions == ()
    assert finding.event_uuids == tuple(r["uuid"] for r in raws)


def test_push_fanout_to_two_devices_counts_as_one_prompt():
    """One prompt is logged once per enrolled device; the user answers on one of them."""
    fanned = [push_prompt(T0, authn="authn-1"), push_prompt(T0 + 0.3, authn="authn-1")]
    answer = push_answer(T0 + 5, accept=False, authn="authn-1")
    states: dict = {}
    assert run([*fanned, answer], states) == []
    state = Engine([PushRequesterMismatch()], TenantContext("acme")).state_of(
        states, "push_requester_mismatch", "00u1alice"
    )
    assert len([e for e in state.entries if e.kind == "sent"]) == 1
    second = [push_prompt(T0 + MIN, authn="authn-2"), push_prompt(T0 + MIN + 0.3, authn="authn-2")]
    (finding,) = run([*second, push_answer(T0 + MIN + 5, accept=False, authn="authn-2")], states)
    assert finding.detection == REPEATED and len(finding.event_uuids) == 4


def test_the_answer_is_tied_to_its_own_prompt_by_authn_request_id():
    """The attacker's prompt is the latest, but the accept answers the user's own sign-in at home."""
    own = push_prompt(T0, "nyc", behaviors=LAPTOP, authn="authn-user")
    attacker = push_prompt(T0 + 10, "moscow", authn="authn-attacker")
    assert run([own, attacker, push_answer(T0 + 15, authn="authn-user")]) == []
    (finding,) = run([own, attacker, push_answer(T0 + 15, authn="authn-attacker")])
    assert attacker["uuid"] in finding.event_uuids and own["uuid"] not in finding.event_uuids


def test_unanswered_prompts_have_no_responder():
    prompt = push_prompt(T0)
    timeout = push_answer(T0 + 300, accept=False)
    timeout["outcome"] = {"result": "UNANSWERED", "reason": None}
    assert run([prompt, timeout, push_prompt(T0 + 400, authn="a2"), {**timeout, "uuid": "t2"}]) == []


def test_an_accept_that_ends_a_bombing_run_is_left_to_mfa_push_accepted():
    denials = [r for i in range(3) for r in attempt(T0 + i * 30, i, accept=False)]
    accept = attempt(T0 + 120, 9, accept=True)
    findings = run(denials + accept, with_fatigue=True)
    assert len(by_detection(findings, "mfa_push_accepted")) == 1
    assert by_detection(findings, ACCEPTED) == []
    assert len(by_detection(findings, REPEATED)) == 1  # the refusals were a signal before any run


def test_an_accept_after_fewer_refusals_than_a_run_is_ours_with_the_pattern():
    denials = [r for i in range(2) for r in attempt(T0 + i * 30, i, accept=False)]
    findings = run(denials + attempt(T0 + 90, 9, accept=True), with_fatigue=True)
    assert by_detection(findings, "mfa_push_accepted") == []
    (finding,) = by_detection(findings, ACCEPTED)
    assert finding.confidence == 100
    assert any("2 earlier prompt(s)" in label for label in labels(finding))
    assert len(finding.event_uuids) == 6


def test_out_of_order_delivery_gives_the_same_findings():
    """Same keys in any order; an accept seen before the refusals that preceded it lacks only the pattern points."""
    raws = attempt(T0, 1, accept=False) + attempt(T0 + MIN, 2, accept=False) + attempt(T0 + 20 * MIN, 3, accept=True)
    in_order = run(raws)
    assert {f.detection for f in in_order} == {ACCEPTED, REPEATED}
    for seed in range(5):
        shuffled = raws[:]
        random.Random(seed).shuffle(shuffled)
        findings = run(shuffled)
        assert sorted(f.dedup_key for f in findings) == sorted(f.dedup_key for f in in_order)
        (accepted,) = by_detection(findings, ACCEPTED)
        assert accepted.confidence >= 95 and Action.CLEAR_SESSIONS in accepted.assessment.actions


def test_a_late_prompt_pairs_with_the_answer_already_held():
    prompt, answer = attempt(T0, 1, accept=True)
    (late,) = run([answer, prompt])
    (in_order,) = run([prompt, answer])
    assert late.dedup_key == in_order.dedup_key and late.confidence == in_order.confidence


def test_replayed_events_count_once():
    raws = attempt(T0, 1, accept=False)
    states: dict = {}
    assert run(raws + raws, states) == []  # the same refusal twice is not a repeat
    accept = attempt(T0 + MIN, 2, accept=True)
    first = run(accept, states)
    assert [f.detection for f in first] == [ACCEPTED]
    assert run(accept, states) == []


def test_one_accepted_finding_per_hour_and_state_round_trip():
    engine = Engine([PushRequesterMismatch()], TenantContext("acme"))
    states: dict = {}
    first = engine.process_all((parse_event(r, "acme") for r in attempt(T0, 1, accept=True)), states)
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}
    soon = engine.process_all((parse_event(r, "acme") for r in attempt(T0 + 10 * MIN, 2, accept=True)), restored)
    later = engine.process_all((parse_event(r, "acme") for r in attempt(T0 + 2 * 3600, 3, accept=True)), restored)
    assert len(first) == 1 and soon == [] and len(later) == 1


def test_our_own_enforcement_events_are_ignored():
    context = TenantContext("acme", own_client_ids=frozenset({"0oaITDR"}))
    assert run(attempt(T0, 1, accept=True, client_id="0oaITDR"), context=context) == []


def test_non_humans_are_ignored():
    service = {"id": "0oaSVC", "type": "PublicClientApp", "alternateId": "svc", "displayName": "svc"}
    assert run(attempt(T0, 1, accept=True, actor=service)) == []
