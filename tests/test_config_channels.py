"""The channels of a tenant: each kind's fields, secrets (URLs and tokens) only by reference and never echoed,
routing by tier and by detection."""

from __future__ import annotations

import base64
import os
import textwrap
from pathlib import Path

import pytest

from detector.config import ConfigError, load_config, parse_config, secret_values

HOOK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
SIGNING = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def tenant(*channels):
    return {
        "name": "acme",
        "org_url": "https://acme.okta.com",
        "read": {"kind": "ssws", "token": {"env": "ITDR_T_READ"}},
        "channels": list(channels),
    }


def error_of(*channels) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"tenants": [tenant(*channels)]})
    return str(info.value)


def secret_error(*channels) -> str:
    with pytest.raises(ConfigError) as info:
        secret_values(parse_config({"tenants": [tenant(*channels)]}))
    return str(info.value)


@pytest.fixture(autouse=True)
def env(monkeypatch):
    for name, value in {
        "ITDR_T_READ": "00read",
        "ITDR_T_HOOK": HOOK_URL,
        "ITDR_T_BOT": "xoxb-1-2-3",
        "ITDR_T_PD": "R" * 32,
        "ITDR_T_PD_CRIT": "C" * 32,
        "ITDR_T_SIGNING": SIGNING,
    }.items():
        monkeypatch.setenv(name, value)


def test_the_readme_example_parses_and_its_secrets_reach_the_redactor(tmp_path: Path):
    path = tmp_path / "itdr.yaml"
    path.write_text(
        textwrap.dedent(
            """
            tenants:
              - name: acme
                org_url: https://acme.okta.com
                read: {kind: ssws, token: {env: ITDR_T_READ}}
                channels:
                  - {kind: slack_bot, name: soc, token: {env: ITDR_T_BOT}, channel: C0123SOC}
                  - {kind: slack_webhook, name: soc-feed, url: {env: ITDR_T_HOOK}, min_tier: high}
                  - {kind: teams, name: soc-teams, url: {env: ITDR_T_HOOK}, exclude_detections: [api_token_created]}
                  - kind: pagerduty
                    name: oncall
                    min_tier: high
                    routing_keys: {default: {env: ITDR_T_PD}, high-confidence: {env: ITDR_T_PD_CRIT}}
                  - {kind: webhook, name: soar, url: {env: ITDR_T_HOOK}, secret: {env: ITDR_T_SIGNING}}
            """
        )
    )
    config = load_config(path)
    kinds = [(c.kind, c.name, c.min_tier.value) for c in config.tenants[0].channels]
    assert kinds == [
        ("slack_bot", "soc", "medium"),
        ("slack_webhook", "soc-feed", "high"),
        ("teams", "soc-teams", "medium"),
        ("pagerduty", "oncall", "high"),
        ("webhook", "soar", "medium"),
    ]
    values = secret_values(config)
    assert {HOOK_URL, "xoxb-1-2-3", "R" * 32, "C" * 32, SIGNING} <= set(values)
    assert config.tenants[0].channels[0].base_url == "https://slack.com/api/"
    assert config.tenants[0].channels[3].base_url == "https://events.pagerduty.com"


