"""Panther's public Okta rule tests, run through our engine: each case agrees, or says why it does not.

Why: Panther's fixtures are hand-written but realistic events with an expected verdict, in Panther's
normalised shape (lower-cased keys, space-separated timestamps). Running them through parse_event and
our counterpart detection catches parser gaps and regressions that our own wire-shaped tests cannot.

Panther's rules judge one event; many of ours need a sequence or a threshold (docs/detections.md),
or deliberately ignore what Panther alerts on. Every such case is listed in DISAGREEMENTS with
the reason and, where one exists, the smallest change that does make ours fire (more events, a
mocked earlier sighting, the missing field): that proves the disagreement is our design, not our
detection ignoring the event. The test fails on any unexplained disagreement and on any stale entry.

To add a counterpart: put ``"Panther.Rule.Id": "our_detection"`` in RULES and drop the rule from
UNMAPPED; run ``.venv/bin/python -m detections.panther_conformance_test`` for the table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, parse_event, parse_time
from detections.registry import build_detections
from detections.testkit import panther_fixture
from tests.conftest import DATA

TENANT = "acme"

# Panther rule id → our detection that answers the same question.
RULES: dict[str, str] = {
    "Okta.AdminRoleAssigned": "admin_privilege_granted",
    "Okta.Group.Admin.Role.Assigned": "admin_privilege_granted",
    "Okta.APIKeyCreated": "api_token_created",
    "Okta.Identity.Provider.Created.Modified": "tenant_tampering",
    "Okta.Org2org.Creation.Modification": "tenant_tampering",
    "Okta.Global.MFA.Disabled": "tenant_tampering",
    "Okta.Support.Access": "okta_support_access",
    # Panther's code reads a top-level ``userAgent.rawUserAgent`` (never present in a LogEvent), so its "no user
    # agent" clause is always true; ours reads ``client.userAgent.rawUserAgent``. Both fixtures agree either way.
    "Okta.Support.Reset": "okta_support_access",
    "Okta.User.Reported.Suspicious.Activity": "user_reported_suspicious",
    "Okta.ThreatInsight.Security.Threat.Detected": "okta_threat_signals",
    "Okta.Anonymizing.VPN.Login": "anonymizer_signin",
    "Okta.PotentiallyStolenSession": "session_hijack",
    "Standard.ImpossibleTravel.Login": "impossible_travel",
    "Okta.GeographicallyImprobableAccess": "impossible_travel",
    "Standard.BruteForceByIP": "password_spray",
    "Standard.BruteForceByUser": "brute_force",
    "Okta.BruteForceLogins": "brute_force",
    "Okta.User.Account.Locked": "brute_force",
    "Okta.Phishing.Attempt.Blocked.FastPass": "fastpass_phishing",
}

# Panther rules with no counterpart (yet): one line each on why.
UNMAPPED: dict[str, str] = {
    "Okta.New.Behavior.Accessing.Admin.Console": "gap: no admin-console behaviors detection; Okta behaviors only boost "
    "impossible_travel / anonymizer_signin",
    "Okta.User.MFA.Reset.All": "by design: a reset alone is routine help-desk work; mfa_reset_takeover fires "
    "on reset → new enrolment → sign-in from a new device/network",
    "Okta.User.MFA.Reset.Single": "by design: as Okta.User.MFA.Reset.All",
    "Okta.User.MFA.Factor.Suspend": "by design: as Okta.User.MFA.Reset.All",
    "Standard.MFADisabled": "by design: as Okta.User.MFA.Reset.All",
    "Okta.ServiceApp.MFA.Factor.Deactivate": "by design: as Okta.User.MFA.Reset.All (service-app actor)",
    "Okta.PasswordAccess": "out of scope for v1: credential exposure inside Okta (SWA show_password)",
    "Okta.Password.Extraction.via.SCIM": "out of scope for v1: credential exposure (SCIM password push)",
    "Okta.Refresh.Access.Token.Reuse": "out of scope for v1: refresh-token reuse",
    "Okta.ServiceApp.DangerousScope.TokenGrant": "out of scope: reverted by Panther itself (2026-06)",
    "Okta.Identity.Provider.SignIn": "out of scope: every third-party IdP sign-in (Panther ships it disabled)",
    "Okta.APIKeyRevoked": "out of scope: revoking a token removes access; api_token_created watches creation",
    "Okta.App.Unauthorized.Access.Attempt": "out of scope: a denied app access is Okta's policy working",
    "Okta.Rate.Limits": "out of scope: tenant operations, not identity threat",
    "Okta.Login.Success": "not a detection: Panther's sign-in signal for correlation rules",
    "Okta.Login.Without.Push.Marker": "not a detection: marker for Panther's disabled Push Security correlation",
    "Okta.SSO.to.AWS": "not a detection: Panther's SSO signal for correlation rules",
    "Standard.SignInFromRogueState": "out of scope for v1: a per-org country deny-list",
    "Standard.UnusualLogin": "deprecated by Panther; new country/ASN is a booster in impossible_travel",
    "Standard.GreyNoiseV3.MaliciousIP": "out of scope: third-party IP reputation enrichment (fixture is not "
    "a LogEvent)",
    "Standard.OTX.MaliciousIndicator": "out of scope: third-party IP reputation enrichment (fixture is not a LogEvent)",
}


@dataclass(frozen=True)
class Case:
    index: int
    rule: str
    test: str
    expect_alert: bool
    event: dict[str, Any]  # the fixture with placeholder uuid/published where Panther left them out
    mocks: tuple[dict[str, Any], ...]


Trigger = Callable[[Case], list[dict[str, Any]]]


@dataclass(frozen=True)
class Why:
    """A documented disagreement. ``trigger`` (when a faithful one exists) builds the events that make ours
    fire: it shows what Panther's single event lacks for our design."""

    reason: str
    trigger: Trigger | None = None


