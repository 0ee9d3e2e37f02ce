from __future__ import annotations

import pytest

from detections.common import OKTA_SUPPORT_RESETS
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.okta_support_access import RESETS, OktaSupportAccess
from detections.testkit import ADMIN_ACTOR, CHROME_MAC, SYSTEM_ACTOR, admin_event, user_target

T0 = 1_700_000_000.0
SUPPORT = {"id": "00uOKTASUPPORT", "type": "User", "alternateId": "support@okta.com", "displayName": "Okta Support"}


def run(raws, states=None):
    engine = Engine([OktaSupportAccess()], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def test_grant_is_medium_and_attributed_to_the_granting_admin():
    (finding,) = run([admin_event("user.session.impersonation.grant", T0)])
    assert finding.severity is Severity.MEDIUM and finding.principal == "00uADMIN"
    assert finding.assessment.actions == () and "T1199" in finding.mitre


def test_impersonation_initiate_is_high_and_names_the_impersonated_user():
    raw = admin_event("user.session.impersonation.initiate", T0, actor=SUPPORT, targets=[user_target()])
    (finding,) = run([raw])
    assert finding.severity is Severity.HIGH and finding.principal == "00u1alice"
    assert "support@okta.com" in finding.summary


def test_end_is_ignored_and_repeat_grants_are_suppressed():
    assert run([admin_event("user.session.impersonation.end", T0)]) == []
    assert len(run([admin_event("user.session.impersonation.grant", T0 + i * 60) for i in range(5)])) == 1


# -- resets by Okta Support (Panther Okta.Support.Reset) ------------------------------------------------------

RESET_TYPES = [
    "user.account.reset_password",
    "user.mfa.factor.update",
    "system.mfa.factor.deactivate",
    "user.mfa.attempt_bypass",
]


def support_reset(
    event_type: str,
    t: float = T0,
    user: str = "00u1alice",
    login: str = "alice@acme.com",
    actor: dict | None = None,
    **kw,
):
    """Okta's back end acting: the system actor, transaction id "unknown", no user agent, no geo."""
    raw = admin_event(event_type, t, actor=actor or SYSTEM_ACTOR, targets=[user_target(user, login)], **kw)
    raw["transaction"] = {"type": "JOB", "id": "unknown", "detail": {}}
    raw["client"] = {"ipAddress": None, "device": "Unknown", "zone": "null", "userAgent": None}
    return raw


def test_every_support_reset_type_has_a_title():
    assert set(RESETS) == OKTA_SUPPORT_RESETS == set(RESET_TYPES)


@pytest.mark.parametrize("event_type", RESET_TYPES)
def test_okta_support_reset_is_high_and_names_the_user(event_type):
    (finding,) = run([support_reset(event_type)])
    assert finding.severity is Severity.HIGH and finding.assessment.actions == ()
    assert finding.principal == "00u1alice" and "alice@acme.com" in finding.summary
    assert "system@okta.com" in finding.summary and "T1199" in finding.mitre


@pytest.mark.parametrize("event_type", RESET_TYPES)
def test_resets_that_are_not_okta_support_are_ignored(event_type):
    by_admin = support_reset(event_type, actor=ADMIN_ACTOR)
    with_ua = support_reset(event_type)
    with_ua["client"]["userAgent"] = {"rawUserAgent": CHROME_MAC, "os": "Mac OS X", "browser": "CHROME"}
    with_geo = support_reset(event_type)
    with_geo["client"]["geographicalContext"] = {"city": "Springfield", "country": "United States"}
    with_request = support_reset(event_type)
    with_request["transaction"]["id"] = "Yx8abcWEBREQUEST"
    failed = support_reset(event_type, result="FAILURE")
    for raw in (by_admin, with_ua, with_geo, with_request, failed):
        assert run([raw]) == []


@pytest.mark.parametrize("event_type", RESET_TYPES)
def test_support_resets_alert_per_user_and_replays_do_not(event_type):
    states: dict = {}
    raws = [support_reset(event_type, T0 + i, user=f"00u{i}", login=f"u{i}@acme.com") for i in range(3)]
    assert len(run(raws, states)) == 3  # one system actor, three users: three findings
    assert run(raws, states) == []  # replay
    assert run([support_reset(event_type, T0 + 60, user="00u0")], states) == []  # same user inside 15 min
    assert len(run([support_reset(event_type, T0 + 1000, user="00u0")], states)) == 1


@pytest.mark.parametrize("event_type", RESET_TYPES)
def test_support_reset_shaped_own_enforcement_is_ignored(event_type):
    context = TenantContext("acme", own_api_token_ids=frozenset({"00TITDR"}))
    raw = support_reset(event_type)
    raw["transaction"]["detail"] = {"requestApiTokenId": "00TITDR"}
    engine = Engine([OktaSupportAccess()], context)
    assert engine.process(parse_event(raw, "acme"), {}) == []
    own_client = TenantContext("acme", own_client_ids=frozenset({SYSTEM_ACTOR["id"]}))
    assert Engine([OktaSupportAccess()], own_client).process(parse_event(support_reset(event_type), "acme"), {}) == []


def test_org_wide_support_deactivation_names_the_authenticator():
    raw = support_reset("system.mfa.factor.deactivate")
    raw["target"] = [{"id": "aut1", "type": "Authenticator", "alternateId": "unknown", "displayName": "Okta Verify"}]
    (finding,) = run([raw])
    assert "Okta Verify" in finding.summary and finding.principal == SYSTEM_ACTOR["id"]
