"""The directory inventory as detection input: admin targets, weak factors, inactive and dormant sign-ins,
new users made admin; and an unknown user (or no inventory) changing nothing."""

from __future__ import annotations

from dataclasses import replace

from detections.admin_privilege_granted import AdminPrivilegeGranted
from detections.confidence import Action, Evidence, EvidenceClass, Tier, assess
from detections.directory import AdminRole, MappingDirectory, UserFacts, target_context
from detections.directory_signin import DirectorySignIn, DirectorySignInConfig
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.impossible_travel import ImpossibleTravel
from detections.mfa_fatigue import MfaFatigue
from detections.registry import build_engine
from detections.session_hijack import SessionHijack
from detections.success_after_credential_attack import SuccessAfterCredentialAttack
from detections.testkit import admin_event, failed_sign_in, push_bombing, sign_in, user_target

T0 = 1_700_000_000.0
DAY = 86_400.0
HOUR = 3600.0
ALICE = "00u1alice"
SUPER = AdminRole("SUPER_ADMIN", "Super Administrator", via_group="Okta Admins")
ACTIVE = UserFacts("ACTIVE", created=T0 - 400 * DAY, last_login=T0 - DAY, factor_types=frozenset({"push"}))


def run(detections, raws, directory=None):
    engine = Engine(detections, TenantContext("acme"), directory=directory)
    return engine.process_all((parse_event(r, "acme") for r in raws), {})


def alice(facts: UserFacts) -> MappingDirectory:
    return MappingDirectory({ALICE: facts})


def labels(finding):
    return [e.label for e in finding.assessment.evidence]


# -- the model ---------------------------------------------------------------------------------------------------