_counter = itertools.count()


def _at(event: dict[str, Any], seconds: float) -> str:
    t = parse_time(event["published"]) + seconds
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def repeated(n: int, *, distinct_users: bool = False) -> Trigger:
    """The case's event ``n`` times, 10 s apart, each its own attempt (uuid, transaction), optionally each
    for another user."""

    def build(case: Case) -> list[dict[str, Any]]:
        out = []
        for k in range(n):
            event = orjson.loads(orjson.dumps(case.event))
            event.update(uuid=f"{event['uuid']}-r{k}", published=_at(case.event, 10.0 * k))
            event["transaction"] = {"type": "WEB", "id": f"tx-{next(_counter)}", "detail": {}}
            if distinct_users:
                event["actor"] = {**event["actor"], "id": f"00urepeat{k}", "alternateId": f"user{k}@example.com"}
            out.append(event)
        return out

    return build


def succeeded(behaviors: str | None = None) -> Trigger:
    """The same event with outcome SUCCESS (and Okta behaviors when given)."""

    def build(case: Case) -> list[dict[str, Any]]:
        event = orjson.loads(orjson.dumps(case.event))
        event["outcome"] = {"result": "SUCCESS", "reason": None}
        if behaviors is not None:
            key = "debugContext" if "debugContext" in event else "debugcontext"
            event.setdefault(key, {}).setdefault("debugData", {})["behaviors"] = behaviors
        return [event]

    return build


def after_mocked_session_sighting(case: Case) -> list[dict[str, Any]]:
    """Panther's mocked session cache ([ASN, IP, "user_agent:<UA>", browser, OS]) as the earlier event of the
    same session, one minute before the case's event."""
    (mock,) = (m for m in case.mocks if m.get("objectName") == "get_string_set")
    asn, ip, ua, browser, os = orjson.loads(mock["returnValue"])
    prior = orjson.loads(orjson.dumps(case.event))
    prior.update(uuid=f"{prior['uuid']}-prior", published=_at(case.event, -60.0))
    prior["client"] = {
        **prior["client"],
        "ipAddress": ip,
        "userAgent": {"rawUserAgent": ua.removeprefix("user_agent:"), "browser": browser, "os": os},
    }
    prior["securityContext"] = {**prior["securityContext"], "asNumber": int(asn)}
    return [prior, case.event]


_TRAVEL = (
    "ours compares two successful sign-ins of the user; Panther mocks the earlier location from its cache, "
    "and the fixture's location is Panther's ipinfo enrichment (p_enrichment), which we do not read: the "
    "event has no Okta client.geographicalContext, so ours cannot place it (geo missing: not evaluated)"
)
_PROXY = (
    "ours needs a SUCCESSFUL sign-in through the anonymizer with Okta New Device / New Geo-Location POSITIVE "
    "(a proxy alone is a standing false positive); Panther alerts on any "
    "user.session.start with isProxy, and this one FAILED and carries no behaviors"
)
_THRESHOLD = "ours needs {n} within {window} ({design}); one event cannot reach it"