def test_a_detection_id_excludes_all_its_findings():
    config = parse_config(
        {
            "tenants": [
                tenant(
                    {
                        "kind": "webhook",
                        "name": "soar",
                        "url": {"env": "ITDR_T_HOOK"},
                        "secret": {"env": "ITDR_T_SIGNING"},
                        "exclude_detections": ["mfa_fatigue", "password_spray"],
                    }
                )
            ]
        }
    )
    excluded = config.tenants[0].channels[0].excluded_findings
    assert excluded == {"mfa_push_bombing", "mfa_push_accepted", "password_spray"}


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ({"kind": "slack_webhook", "name": "s", "url": HOOK_URL}, "channels[0].url: secrets are never written inline"),
        ({"kind": "slack_bot", "name": "s", "token": "xoxb-1", "channel": "C1"}, "channels[0].token: secrets are"),
        (
            {"kind": "pagerduty", "name": "p", "routing_keys": {"default": "R" * 32}},
            "channels[0].routing_keys.default: secrets are never written inline",
        ),
        (
            {"kind": "pagerduty", "name": "p", "routing_keys": {"high": {"env": "X"}}},
            "channels[0].routing_keys: give a `default` routing key",
        ),
        (
            {"kind": "pagerduty", "name": "p", "routing_keys": {"default": {"env": "X"}, "critical": {"env": "X"}}},
            "channels[0].routing_keys.critical",
        ),
        ({"kind": "sms", "name": "s"}, "channels[0]: 'kind' must be one of 'slack_webhook', 'slack_bot', 'teams'"),
        ({"name": "s"}, "channels[0]: 'kind' is missing: one of 'pagerduty', 'slack_bot', 'slack_webhook'"),
        ({"kind": "teams", "name": "Soc Teams", "url": {"env": "X"}}, "channels[0].name: String should match"),
        ({"kind": "teams", "name": "t", "url": {"env": "X"}, "min_tier": "urgent"}, "channels[0].min_tier: Input"),
        (
            {"kind": "teams", "name": "t", "url": {"env": "X"}, "exclude_detections": ["mfa_fatigu"]},
            "channels[0].exclude_detections: unknown detection(s) mfa_fatigu; known: admin_privilege_granted",
        ),
        (
            {"kind": "slack_bot", "name": "b", "token": {"env": "X"}, "channel": "C1", "base_url": "http://evil"},
            "channels[0].base_url: must be an https:// URL",
        ),
        (
            {"kind": "teams", "name": "t", "url": {"env": "X"}, "webhook_url": "x"},
            "channels[0]: unknown key (not shown",
        ),
    ],
)
def test_a_bad_channel_is_refused_with_its_field(channel, expected):
    message = error_of(channel)
    assert f"tenants[0].{expected}" in message, message
    assert HOOK_URL not in message and "R" * 32 not in message


def test_channel_names_are_unique_in_a_tenant():
    teams = {"kind": "teams", "name": "soc", "url": {"env": "ITDR_T_HOOK"}}
    assert "channel names must be unique in a tenant; repeated: soc" in error_of(teams, teams)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T/B/SECRETPART",
        "https://user:SECRETPART@hooks.example",
        "https:///SECRETPART",
        "ftp://hooks.example/SECRETPART",
    ],
)
def test_a_webhook_url_that_is_not_an_https_endpoint_is_refused_without_quoting_it(monkeypatch, url):
    monkeypatch.setenv("ITDR_T_BAD_URL", url)
    message = secret_error({"kind": "slack_webhook", "name": "s", "url": {"env": "ITDR_T_BAD_URL"}})
    assert message.startswith("tenants[0].channels[0].url: the URL in the environment variable named by `env`")
    assert "SECRETPART" not in message


def test_loopback_http_is_allowed_for_tests(monkeypatch):
    monkeypatch.setenv("ITDR_T_LOCAL", "http://127.0.0.1:8080/hook")
    config = parse_config({"tenants": [tenant({"kind": "teams", "name": "t", "url": {"env": "ITDR_T_LOCAL"}})]})
    assert "http://127.0.0.1:8080/hook" in secret_values(config)


@pytest.mark.parametrize(
    "secret",
    [
        "SECRETPART" + base64.b64encode(os.urandom(32)).decode(),
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_!!",
    ],
)
def test_a_signing_secret_must_be_whsec_and_enough_random_bytes(monkeypatch, secret):
    monkeypatch.setenv("ITDR_T_BAD_SIGNING", secret)
    hook = {"kind": "webhook", "name": "w", "url": {"env": "ITDR_T_HOOK"}, "secret": {"env": "ITDR_T_BAD_SIGNING"}}
    message = secret_error(hook)
    assert message.startswith("tenants[0].channels[0].secret: the secret in the environment variable named by `env`")
    assert "whsec_ and the base64 of 24 to 64 random bytes" in message and secret not in message