def test_context_lifts_a_finding_to_high_at_most_and_earns_no_action():
    pattern = Evidence(EvidenceClass.ATTACK_PATTERN, "pattern", 30)
    access = Evidence(EvidenceClass.ACCESS, "access", 35)
    admin = Evidence(EvidenceClass.CONTEXT, "target holds Super Administrator", 25)
    offered = (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
    assert assess([pattern]).tier is Tier.LOW
    assert assess([pattern, admin]).tier is Tier.MEDIUM  # 55
    lifted = assess([pattern, access, admin], offered=offered)
    assert (lifted.score, lifted.tier, lifted.actions) == (90, Tier.HIGH, ())  # 90 from two classes, yet high
    strong = Evidence(EvidenceClass.ANOMALY, "anomaly", 25)
    earned = assess([pattern, access, strong, admin], offered=offered)
    assert earned.tier is Tier.HIGH_CONFIDENCE and earned.actions == offered  # earned by the attack's own evidence


def test_target_context_names_the_role_the_group_and_the_weak_factors():
    facts = replace(ACTIVE, admin_roles=(AdminRole("USER_ADMIN", "User Administrator"), SUPER))
    context = target_context(alice(facts), ALICE, weak_factors=True)
    assert [e.label for e in context.evidence] == [
        "target holds Super Administrator (via group Okta Admins) and 1 more admin role(s)",
        "target's only enrolled factors are push: none resists push fatigue",
    ]
    assert [e.points for e in context.evidence] == [25, 10] and context.admin
    assert (
        context.severity(Severity.MEDIUM) is Severity.HIGH and context.severity(Severity.CRITICAL) is Severity.CRITICAL
    )
    strong = replace(ACTIVE, factor_types=frozenset({"push", "webauthn"}))
    assert target_context(alice(strong), ALICE, weak_factors=True).evidence == ()
    assert target_context(alice(facts), "00uother").evidence == ()
    hostile = replace(ACTIVE, admin_roles=(AdminRole("CUSTOM", "x" * 10_000, via_group="g" * 10_000),))
    (item,) = target_context(alice(hostile), ALICE).evidence
    assert len(item.label) < 250 and item.points == 15


# -- identity attacks on an admin --------------------------------------------------------------------------------


def test_push_bombing_of_a_super_admin_with_only_push_is_high_and_says_why():
    bombing = push_bombing(T0, 5, accept=False, spacing=60)
    (plain,) = run([MfaFatigue()], bombing)
    admin = replace(ACTIVE, admin_roles=(SUPER,))
    (found,) = run([MfaFatigue()], bombing, alice(admin))
    assert (plain.severity, found.severity) == (Severity.MEDIUM, Severity.HIGH)
    assert found.confidence == plain.confidence + 35
    assert (plain.assessment.tier, found.assessment.tier) == (Tier.MEDIUM, Tier.HIGH)
    assert "target holds Super Administrator (via group Okta Admins)" in labels(found)
    assert "target's only enrolled factors are push: none resists push fatigue" in labels(found)
    assert found.dedup_key == plain.dedup_key and found.assessment.actions == ()


def test_weak_factors_alone_weigh_against_push_fatigue_without_raising_severity():
    bombing = push_bombing(T0, 5, accept=False, spacing=60)
    (plain,) = run([MfaFatigue()], bombing)
    (found,) = run([MfaFatigue()], bombing, alice(replace(ACTIVE, factor_types=frozenset({"push", "sms"}))))
    assert found.confidence == plain.confidence + 10 and found.severity is plain.severity


def test_accepted_push_of_an_admin_is_critical_but_earns_only_what_the_attack_earned():
    bombing = push_bombing(T0, 6, accept=True)
    plain = {f.detection: f for f in run([MfaFatigue()], bombing)}
    found = {f.detection: f for f in run([MfaFatigue()], bombing, alice(replace(ACTIVE, admin_roles=(SUPER,))))}
    accepted, before = found["mfa_push_accepted"], plain["mfa_push_accepted"]
    assert (before.severity, accepted.severity) == (Severity.HIGH, Severity.CRITICAL)
    assert accepted.assessment.actions == before.assessment.actions


def test_an_unknown_user_or_no_inventory_changes_nothing():
    bombing = push_bombing(T0, 6, accept=True)
    other = MappingDirectory({"00uother": replace(ACTIVE, admin_roles=(SUPER,), status="DEPROVISIONED")})
    detections = build_engine(None, TenantContext("acme")).detections
    assert run(detections, bombing, other) == run(detections, bombing)


def _travel():
    history = [sign_in(T0 - DAY - (11 - i) * 20 * DAY / 12, "nyc") for i in range(12)]
    return [*history, sign_in(T0, "nyc"), sign_in(T0 + HOUR, "london")]


def test_impossible_travel_of_an_admin_is_raised_and_a_sub_threshold_hop_still_is_not_reported():
    (plain,) = run([ImpossibleTravel()], _travel())
    (found,) = run([ImpossibleTravel()], _travel(), alice(replace(ACTIVE, admin_roles=(SUPER,))))
    assert (plain.assessment.tier, found.assessment.tier) == (Tier.MEDIUM, Tier.HIGH)
    assert found.severity is Severity.CRITICAL and found.assessment.actions == ()
    slow = [sign_in(T0, "nyc"), sign_in(T0 + 20 * HOUR, "london")]  # a flight: nothing, admin or not
    assert run([ImpossibleTravel()], slow, alice(replace(ACTIVE, admin_roles=(SUPER,)))) == []


def test_session_hijack_and_success_after_attack_on_an_admin_are_raised():
    admin = alice(replace(ACTIVE, admin_roles=(AdminRole("ORG_ADMIN", "Organization Administrator"),)))
    victim = sign_in(T0, "nyc")
    replay = sign_in(
        T0 + HOUR, "moscow", event_type="user.authentication.sso", ua="curl/8", os="Linux", browser="UNKNOWN"
    )
    (plain,) = run([SessionHijack()], [victim, replay])
    (found,) = run([SessionHijack()], [victim, replay], admin)
    assert found.confidence == min(100, plain.confidence + 25)
    assert "target holds Organization Administrator" in labels(found)
    fails = [failed_sign_in(T0 + i * 120, "alice@acme.com", ip="185.220.101.4", user=ALICE) for i in range(5)]
    ok = sign_in(T0 + 1800, "moscow", ip="185.220.101.4")
    late_fail = fails[-1]  # delivered after the success: the chain is completed by a failure, whose actor may differ
    (plain,) = run([SuccessAfterCredentialAttack()], [*fails[:-1], ok, late_fail])
    (found,) = run([SuccessAfterCredentialAttack()], [*fails[:-1], ok, late_fail], admin)
    assert (plain.severity, found.severity) == (Severity.HIGH, Severity.CRITICAL)
    assert found.principal == ALICE and "target holds Organization Administrator" in labels(found)


# -- sign-ins the directory says should not happen --------------------------------------------------------------


def test_a_deprovisioned_user_signing_in_is_high():
    gone = replace(ACTIVE, status="DEPROVISIONED", status_changed=T0 - 30 * DAY)
    (found,) = run([DirectorySignIn()], [sign_in(T0, "nyc")], alice(gone))
    assert (found.detection, found.severity, found.assessment.tier) == (
        "inactive_user_signin",
        Severity.HIGH,
        Tier.HIGH,
    )
    assert "the directory has the user DEPROVISIONED since 30 day(s)" in labels(found)
    assert found.assessment.actions == () and found.principal == ALICE
    suspended = replace(ACTIVE, status="SUSPENDED", status_changed=None)
    (found,) = run([DirectorySignIn()], [sign_in(T0, "nyc")], alice(suspended))
    assert found.detection == "inactive_user_signin"


def test_a_sign_in_before_the_status_changed_or_a_failed_one_is_not_an_inactive_sign_in():
    later = replace(ACTIVE, status="SUSPENDED", status_changed=T0 + HOUR)
    assert run([DirectorySignIn()], [sign_in(T0, "nyc")], alice(later)) == []
    gone = replace(ACTIVE, status="DEPROVISIONED", status_changed=T0 - DAY)
    assert run([DirectorySignIn()], [failed_sign_in(T0, "alice@acme.com", user=ALICE)], alice(gone)) == []
    assert run([DirectorySignIn()], [sign_in(T0, "nyc")], alice(ACTIVE)) == []


def test_a_dormant_account_signing_in_is_medium_once_a_day_and_the_threshold_is_configurable():
    sleepy = replace(ACTIVE, last_login=T0 - 120 * DAY)
    raws = [sign_in(T0, "nyc"), sign_in(T0 + HOUR, "nyc"), sign_in(T0 + 2 * DAY, "nyc")]
    found = run([DirectorySignIn()], raws, alice(sleepy))
    assert [(f.detection, f.severity, f.assessment.tier) for f in found] == [
        ("dormant_user_signin", Severity.MEDIUM, Tier.MEDIUM)
    ] * 2  # the second sign-in within the day is suppressed
    assert "no sign-in for 120 day(s) before this one, per the directory" in labels(found[0])
    week = replace(ACTIVE, last_login=T0 - 7 * DAY)
    assert run([DirectorySignIn()], raws[:1], alice(week)) == []
    assert run([DirectorySignIn()], raws[:1], alice(replace(ACTIVE, last_login=None))) == []  # never signed in
    short = DirectorySignIn(DirectorySignInConfig(dormant_s=5 * DAY))
    assert [f.detection for f in run([short], raws[:1], alice(week))] == ["dormant_user_signin"]
    admin = replace(sleepy, admin_roles=(SUPER,))
    (raised,) = run([DirectorySignIn()], raws[:1], alice(admin))
    assert raised.severity is Severity.HIGH and raised.assessment.tier is Tier.HIGH


def test_a_replayed_sign_in_is_found_once():
    gone = replace(ACTIVE, status="DEPROVISIONED")
    raw = sign_in(T0, "nyc")
    assert len(run([DirectorySignIn()], [raw, dict(raw)], alice(gone))) == 1


def test_the_engine_reads_what_its_directory_knows_now():
    """One directory object for the engine's life (the daemon's InventoryFacts): a sync changes its answers."""
    known: dict[str, UserFacts] = {}
    engine = Engine([DirectorySignIn()], TenantContext("acme"), directory=MappingDirectory(known))
    states: dict = {}
    assert engine.process(parse_event(sign_in(T0, "nyc"), "acme"), states) == []  # nothing synced yet
    known[ALICE] = replace(ACTIVE, status="DEPROVISIONED")
    (found,) = engine.process(parse_event(sign_in(T0 + 10, "nyc"), "acme"), states)
    assert found.detection == "inactive_user_signin"


# -- a new user made admin ----------------------------------------------------------------------------------------


def _grant(roles: str, t: float = T0):
    targets = [user_target(ALICE, "alice@acme.com")]
    return admin_event("user.account.privilege.grant", t, targets=targets, debug={"privilegeGranted": roles})


def test_a_user_created_hours_before_being_made_admin_is_escalated_by_the_directorys_created_time():
    fresh = alice(replace(ACTIVE, created=T0 - 3 * HOUR))
    (plain,) = run([AdminPrivilegeGranted()], [_grant("Help Desk Administrator")])
    (found,) = run([AdminPrivilegeGranted()], [_grant("Help Desk Administrator")], fresh)
    assert (plain.severity, found.severity) == (Severity.MEDIUM, Severity.HIGH)
    assert "alice@acme.com was created 3.0 h before this grant (per the directory)" in labels(found)
    (top,) = run([AdminPrivilegeGranted()], [_grant("Super administrator")], fresh)
    assert top.severity is Severity.CRITICAL
    old = alice(replace(ACTIVE, created=T0 - 3 * DAY))
    (found,) = run([AdminPrivilegeGranted()], [_grant("Help Desk Administrator")], old)
    assert found.severity is Severity.MEDIUM and labels(found) == labels(plain)