DISAGREEMENTS: dict[tuple[str, str], Why] = {
    ("Standard.ImpossibleTravel.Login", "Okta sign-in with history and impossible travel"): Why(_TRAVEL),
    ("Standard.ImpossibleTravel.Login", "Okta sign-in with history and impossible travel, Apple Private Relay"): Why(
        _TRAVEL + "; a relay sign-in is also never a trusted baseline and is dampened (Panther: INFO)"
    ),
    ("Standard.ImpossibleTravel.Login", "Okta sign-in with history and impossible travel, VPN with service"): Why(
        _TRAVEL + "; a VPN sign-in is also dampened (Panther: INFO)"
    ),
    ("Standard.ImpossibleTravel.Login", "Okta sign-in with history and impossible travel, VPN with no service"): Why(
        _TRAVEL + "; a VPN sign-in is also dampened"
    ),
    ("Standard.ImpossibleTravel.Login", "Okta sign-in with history and impossible travel, no VPN, Intelsat ASN"): Why(
        _TRAVEL + "; the in-flight satellite ASN is also dampened (Panther: INFO)"
    ),
    ("Standard.ImpossibleTravel.Login", "Short Distances and Short Timedeltas"): Why(
        _TRAVEL + "; and Los Angeles → Anaheim (~40 km) is below our 500 km floor (GeoIP jitter; Panther: LOW)"
    ),
    ("Okta.PotentiallyStolenSession", "Different device & ASN"): Why(
        "ours compares two sightings of one session; Panther mocks the first from its session cache",
        after_mocked_session_sighting,
    ),
    ("Okta.Anonymizing.VPN.Login", "Anonymizing Proxy Used"): Why(
        _PROXY, succeeded("{New Geo-Location=POSITIVE, New Device=POSITIVE}")
    ),
    ("Okta.Anonymizing.VPN.Login", "Apple Private Relay Used"): Why(
        _PROXY + " (Panther itself drops Apple Private Relay to INFO)",
        succeeded("{New Geo-Location=POSITIVE, New Device=POSITIVE}"),
    ),
    ("Okta.Group.Admin.Role.Assigned", "Group Privilege Grant"): Why(
        "the fixture's grant FAILED (outcome FAILURE): nothing was granted, and ours skips failed configuration "
        "changes; Panther's rule does not read the outcome",
        succeeded(),
    ),
    ("Standard.BruteForceByIP", "Okta - Failed Login"): Why(
        _THRESHOLD.format(n="≥ 10 users and ≥ 10 failures from one IP", window="1 h", design="spray breadth")
        + "; Panther mocks its counter",
        repeated(10, distinct_users=True),
    ),
    ("Standard.BruteForceByUser", "Okta - Failed Login"): Why(
        _THRESHOLD.format(n="≥ 10 failures for the user", window="30 min", design="brute_force")
        + "; Panther mocks its counter",
        repeated(10),
    ),
    ("Okta.BruteForceLogins", "Failed Login Alert"): Why(
        _THRESHOLD.format(n="≥ 10 failures for the user", window="30 min", design="brute_force")
        + "; Panther's deleted rule thresholded in its YAML, which a rule test does not exercise",
        repeated(10),
    ),
    ("Okta.User.Account.Locked", "Account Lock Event"): Why(
        _THRESHOLD.format(n="≥ 3 lockouts of the account", window="3 h", design="brute_force, after Elastic")
        + "; one lockout is Okta's lockout working",
        repeated(3),
    ),
}

# Fixtures that are not LogEvents at all (no eventType): parse_event rightly dead-letters them.
NOT_LOG_EVENTS = frozenset({"Standard.GreyNoiseV3.MaliciousIP", "Standard.OTX.MaliciousIndicator"})


def load_cases() -> list[Case]:
    path = DATA / "okta-samples" / "panther_okta_rule_tests.jsonl"
    assert path.is_file(), f"Panther rule tests missing: {path}"  # fail, never skip
    rows = [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        Case(
            i,
            row["rule_id"],
            row["test_name"],
            bool(row["expect_alert"]),
            panther_fixture(row["event"], i),
            tuple(row.get("mocks") or ()),
        )
        for i, row in enumerate(rows)
    ]


def ours_fires(detection: str, raws: list[dict[str, Any]]) -> bool:
    """Fresh engine and state: does ``detection`` produce a finding over these events?"""
    engine = Engine(build_detections(), TenantContext(TENANT))
    states: dict[str, Any] = {}
    return any(engine.process(parse_event(raw, TENANT), states, only={detection}) for raw in raws)


@dataclass(frozen=True)
class Result:
    case: Case
    ours: str
    fired: bool

    @property
    def agrees(self) -> bool:
        return self.fired == self.case.expect_alert

    @property
    def key(self) -> tuple[str, str]:
        return (self.case.rule, self.case.test)


