"""A wrong config stops startup with the field and the reason; secrets only by reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from detections.tenant_profile import TenantProfile
from detector.config import ConfigError, load_config, parse_config, secret_values
from detector.tenants import engine_for


def tenant(**overrides):
    base = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    return {**base, **overrides}


def error_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_a_minimal_config_gets_safe_defaults():
    config = parse_config({"tenants": [tenant()]})
    t = config.tenants[0]
    assert (t.poll.interval_s, t.poll.lookback_minutes, t.poll.page_limit, t.poll.budget_share) == (1.0, 15, 1000, 0.5)
    assert (t.poll.sync_share, t.poll.sync_reserve, t.poll.sync_concurrency) == (0.5, 10, 2)
    assert (
        t.enforce is None
        and t.response.dry_run is False
        and [a.value for a in t.response.actions] == ["clear_sessions"]
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tenants": []}, "tenants: List should have at least 1 item"),
        ({"tenants": [tenant(name="Acme Corp")]}, "tenants[0].name: use lower-case letters"),
        ({"tenants": [tenant(org_url="http://acme.okta.com")]}, "tenants[0].org_url: must be an https:// URL"),
        ({"tenants": [tenant(org_url="https://acme.okta.com/app")]}, "tenants[0].org_url: must be the org's base URL"),
        ({"tenants": [tenant(read={"kind": "ssws", "token": "00abcSECRET"})]}, "tenants[0].read.token: secrets are"),
        ({"tenants": [tenant(read={"kind": "ssws", "token": {"env": "A", "file": "/b"}})]}, "give exactly one"),
        ({"tenants": [tenant(read={"kind": "basic"})]}, "tenants[0].read: 'kind' must be one of 'ssws', 'oauth'"),
        ({"tenants": [tenant(read={"token": {"env": "T"}})]}, "tenants[0].read: 'kind' is missing: one of 'ssws'"),
        ({"tenants": [tenant(poll={"interval_s": 0})]}, "tenants[0].poll.interval_s: Input should be greater than 0"),
        ({"tenants": [tenant(poll={"page_limit": 5000})]}, "tenants[0].poll.page_limit: Input should be less than"),
        ({"tenants": [tenant(response={"actions": ["delete_user"]})]}, "tenants[0].response.actions[0]: Input should"),
        ({"tenants": [tenant(), tenant()]}, "tenant names must be unique; repeated: acme"),
        ({"tenants": [tenant(surprise=1)]}, "tenants[0].surprise: Extra inputs are not permitted"),
        (
            {"tenants": [tenant(detections={"mfa_fatigue": {"min_denials": "many"}})]},
            "detections.mfa_fatigue.min_denials",
        ),
        ({"tenants": [tenant(detections={"mfa_fatigue": {"min_denial": 3}})]}, "unknown setting(s) min_denial"),
        ({"tenants": [tenant(detections={"mfa_fatigu": {}})]}, "unknown detection 'mfa_fatigu'"),
        (
            {"tenants": [tenant(context={"egress_cidrs": ["198.51.100.0/24", "corp-vpn"]})]},
            "tenants[0].context.egress_cidrs[1]: not a CIDR: 'corp-vpn'",
        ),
        (
            {"tenants": [tenant(context={"egress_cidrs": ["198.51.100.7/24"]})]},
            "tenants[0].context.egress_cidrs[0]: not a CIDR: '198.51.100.7/24' has host bits set (the network is",
        ),
        (
            {"tenants": [tenant(context={"egress_asns": [53813, "zscaler"]})]},
            "tenants[0].context.egress_asns[1]: Input",
        ),
        (
            {"tenants": [tenant(context={"egress_asns": [0]})]},
            "tenants[0].context.egress_asns[0]: Input should be greater",
        ),
        (
            {"tenants": [tenant(context={"vpn_operators": ["  "]})]},
            "tenants[0].context.vpn_operators[0]: String should",
        ),
        (
            {"tenants": [tenant(context={"service_accounts": "svc@acme.com"})]},
            "tenants[0].context.service_accounts: Input",
        ),
        (
            {"tenants": [tenant(context={"known_traveler": ["ceo@acme.com"]})]},
            "tenants[0].context.known_traveler: Extra",
        ),
        (
            {"tenants": [tenant(detections={"impossible_travel": {"allowlist_cidrs": ["10.0.0.0/8", "10.0.0.0/33"]}})]},
            "tenants[0].detections.impossible_travel.allowlist_cidrs[1]: not a CIDR: '10.0.0.0/33'",
        ),
    ],
)
def test_errors_name_the_field_and_the_reason(data, expected):
    assert expected in error_of(data)


def test_inline_secret_is_not_echoed_back():
    assert "00abcSECRET" not in error_of({"tenants": [tenant(read={"kind": "ssws", "token": "00abcSECRET"})]})


def test_detection_thresholds_are_per_tenant():
    config = parse_config({"tenants": [tenant(detections={"mfa_fatigue": {"min_denials": 8}})]})
    assert config.tenants[0].detections.mfa_fatigue.min_denials == 8
    assert config.tenants[0].detections.mfa_fatigue.window_s == 600


def test_new_detections_take_per_tenant_thresholds():
    overrides = {
        "distributed_spray": {"min_ips": 8, "allowlist_cidrs": ["10.0.0.0/8"]},
        "fastpass_phishing": {"follow_s": 3600},
    }
    detections = parse_config({"tenants": [tenant(detections=overrides)]}).tenants[0].detections
    assert detections.distributed_spray.min_ips == 8 and detections.distributed_spray.allowlist_cidrs == ("10.0.0.0/8",)
    assert detections.distributed_spray.min_users == 10
    assert detections.fastpass_phishing.follow_s == 3600
    typo = {"distributed_spray": {"min_ip": 3}}
    assert "unknown setting(s) min_ip" in error_of({"tenants": [tenant(detections=typo)]})
    gaps = {"distributed_spray": {"hop_s": 7200}}  # windows that leave gaps would never see a whole burst
    assert "distributed_spray: hop_s must be > 0 and ≤ window_s" in error_of({"tenants": [tenant(detections=gaps)]})


def test_detection_allowlists_and_windows_parse_for_every_detection():
    detections = {
        "mfa_reset_takeover": {"window_s": 7200, "allowlist_asns": [7018], "allowlist_cidrs": ["10.0.0.0/8"]},
        "push_requester_mismatch": {"min_repeats": 3, "allowlist_asns": [64512]},
    }
    parsed = parse_config({"tenants": [tenant(detections=detections)]}).tenants[0].detections
    assert parsed.mfa_reset_takeover.window_s == 7200 and parsed.mfa_reset_takeover.allowlist_asns == {7018}
    assert parsed.mfa_reset_takeover.allowlist_cidrs == ("10.0.0.0/8",)
    assert parsed.push_requester_mismatch.min_repeats == 3 and parsed.push_requester_mismatch.pair_window_s == 300
    assert "unknown setting(s) window" in error_of(
        {"tenants": [tenant(detections={"mfa_reset_takeover": {"window": 1}})]}
    )


def test_tenant_context_is_stated_once_and_becomes_the_detections_profile():
    context = {
        "egress_cidrs": ["198.51.100.0/24", "2001:db8::/32", "203.0.113.9"],
        "egress_asns": [53813, "AS62044"],
        "vpn_operators": ["ZSCALER", "NordVPN"],
        "known_travellers": ["CEO@acme.com", "00uCEO"],
        "service_accounts": ["svc-backup@acme.com"],
    }
    profile = parse_config({"tenants": [tenant(context=context)]}).tenants[0].context.profile()
    assert profile == TenantProfile(
        egress_cidrs=("198.51.100.0/24", "2001:db8::/32", "203.0.113.9/32"),
        egress_asns=frozenset({53813, 62044}),
        vpn_operators=frozenset({"ZSCALER", "NORDVPN"}),
        known_travellers=frozenset({"ceo@acme.com", "00uceo"}),
        service_accounts=frozenset({"svc-backup@acme.com"}),
    )
    assert parse_config({"tenants": [tenant()]}).tenants[0].context.profile() == TenantProfile()


def test_the_daemon_engine_merges_the_context_with_per_detection_allowlists():
    t = parse_config(
        {
            "tenants": [
                tenant(
                    context={"egress_cidrs": ["198.51.100.0/24"], "service_accounts": ["svc@acme.com"]},
                    detections={"password_spray": {"allowlist_cidrs": ["10.0.0.0/8"]}},
                )
            ]
        }
    ).tenants[0]
    engine = engine_for(t)
    spray = next(d for d in engine.detections if d.id == "password_spray")
    assert spray.config.allowlist_cidrs == ("10.0.0.0/8", "198.51.100.0/24")
    assert engine.context.profile.service_accounts == {"svc@acme.com"}


def test_lookback_is_capped_at_okta_retention():
    config = parse_config({"tenants": [tenant(poll={"lookback_minutes": 10**7})]})
    assert config.tenants[0].poll.lookback_minutes == 90 * 24 * 60


def test_secret_references_resolve_or_fail_clearly(tmp_path: Path, monkeypatch):
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("T", "ssws-value")
    oauth = {"kind": "oauth", "client_id": "0oa1", "private_key": {"file": str(key)}, "scopes": ["okta.users.manage"]}
    config = parse_config({"tenants": [tenant(enforce=oauth)]})
    assert secret_values(config) == ["ssws-value", key.read_text().strip()]
    monkeypatch.delenv("T")
    with pytest.raises(ConfigError, match=r"tenants\[0\]\.read\.token: the environment variable named by `env` is not"):
        secret_values(config)


def test_check_config_command(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("00token-value\n")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"tenants": [tenant(read={"kind": "ssws", "token": {"file": str(token)}})]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tenants": [tenant(poll={"interval_s": -1})]}))
    ok = subprocess.run(
        [sys.executable, "-m", "detector.cli", "check-config", str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "config OK: 1 tenant(s)" in ok.stderr
    failed = subprocess.run(
        [sys.executable, "-m", "detector.cli", "check-config", str(bad)], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert "tenants[0].poll.interval_s" in failed.stderr
    with pytest.raises(ConfigError, match="not valid YAML"):
        (tmp_path / "broken.yaml").write_text("tenants: [")
        load_config(tmp_path / "broken.yaml")


def test_the_readme_example_is_a_valid_config():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    t = parse_config(yaml.safe_load(example)).tenants[0]
    assert t.context.profile().service_accounts and t.detections.password_spray.allowlist_cidrs


def test_metrics_server_is_off_unless_configured_and_loopback_unless_told():
    from detector.cli import _metrics_settings

    assert parse_config({"tenants": [tenant()]}).http is None
    config = parse_config({"tenants": [tenant()], "metrics": {}})
    assert (config.http.bind, config.http.port) == ("127.0.0.1", 9108)
    container = parse_config({"tenants": [tenant()], "metrics": {"bind": "0.0.0.0", "port": 9200}})
    assert _metrics_settings(container, 9300).model_dump() == {
        "bind": "0.0.0.0",
        "port": 9300,
        "token": None,
        "public_url": None,
    }
    assert _metrics_settings(parse_config({"tenants": [tenant()]}), 9301).model_dump() == {
        "bind": "127.0.0.1",
        "port": 9301,
        "token": None,
        "public_url": None,
    }
    assert parse_config({"tenants": [tenant()], "http": {"port": 9400}}).http.port == 9400  # its current name
    assert "metrics.bind: not an IP address" in error_of({"tenants": [tenant()], "metrics": {"bind": "everywhere"}})
    assert "metrics.port: Input should be less than" in error_of({"tenants": [tenant()], "metrics": {"port": 70000}})
