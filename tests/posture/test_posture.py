"""Posture checks: each one's failing and passing case over a built inventory, and raising only on change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import orjson
import pytest

from detections.confidence import Tier
from detections.finding import Severity
from detector.config import ConfigError, PostureSettings, parse_config
from detector.inventory import posture
from detector.inventory.model import ApiToken, Factor, Inventory, Membership, OrgSettings, RoleAssignment, User
from detector.inventory.posture import PASS, UNKNOWN, Fail, check_ids, evaluate
from tests.posture.healthy import DAY, NOW, healthy, user

SETTINGS = PostureSettings()


def outcome(inv: Inventory, check_id: str, settings: PostureSettings = SETTINGS) -> posture.Outcome:
    return dict((c.id, o) for c, o in posture.assess_all(inv, settings, NOW))[check_id]


def replace_policy(inv: Inventory, pid: str, **settings: object) -> None:
    old = inv.of("policy")[pid]
    inv.put(dataclasses.replace(old, settings={**old.settings, **settings}))


def add_super_admins(inv: Inventory, n: int) -> None:
    for i in range(n):
        inv.put(user(f"00uS{i}", f"super{i}@acme.com"))
        inv.put(Factor(f"facS{i}", f"00uS{i}", "push", "OKTA"))
        inv.put(RoleAssignment(f"raS{i}", "USER", f"00uS{i}", "SUPER_ADMIN", "Super Administrator"))


# (check id, how to break the healthy tenant, a text the failure's evidence must hold)
BREAKS: list[tuple[str, Callable[[Inventory], None], str]] = [
    (
        "admin_console_not_phishing_resistant",
        lambda inv: replace_policy(inv, "rstADMIN", admin_console_phishing_resistant=False),
        "policy Okta Admin Console does not require a phishing-resistant factor",
    ),
    ("too_many_super_admins", lambda inv: add_super_admins(inv, 4), "super3@acme.com: Super Administrator"),
    (
        "admin_without_mfa",
        lambda inv: inv.remove("factor", "fac-00uBOB"),  # bob is Org admin through the IT Admins group
        "bob@acme.com: Organization Administrator via group IT Admins",
    ),
    (
        "api_token_unrestricted",
        lambda inv: inv.put(ApiToken("00Topen", "laptop", "00uBOB", created=NOW - DAY, network="ANYWHERE")),
        "API token laptop of bob@acme.com",
    ),
    (
        "api_token_old",
        lambda inv: inv.put(ApiToken("00Told", "legacy", "00uADA", created=NOW - 200 * DAY, network="ZONE")),
        "API token legacy of ada@acme.com, created",
    ),
    ("users_without_mfa", lambda inv: inv.remove("factor", "fac-00uCAT"), "cat@acme.com"),
    (
        "weak_password_policy",
        lambda inv: replace_policy(inv, "00pPW", password_min_length=8),
        "policy Default Policy: minimum length 8 (below 12)",
    ),
    (
        "mfa_enrollment_not_required",
        lambda inv: replace_policy(inv, "00pENROLL", enroll_required=[]),
        "policy Default Policy leaves enrolment optional",
    ),
    (
        "threat_insight_not_blocking",
        lambda inv: inv.put(OrgSettings(threat_insight="none")),
        "ThreatInsight is disabled",
    ),
    (
        "long_session_lifetime",
        lambda inv: replace_policy(inv, "00pSIGNON", max_session_minutes=0),
        "policy Default Policy: sessions never expire",
    ),
    (
        "inactive_admins",
        lambda inv: inv.put(user("00uADA", "ada@acme.com", last_login=NOW - 120 * DAY)),
        "ada@acme.com: last sign-in",
    ),
]


def test_every_check_has_a_failing_case_here():
    assert sorted(b[0] for b in BREAKS) == sorted(check_ids())


def test_the_healthy_tenant_passes_every_check():
    assert {c.id: o for c, o in posture.assess_all(healthy(), SETTINGS, NOW)} == dict.fromkeys(check_ids(), PASS)
    assert evaluate({}, healthy(), SETTINGS, NOW)[1] == []


@pytest.mark.parametrize(("check_id", "breaking", "evidence"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_check_fails_on_its_misconfiguration_only(check_id, breaking, evidence):
    inv = healthy()
    breaking(inv)
    outcomes = {c.id: o for c, o in posture.assess_all(inv, SETTINGS, NOW)}
    assert isinstance(outcomes[check_id], Fail)
    others = {k: o for k, o in outcomes.items() if isinstance(o, Fail) and k != check_id}
    # removing bob's factor also leaves a user without MFA; nothing else fails
    assert set(others) <= ({"users_without_mfa"} if check_id == "admin_without_mfa" else set())
    (finding,) = [f for f in evaluate({}, inv, SETTINGS, NOW)[1] if f.detection == f"posture_{check_id}"]
    check = next(c for c in posture.CHECKS if c.id == check_id)
    labels = [e.label for e in finding.assessment.evidence]
    assert any(evidence in label for label in labels), labels
    assert labels[-2:] == [f"why: {check.rationale}", f"remediation: {check.remediation}"]
    assert finding.mitre == check.mitre and finding.entity == f"posture:{check_id}" and finding.status == "open"
    assert finding.assessment.actions == () and finding.event_uuids == ()


def test_thresholds_come_from_the_settings():
    inv = healthy()
    add_super_admins(inv, 2)  # 3 super admins
    assert outcome(inv, "too_many_super_admins") is PASS
    assert isinstance(outcome(inv, "too_many_super_admins", PostureSettings(max_super_admins=2)), Fail)
    replace_policy(inv, "00pSIGNON", max_session_minutes=13 * 60)
    assert isinstance(outcome(inv, "long_session_lifetime"), Fail)
    assert outcome(inv, "long_session_lifetime", PostureSettings(max_session_hours=14)) is PASS
    inv.remove("factor", "fac-00uCAT")
    assert outcome(inv, "users_without_mfa", PostureSettings(max_users_without_mfa=1)) is PASS
    replace_policy(inv, "00pPW", password_complexity=2)
    assert "2 character class(es) required" in outcome(inv, "weak_password_policy").offenders[0][1]
    assert outcome(inv, "weak_password_policy", PostureSettings(password_min_classes=2)) is PASS


def test_super_admins_through_groups_count_and_inactive_users_do_not():
    inv = healthy()
    inv.put(RoleAssignment("raG", "GROUP", "00gADM", "SUPER_ADMIN", "Super Administrator"))
    for i in range(4):
        inv.put(user(f"00uM{i}", f"member{i}@acme.com", status="SUSPENDED" if i == 0 else "ACTIVE"))
        inv.put(Membership("00gADM", f"00uM{i}"))
    # ada directly; bob and members 1..3 through the group; member0 is suspended
    fail = outcome(inv, "too_many_super_admins")
    assert isinstance(fail, Fail) and fail.statement.startswith("5 users hold Super Administrator")
    assert "member1@acme.com: Super Administrator via group IT Admins" in [label for _, label in fail.offenders]
    assert "00uM0" not in [uid for uid, _ in fail.offenders]


def test_a_password_or_security_question_is_no_mfa_factor():
    inv = healthy()
    inv.put(Factor("fac-00uBOB", "00uBOB", "question", "OKTA"))
    inv.put(Factor("pw-bob", "00uBOB", "password", "OKTA"))
    assert isinstance(outcome(inv, "admin_without_mfa"), Fail)
    inv.put(Factor("fac-00uBOB", "00uBOB", "sms", "OKTA", status="PENDING_ACTIVATION"))
    assert isinstance(outcome(inv, "admin_without_mfa"), Fail)  # not active: no factor yet
    inv.put(Factor("fac-00uBOB", "00uBOB", "sms", "OKTA"))
    assert outcome(inv, "admin_without_mfa") is PASS


def test_an_admin_never_signed_in_is_inactive_once_the_account_is_old_enough():
    inv = healthy()
    inv.put(User("00uADA", "ada@acme.com", "ACTIVE", created=NOW - 10 * DAY))
    assert outcome(inv, "inactive_admins") is PASS
    inv.put(User("00uADA", "ada@acme.com", "ACTIVE", created=NOW - 100 * DAY))
    assert "ada@acme.com: never signed in" in outcome(inv, "inactive_admins").offenders[0][1]


def test_threat_insight_audit_is_a_milder_failure_than_disabled():
    inv = healthy()
    inv.put(OrgSettings(threat_insight="audit"))
    audit = outcome(inv, "threat_insight_not_blocking")
    assert isinstance(audit, Fail) and audit.severity is Severity.LOW
    (finding,) = evaluate({}, inv, SETTINGS, NOW)[1]
    assert finding.severity is Severity.LOW and finding.assessment.tier is Tier.LOW


def test_what_the_inventory_lacks_is_unknown_not_pass():
    assert {o for _, o in posture.assess_all(Inventory("acme"), SETTINGS, NOW)} == {UNKNOWN}
    inv = healthy()
    for pid in ("rstADMIN", "00pPW", "00pENROLL", "00pSIGNON"):
        inv.remove("policy", pid)
    inv.put(OrgSettings(threat_insight=None))
    for rid in ("ra1", "ra2"):
        inv.remove("role", rid)
    unknown = {c.id for c, o in posture.assess_all(inv, SETTINGS, NOW) if o is UNKNOWN}
    assert unknown == set(check_ids()) - {"api_token_unrestricted", "api_token_old", "users_without_mfa"}


def test_a_policy_setting_of_the_wrong_type_is_read_as_failing_not_raised():
    inv = healthy()
    replace_policy(inv, "00pPW", password_min_length="14")
    replace_policy(inv, "rstADMIN", admin_console_phishing_resistant="yes")
    assert isinstance(outcome(inv, "weak_password_policy"), Fail)
    assert isinstance(outcome(inv, "admin_console_not_phishing_resistant"), Fail)


def test_skipped_checks_do_not_run():
    inv = healthy()
    inv.put(OrgSettings(threat_insight="none"))
    results, findings = evaluate({}, inv, PostureSettings(skip=["threat_insight_not_blocking"]), NOW)
    assert findings == [] and "threat_insight_not_blocking" not in results


def test_an_unknown_check_in_skip_is_a_config_error():
    tenant = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    config = parse_config({"tenants": [{**tenant, "posture": {"skip": ["too_many_super_admins"]}}]})
    assert config.tenants[0].posture.skip == ["too_many_super_admins"]
    with pytest.raises(ConfigError, match=r"tenants\[0\]\.posture\.skip: .*unknown posture check\(s\) nope"):
        parse_config({"tenants": [{**tenant, "posture": {"skip": ["nope"]}}]})
    with pytest.raises(ConfigError, match=r"tenants\[0\]\.posture\.max_super_admins"):
        parse_config({"tenants": [{**tenant, "posture": {"max_super_admins": 0}}]})


# -- raised only on change ------------------------------------------------------------------------------------------


def roundtrip(results: dict) -> dict:
    """What the caller's store gives back: JSON."""
    return orjson.loads(orjson.dumps(results))