def results(cases: list[Case]) -> list[Result]:
    return [Result(c, RULES[c.rule], ours_fires(RULES[c.rule], [c.event])) for c in cases if c.rule in RULES]


def agreement_table(rows: list[Result]) -> str:
    """Markdown: per mapped rule, cases / agree / documented disagreements; then the unmapped rules."""
    lines = [
        "| Panther rule | our detection | cases | agree | documented disagreements |",
        "|---|---|---:|---:|---:|",
    ]
    for rule in sorted({r.case.rule for r in rows}, key=lambda x: (RULES[x], x)):
        mine = [r for r in rows if r.case.rule == rule]
        agree = sum(r.agrees for r in mine)
        documented = sum(not r.agrees and r.key in DISAGREEMENTS for r in mine)
        lines.append(f"| {rule} | {RULES[rule]} | {len(mine)} | {agree} | {documented} |")
    agree = sum(r.agrees for r in rows)
    documented = sum(not r.agrees and r.key in DISAGREEMENTS for r in rows)
    lines.append(f"| **total** | | {len(rows)} | {agree} | {documented} |")
    lines += ["", "Unmapped Panther rules:", ""]
    lines += [f"* {rule}: {why}" for rule, why in sorted(UNMAPPED.items())]
    return "\n".join(lines)


# -- tests -----------------------------------------------------------------------------------------------------


def test_every_panther_event_parses():
    for case in load_cases():
        if case.rule in NOT_LOG_EVENTS:
            with pytest.raises(MalformedEvent, match="missing eventType"):
                parse_event(case.event, TENANT)
            continue
        parse_event(case.event, TENANT)  # raises on any defect


def test_tables_cover_every_panther_rule_exactly_once():
    cases = load_cases()
    rules = {c.rule for c in cases}
    assert not set(RULES) & set(UNMAPPED), "a rule is both mapped and unmapped"
    assert rules == set(RULES) | set(UNMAPPED), f"unlisted: {rules - set(RULES) - set(UNMAPPED)}; " + (
        f"not in the file: {(set(RULES) | set(UNMAPPED)) - rules}"
    )
    ours = {d.id for d in build_detections()}
    assert set(RULES.values()) <= ours, f"no such detection: {set(RULES.values()) - ours}"
    keys = {(c.rule, c.test) for c in cases}
    assert set(DISAGREEMENTS) <= keys, f"no such Panther case: {set(DISAGREEMENTS) - keys}"
    assert all(rule in RULES for rule, _ in DISAGREEMENTS), "a disagreement for an unmapped rule"
    assert NOT_LOG_EVENTS.issubset(UNMAPPED), "a non-LogEvent fixture for a mapped rule"


def test_panther_cases_agree_or_disagree_as_documented():
    rows = results(load_cases())
    print("\n" + agreement_table(rows))
    unexplained = [
        f"{r.case.rule} / {r.case.test}: Panther {'alerts' if r.case.expect_alert else 'silent'}, "
        f"{r.ours} {'fired' if r.fired else 'silent'}"
        for r in rows
        if not r.agrees and r.key not in DISAGREEMENTS
    ]
    stale = [f"{r.case.rule} / {r.case.test}" for r in rows if r.agrees and r.key in DISAGREEMENTS]
    assert not unexplained, "new disagreement with Panther (a regression, or document why):\n" + "\n".join(unexplained)
    assert not stale, "documented disagreement now agrees (drop it from DISAGREEMENTS):\n" + "\n".join(stale)
    assert len(rows) >= 30


@pytest.mark.parametrize("key", [k for k, why in DISAGREEMENTS.items() if why.trigger], ids=" / ".join)
def test_documented_disagreement_is_design_not_blindness(key: tuple[str, str]):
    """What Panther's single event lacks, supplied, makes ours fire: the event shape itself is understood."""
    (case,) = (c for c in load_cases() if (c.rule, c.test) == key)
    trigger = DISAGREEMENTS[key].trigger
    assert trigger is not None
    assert ours_fires(RULES[case.rule], trigger(case)), DISAGREEMENTS[key].reason


def test_stolen_session_agrees_on_every_case_given_panther_mocked_sighting():
    """With Panther's mocked session cache replayed as the earlier event, the verdicts agree, both ways."""
    cases = [c for c in load_cases() if c.rule == "Okta.PotentiallyStolenSession"]
    assert len(cases) == 4
    for case in cases:
        assert ours_fires("session_hijack", after_mocked_session_sighting(case)) == case.expect_alert, case.test


if __name__ == "__main__":
    print(agreement_table(results(load_cases())))
