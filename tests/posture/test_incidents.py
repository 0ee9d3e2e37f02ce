"""Posture findings in incidents: one incident per failing check, kept open across syncs hours apart and never
resolved for being quiet, resolved by the check's resolved finding; inventory changes join the user's incident."""

from __future__ import annotations

import orjson

from detector.config import PostureSettings
from detector.inventory.model import Factor
from detector.inventory.posture import evaluate
from detector.respond.incidents import IncidentBook, incident_key
from tests.posture.healthy import NOW, healthy

SIX_HOURS = 6 * 3600
SETTINGS = PostureSettings()


def run(results, inv, at):
    results, findings = evaluate(orjson.loads(orjson.dumps(results)), inv, SETTINGS, at)
    return results, [f.to_dict() for f in findings]


def test_a_failing_check_is_one_incident_until_it_passes_again():
    book = IncidentBook()
    inv = healthy()
    inv.remove("factor", "fac-00uBOB")
    inv.put(Factor("pw", "00uBOB", "password", "OKTA"))
    results, findings = run({}, inv, NOW)
    admin = next(f for f in findings if f["detection"] == "posture_admin_without_mfa")
    opened = book.apply(admin)
    assert opened is not None and opened.entity == "posture:admin_without_mfa" and opened.is_open
    # two days without a change: the check still fails, so the incident is not resolved as quiet
    assert book.expire(NOW + 2 * 86_400) == []
    # a revision a day later (another admin without MFA) joins the same incident
    inv.remove("factor", "fac-00uADA")
    results, findings = run(results, inv, NOW + 86_400)
    revised = book.apply(next(f for f in findings if f["detection"] == "posture_admin_without_mfa"))
    assert revised is opened and revised.version == 2 and revised.is_open
    # both enrol: the resolved finding resolves the incident
    inv.put(Factor("fac-00uBOB", "00uBOB", "webauthn", "FIDO"))
    inv.put(Factor("fac-00uADA", "00uADA", "webauthn", "FIDO"))
    results, findings = run(results, inv, NOW + 86_400 + SIX_HOURS)
    done = book.apply(next(f for f in findings if f["detection"] == "posture_admin_without_mfa"))
    assert done is opened and not done.is_open
    view = done.to_dict()
    assert view["status"] == "resolved" and view["resolution"]["by"] == "resolved"
    assert [f["revision"] for f in view["findings"]] == [2] and view["findings"][0]["status"] == "resolved"
    # failing again: a new incident with a new key
    inv.remove("factor", "fac-00uBOB")
    _, findings = run(results, inv, NOW + 3 * 86_400)
    again = book.apply(next(f for f in findings if f["detection"] == "posture_admin_without_mfa"))
    assert again is not None and again.is_open and again.key != opened.key


def test_a_resolved_finding_without_an_open_incident_opens_none():
    book = IncidentBook()
    inv = healthy()
    inv.remove("factor", "fac-00uCAT")
    results, findings = run({}, inv, NOW)
    incident = book.apply(findings[0])
    book.resolve(incident, "operator:ann", NOW + 60)
    inv.put(Factor("fac-00uCAT", "00uCAT", "webauthn", "FIDO"))
    _, resolved = run(results, inv, NOW + SIX_HOURS)
    assert resolved[0]["status"] == "resolved" and book.apply(resolved[0]) is None


def test_an_incident_opened_by_a_later_revision_has_its_own_key():
    """Before, a revision that opened a new incident (the first one resolved as quiet) got the first's key."""
    book = IncidentBook()
    base = {
        "detection": "mfa_push_bombing", "title": "t", "tenant": "acme", "principal": "00u1", "principal_login": "a",
        "entity": "user:00u1", "tier": "medium", "dedup_key": "acme:mfa_push_bombing:00u1:x", "summary": "s",
        "evidence": [], "actions": [], "where": {},
    }  # fmt: skip
    one = book.apply({**base, "revision": 0, "time": "2026-01-01T00:00:00Z"})
    book.expire(one.last + 7 * 3600)
    two = book.apply({**base, "revision": 1, "time": "2026-01-01T08:00:00Z"})
    assert two is not None and two.key != one.key
    assert one.key == incident_key("acme", "user:00u1", base["dedup_key"])  # a first revision's key is as it was


def test_hostile_record_names_reach_slack_and_teams_escaped():
    from detector.inventory.model import ApiToken, App
    from detector.respond.channels import slack_blocks, teams

    inv = healthy()
    inv.put(App("0oaADMIN", "saasure", "<!channel> *Admin* [x](https://evil.example)\x1b[2J", "ACTIVE", "OIDC"))
    policy = inv.of("policy")["rstADMIN"]
    inv.put(type(policy)(policy.id, policy.type, policy.name, policy.status, settings={
        "admin_console": True, "admin_console_phishing_resistant": False}))  # fmt: skip
    inv.put(ApiToken("00Tx", "<@U123> tok\u202en", "00uBOB", created=NOW - 1, network="ANYWHERE"))
    book = IncidentBook()
    shown: dict[str, tuple[str, str]] = {}
    for f in run({}, inv, NOW)[1]:
        incident = book.apply(f).to_dict()
        shown[f["detection"]] = (
            orjson.dumps(slack_blocks.message(incident)).decode(),
            orjson.dumps(teams.card(incident)).decode(),
        )
    for slack, card in shown.values():
        for out in (slack, card):
            assert "\\u001b" not in out and "\u202e" not in out  # no raw ESC (JSON-escaped) nor bidi override
    slack, card = shown["posture_admin_console_not_phishing_resistant"]
    assert "&lt;!channel&gt;" in slack and "<!channel>" not in slack and "\\\\x1b[2J" in slack
    assert "\\\\]\\\\(https://evil.example\\\\)" in card  # a TextBlock: no link
    slack, _ = shown["posture_api_token_unrestricted"]
    assert "&lt;@U123&gt;" in slack and "<@U123>" not in slack and "tok\\\\u202en" in slack