def test_new_unchanged_changed_resolved_and_failing_again():
    inv = healthy()
    inv.remove("factor", "fac-00uBOB")
    results, findings = evaluate({}, inv, SETTINGS, NOW)
    by = {f.detection: f for f in findings}
    assert set(by) == {"posture_admin_without_mfa", "posture_users_without_mfa"}
    first = by["posture_admin_without_mfa"]
    assert first.revision == 0 and first.status == "open" and first.severity is Severity.HIGH

    # the next sync, nothing changed: nothing raised, the stored results stay
    again, findings = evaluate(roundtrip(results), inv, SETTINGS, NOW + 6 * 3600)
    assert findings == [] and again == roundtrip(results)

    # another admin without MFA: the next revision of the same finding, listing both
    inv.remove("factor", "fac-00uADA")
    changed, findings = evaluate(roundtrip(again), inv, SETTINGS, NOW + 12 * 3600)
    (revision,) = [f for f in findings if f.detection == "posture_admin_without_mfa"]
    assert revision.dedup_key == first.dedup_key and revision.revision == 1
    assert revision.summary.startswith("2 administrator(s)")
    assert not [f for f in findings if f.detection == "posture_users_without_mfa"]  # a population: no churn

    # both enrol: resolved, the last revision of the same dedup key
    inv.put(Factor("fac-00uBOB", "00uBOB", "webauthn", "FIDO"))
    inv.put(Factor("fac-00uADA", "00uADA", "webauthn", "FIDO"))
    passed, findings = evaluate(roundtrip(changed), inv, SETTINGS, NOW + 18 * 3600)
    resolved = {f.detection: f for f in findings}
    assert set(resolved) == {"posture_admin_without_mfa", "posture_users_without_mfa"}
    done = resolved["posture_admin_without_mfa"]
    assert (done.dedup_key, done.revision, done.status) == (first.dedup_key, 2, "resolved")
    assert done.title.startswith("Resolved: ") and done.severity is Severity.INFO
    assert passed["admin_without_mfa"] == {"status": "pass", "episode": 1}
    assert evaluate(roundtrip(passed), inv, SETTINGS, NOW + 24 * 3600)[1] == []

    # failing again later is a new episode: a new dedup key (and so a new incident)
    inv.remove("factor", "fac-00uBOB")
    _, findings = evaluate(roundtrip(passed), inv, SETTINGS, NOW + 30 * 3600)
    anew = next(f for f in findings if f.detection == "posture_admin_without_mfa")
    assert anew.revision == 0 and anew.dedup_key != first.dedup_key


