"""The response policy: today's configs keep their meaning, rules per detection × tier, and the config
refuses unsafe or unknown values with the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from detector.config import ConfigError, parse_config
from detector.respond.policy import NOT_EARNED, Mode, Planned, ResponseAction
from detector.tenants import policy_of

A = ResponseAction


def config(response: dict[str, Any] | None = None, **top: Any) -> Any:
    tenant = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    return parse_config({"tenants": [{**tenant, "response": response or {}}], **top})


def plan(response: dict[str, Any], detection: str, tier: str, earned: list[str]) -> list[Planned]:
    policy = policy_of(config(response).tenants[0]).response
    return policy.plan({"detection": detection, "tier": tier, "actions": earned})


def test_without_rules_the_earned_actions_the_tenant_allows_run_as_before_but_suspend_asks():
    assert plan({}, "mfa_push_accepted", "high-confidence", ["clear_sessions", "expire_password"]) == [
        Planned(A.CLEAR_SESSIONS, Mode.AUTO)
    ]
    legacy = {"actions": ["clear_sessions", "expire_password", "suspend"], "allow_suspend": True}
    assert plan(legacy, "x", "high-confidence", ["suspend", "expire_password", "clear_sessions"]) == [
        Planned(A.CLEAR_SESSIONS, Mode.AUTO),
        Planned(A.EXPIRE_PASSWORD, Mode.AUTO),
        Planned(A.SUSPEND, Mode.APPROVE),  # never automatic any more
    ]
    assert plan({"modes": {"clear_sessions": "off"}}, "x", "high", ["clear_sessions"]) == []
    assert plan({}, "x", "medium", []) == []


def test_rules_by_detection_and_tier_and_what_was_not_earned_asks():
    response = {
        "allow_suspend": True,
        "quarantine_group": "00g1quarantine",
        "policy": {
            "mfa_push_accepted": {"high-confidence": {"quarantine": "auto", "suspend": "approve"}, "*": {}},
            "*": {"high": {"clear_sessions": "auto", "reset_factors": "shadow"}},
        },
    }
    assert plan(response, "mfa_push_accepted", "high-confidence", ["clear_sessions"]) == [
        Planned(A.SUSPEND, Mode.APPROVE),
        Planned(A.QUARANTINE, Mode.AUTO),  # earned where clear_sessions is
    ]
    assert plan(response, "mfa_push_accepted", "high", ["clear_sessions"]) == []  # its "*" rule: nothing
    assert plan(response, "password_spray", "high", []) == [
        Planned(A.CLEAR_SESSIONS, Mode.APPROVE, NOT_EARNED),
        Planned(A.RESET_FACTORS, Mode.SHADOW),
    ]
    assert plan(response, "password_spray", "medium", ["clear_sessions"]) == [Planned(A.CLEAR_SESSIONS, Mode.AUTO)]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"modes": {"suspend": "auto"}, "allow_suspend": True}, "modes.suspend: suspend is never automatic"),
        ({"policy": {"*": {"*": {"suspend": "approve"}}}}, "policy.*.*.suspend: suspend needs allow_suspend: true"),
        (
            {"policy": {"*": {"high": {"quarantine": "auto"}}}},
            "policy.*.high.quarantine: quarantine needs quarantine_group",
        ),
        ({"actions": ["quarantine"]}, "actions: quarantine needs quarantine_group"),
        ({"policy": {"mfa_bombing": {}}}, "response.policy: unknown detection(s) mfa_bombing; known: *, admin_"),
        ({"policy": {"*": {"severe": {}}}}, "response.policy.*.severe"),
        ({"modes": {"clear_sessions": "sometimes"}}, "response.modes.clear_sessions"),
        ({"modes": {"lock": "auto"}}, "response.modes.lock"),
        ({"stale_after_s": 0}, "response.stale_after_s: Input should be greater than 0"),
        ({"approval_ttl_s": 10.0}, "response.approval_ttl_s: Input should be greater than or equal to 60"),
        ({"approval_ttl_s": True}, "response.approval_ttl_s"),
        ({"undo_ttl_s": 90 * 86_400.0}, "response.undo_ttl_s: Input should be less than or equal to 2592000"),
        ({"quarantine_group": "00g/../users"}, "response.quarantine_group: String should match pattern"),
    ],
)
def test_the_config_refuses_bad_response_settings_with_field_and_reason(response, expected):
    with pytest.raises(ConfigError) as refused:
        config(response)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://itdr.acme.com/soc/", "https://itdr.acme.com/soc"),
        ("http://127.0.0.1:9108", "http://127.0.0.1:9108"),
        ("http://itdr.acme.com", "must be an https:// URL"),
        ("https://user:pw@itdr.acme.com", "must be a plain URL: no user name"),
        ("https://itdr.acme.com/?a=1", "must be a base URL with a host and no query or fragment"),
        ("https://", "must be a base URL with a host"),
    ],
)
def test_public_url(url: str, expected: str):
    try:
        assert config(http={"public_url": url}).http.public_url == expected
    except ConfigError as exc:
        assert f"http.public_url: {expected}" in str(exc)


def test_approval_secrets_are_references_only():
    with pytest.raises(ConfigError, match=r"approvals\.slack_signing_secret: secrets are never written inline"):
        config(approvals={"slack_signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"})


def test_check_config_refuses_a_link_key_too_short_to_sign_with(tmp_path, monkeypatch, capsys):
    from detector.cli import main

    monkeypatch.setenv("T", "00token")
    monkeypatch.setenv("ITDR_LINK_KEY", "short")
    tenant = "  - {name: acme, org_url: 'https://acme.okta.com', read: {kind: ssws, token: {env: T}}}\n"
    path = tmp_path / "itdr.yaml"
    path.write_text(f"data_dir: {tmp_path}\napprovals: {{link_key: {{env: ITDR_LINK_KEY}}}}\ntenants:\n{tenant}")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "approvals.link_key: the key needs at least 16 bytes" in err and "short" not in err
