"""The deployment's redaction key, the config fields that feed the redaction, and replay's redaction."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from detections.redaction import MARKER_PREFIX
from detections.testkit import unknown_user_failure
from detector.config import ConfigError, parse_config, secret_values
from detector.redaction_key import existing_redaction_key, redaction_key
from detector.replay import replay
from detector.tenants import redactor_for

T0 = 1_700_000_000.0
READ = {"kind": "ssws", "token": {"env": "ITDR_TEST_UNUSED"}}


def config(data_dir: Path, **top):
    tenant = {
        "name": "acme",
        "org_url": "https://acme.okta.com",
        "read": READ,
        "context": {"login_domains": ["@Acme.com"]},
    }
    return parse_config({"data_dir": str(data_dir), "tenants": [tenant], **top})


def test_without_a_secret_reference_one_key_is_made_0600_and_then_reused(tmp_path: Path):
    cfg = config(tmp_path / "data")
    assert existing_redaction_key(cfg) is None
    key = redaction_key(cfg)
    path = tmp_path / "data" / "redaction.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(key) == 64 and path.read_bytes().strip() == key
    assert redaction_key(cfg) == existing_redaction_key(cfg) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["redaction.key"]  # no temporary file left
    assert redaction_key(config(tmp_path / "other")) != key


def test_a_secret_reference_wins_and_is_scrubbed_from_logs(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ITDR_TEST_REDACTION_KEY", "k" * 32)
    monkeypatch.setenv("ITDR_TEST_UNUSED", "t" * 32)
    cfg = config(tmp_path, redaction_key={"env": "ITDR_TEST_REDACTION_KEY"})
    assert redaction_key(cfg) == b"k" * 32 and not (tmp_path / "redaction.key").exists()
    assert "k" * 32 in secret_values(cfg)
    monkeypatch.setenv("ITDR_TEST_REDACTION_KEY", "short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        redaction_key(cfg)
    with pytest.raises(ConfigError, match="redaction_key: secrets are never written inline"):
        config(tmp_path, redaction_key="inline-secret-value")


def test_a_loose_or_truncated_key_file_is_tightened_or_refused(tmp_path: Path):
    path = tmp_path / "redaction.key"
    path.write_text("0123456789abcdef0123\n")
    os.chmod(path, 0o644)
    assert existing_redaction_key(config(tmp_path)) == b"0123456789abcdef0123"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("\n")
    with pytest.raises(ConfigError, match=r"redaction\.key: the key needs at least 16 bytes"):
        redaction_key(config(tmp_path))


def test_login_domains_are_the_tenants_stated_login_shape(tmp_path: Path):
    tenant = config(tmp_path).tenants[0]
    assert tenant.context.profile().login_domains == {"acme.com"}
    redactor = redactor_for(tenant, b"k" * 32)
    assert redactor.domains == {"acme.com"} and not redactor.learning
    kept = redactor.redact(unknown_user_failure(T0, "j!m@ACME.com"))
    assert kept["actor"]["alternateId"] == "j!m@ACME.com"


def test_replay_redacts_before_parsing_with_a_key_of_its_own_unless_given_one(tmp_path: Path):
    raws = [unknown_user_failure(T0 + i, "Winter2023!", ip=f"198.51.100.{i}") for i in range(10)]
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in raws))

    first, second = replay([export], "acme"), replay([export], "acme")
    (finding,) = first.findings
    assert finding.detection == "brute_force" and finding.principal_login.startswith(MARKER_PREFIX)
    assert "winter2023!" not in json.dumps(finding.to_dict()).lower()
    assert first.findings[0].principal_login != second.findings[0].principal_login  # ephemeral keys
    keyed = [replay([export], "acme", redaction_key=b"k" * 32).findings[0].principal_login for _ in range(2)]
    assert keyed[0] == keyed[1] == redactor_for(config(tmp_path).tenants[0], b"k" * 32).marker("Winter2023!")