def test_a_new_failure_judged_again_without_its_stored_result_has_the_same_key():
    """A crash between publishing and storing: the next sync, a second or hours later, raises the same key and
    revision, so every consumer drops the repeat."""
    inv = healthy()
    inv.remove("factor", "fac-00uBOB")
    _, first = evaluate({}, inv, SETTINGS, NOW)
    _, again = evaluate({}, inv, SETTINGS, NOW + 1.4)
    assert first and [(f.dedup_key, f.revision) for f in again] == [(f.dedup_key, f.revision) for f in first]


def test_a_failure_stored_before_episodes_were_numbered_keeps_its_key():
    inv = healthy()
    inv.remove("factor", "fac-00uBOB")
    legacy = {"admin_without_mfa": {"status": "fail", "fp": "old", "rev": 0, "since": NOW - DAY}}
    _, findings = evaluate(legacy, inv, SETTINGS, NOW)
    (finding,) = [f for f in findings if f.detection == "posture_admin_without_mfa"]
    assert finding.revision == 1 and finding.dedup_key.endswith(f"+{NOW - DAY:.0f}")


def test_unknown_keeps_the_previous_result_and_raises_nothing():
    inv = healthy()
    inv.put(OrgSettings(threat_insight="audit"))
    results, findings = evaluate({}, inv, SETTINGS, NOW)
    assert [f.detection for f in findings] == ["posture_threat_insight_not_blocking"]
    inv.put(OrgSettings(threat_insight=None))  # the sync could not read it this time
    kept, findings = evaluate(roundtrip(results), inv, SETTINGS, NOW + 3600)
    assert findings == [] and kept["threat_insight_not_blocking"] == results["threat_insight_not_blocking"]
    inv.put(OrgSettings(threat_insight="none"))  # audit -> disabled: a graver failure, the next revision
    _, findings = evaluate(roundtrip(kept), inv, SETTINGS, NOW + 7200)
    assert [(f.revision, f.severity) for f in findings] == [(1, Severity.MEDIUM)]


