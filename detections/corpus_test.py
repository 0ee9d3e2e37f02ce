"""The labelled corpus through the whole registry: every attack found, no trap fires, except the known gaps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detections import corpus, scoring, testkit
from detections.catalogue import finding_names
from detections.corpus import COMMAND, Case, Expect
from detections.registry import build_detections

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "labels.jsonl"
CASES = corpus.cases()
OUTCOMES = {o.case.name: o for o in scoring.run(CASES)}


def test_the_stored_labels_are_current():
    assert LABELS.read_text(encoding="utf-8") == corpus.render(CASES), f"{LABELS} is stale: run {COMMAND}"


def test_the_corpus_is_the_same_whatever_ran_before_and_under_another_hash_seed():
    testkit.log_event("user.session.start", 0)  # moves the testkit's id counter
    assert [c.digest() for c in corpus.cases()] == [c.digest() for c in CASES]
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    out = subprocess.run(
        [sys.executable, "-m", "detections.corpus"], cwd=LABELS.parents[3], env=env, capture_output=True, check=True
    )
    assert out.stdout.decode("utf-8") == corpus.render(CASES)


def test_every_detection_and_finding_has_an_attack_and_the_labels_name_real_findings():
    emitted = {name for names in finding_names().values() for name in names}
    expected = {e.finding for c in CASES for e in c.expect}
    assert expected == emitted, sorted(emitted ^ expected)
    assert {e.finding for c in CASES for e in c.allow} <= emitted
    assert {c.detection for c in CASES} == {d.id for d in build_detections()}
    assert all(c.expect for c in CASES if not c.trap) and not any(c.expect for c in CASES if c.trap)
    assert len({c.name for c in CASES}) == len(CASES)


def test_variants_cover_both_engines_behaviors_and_delivery_order():
    parts = [c.name.split("/") for c in CASES]
    assert {p[2] for p in parts} == {"any", "classic", "oie"}
    assert {p[3] for p in parts} == {"with", "log_only", "without"}
    assert {p[4] for p in parts} == {"in_order", "late", "shuffled", "twice"}
    for case in CASES:
        if case.name.endswith("/late"):  # the attack's first event arrives after a later one
            published = [e["published"] for e in case.events]
            assert published != sorted(published) and published[-1] < max(published)
    traps = {p[1] for p, c in zip(parts, CASES, strict=True) if c.trap}
    assert {"travel_on_corporate_vpn", "mistypes_twice", "service_account", "office_egress_typos"} <= traps


def test_an_event_keeps_its_uuid_in_every_delivery():
    by_name = {c.name: c for c in CASES}
    for case in CASES:
        variant, delivery = case.name.rsplit("/", 1)
        plain = by_name[f"{variant}/in_order"]
        uuids, once = [e["uuid"] for e in case.events], [e["uuid"] for e in plain.events]
        if delivery == "twice":  # the history once, the attack again
            assert uuids == once + once[len(once) - (len(uuids) - len(once)) :], case.name
        assert sorted(set(uuids)) == sorted(once) and len(set(once)) == len(once), case.name


@pytest.mark.parametrize("name", [c.name for c in CASES if c.name.endswith("/twice")])
def test_an_attack_delivered_twice_writes_the_same_findings_as_once(name):
    """At-least-once delivery: the repeat is dropped by uuid, so not one more revision or finding."""
    once = next(c for c in CASES if c.name == name.removesuffix("twice") + "in_order")
    assert [f.record_key for f in scoring.findings_of(once)] == [
        f.record_key for f in scoring.findings_of(next(c for c in CASES if c.name == name))
    ]


@pytest.mark.parametrize("name", [c.name for c in CASES if not c.gap])
def test_case_is_as_labelled(name):
    outcome = OUTCOMES[name]
    assert not outcome.missed, f"not found: {sorted(outcome.missed, key=str)}"
    assert not outcome.unexpected, f"fired unexpectedly: {sorted(outcome.unexpected, key=str)}"


@pytest.mark.parametrize("name", [c.name for c in CASES if c.gap])
def test_known_gap_is_still_a_gap(name):
    """A fix makes this fail: then remove the case from corpus.KNOWN_GAPS and regenerate the labels."""
    assert not OUTCOMES[name].passed, f"{name} now passes: remove it from KNOWN_GAPS ({COMMAND})"


def test_recall_is_one_per_detection_without_the_known_gaps():
    scores = scoring.score([o for o in OUTCOMES.values() if not o.case.gap])
    assert all(s.recall == 1.0 and s.precision == 1.0 for s in scores if s.tp), scoring.table(scores, [])


def test_scoring_counts_misses_and_false_positives():
    """The score is computed, not assumed: a case that expects the wrong finding scores a miss and a false
    positive for the detections concerned, and a wildcard entity matches any source IP."""
    spray = next(c for c in CASES if c.name == "password_spray/one_ip_many_users/classic/with/in_order")
    wrong = Case(spray.name, spray.detection, False, spray.events, (Expect("brute_force", "user:00ubob"),))
    (outcome,) = scoring.run([wrong])
    by_id = {s.detection: s for s in scoring.score([outcome])}
    assert (by_id["brute_force"].fn, by_id["brute_force"].recall) == (1, 0.0)
    assert (by_id["password_spray"].fp, by_id["password_spray"].precision) == (1, 0.0)
    anywhere = Case(spray.name, spray.detection, False, spray.events, (Expect("password_spray", "ip:*"),))
    assert scoring.run([anywhere])[0].passed
    trap = Case("trap", spray.detection, True, spray.events, ())
    assert scoring.run([trap])[0].unexpected == {Expect("password_spray", "ip:203.0.113.9")}