@pytest.mark.parametrize(
    "stored",
    [
        {"admin_without_mfa": "fail"},
        {"admin_without_mfa": {"status": "fail", "fp": 3, "rev": 0, "since": NOW}},
        {"admin_without_mfa": {"status": "fail", "fp": "x", "rev": True, "since": NOW}},
        {"admin_without_mfa": {"status": "fail", "fp": "x", "rev": -1, "since": NOW}},
        {"admin_without_mfa": {"status": "fail", "fp": "x", "rev": 0, "since": "now"}},
        {"admin_without_mfa": {"status": "?"}},
        {"admin_without_mfa": {"status": "fail", "fp": "x", "rev": 0, "since": NOW, "episode": "1"}},
    ],
)
def test_a_malformed_stored_result_counts_as_none(stored):
    inv = healthy()
    inv.remove("factor", "fac-00uBOB")
    _, findings = evaluate(stored, inv, SETTINGS, NOW)
    (finding,) = [f for f in findings if f.detection == "posture_admin_without_mfa"]
    assert finding.revision == 0


def test_a_finding_names_at_most_evidence_limit_records():
    inv = healthy()
    for i in range(30):
        inv.put(User(f"00uN{i:02}", f"new{i:02}@acme.com", "ACTIVE", created=NOW - DAY))
    (finding,) = evaluate({}, inv, PostureSettings(evidence_limit=5), NOW)[1]
    labels = [e.label for e in finding.assessment.evidence]
    assert labels[0] == "30 of 33 users can sign in without any MFA factor (at most 0 stated)"
    assert labels[1:7] == [f"new{i:02}@acme.com" for i in range(5)] + ["... and 25 more"]
