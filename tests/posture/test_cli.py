"""``detector posture`` over a stored inventory and the after-sync review with its durable results; hostile record
strings render escaped (the admin API's route: tests/pipeline/test_posture_api.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import yaml

from detector.cli import main
from detector.config import PostureSettings
from detector.inventory.model import ApiToken, App, Factor, Inventory, OrgSettings
from detector.inventory.report import posture_report
from detector.inventory.review import PostureResults, review
from detector.inventory.store import SqliteInventoryStore
from tests.posture.healthy import DAY, NOW, healthy

HOSTILE_TOKEN = "[bold red]ci[/]\x1b]0;pwned\x07\u202etoken"
HOSTILE_APP = "Okta [link=https://evil.example]Admin[/link]\x1b[2J"


SYNCED = time.time() - 3600  # the CLI and the API judge by the real time


def hostile() -> Inventory:
    inv = healthy(at=SYNCED)
    inv.put(App("0oaADMIN", "saasure", HOSTILE_APP, "ACTIVE", "OPENID_CONNECT"))
    inv.put(ApiToken("00Topen", HOSTILE_TOKEN, "00uBOB", created=time.time() - DAY, network="ANYWHERE"))
    inv.put(OrgSettings(threat_insight="audit"))
    policy = inv.of("policy")["rstADMIN"]
    inv.put(type(policy)(policy.id, policy.type, policy.name, policy.status, settings={
        "admin_console": True, "admin_console_phishing_resistant": False}))  # fmt: skip
    return inv


async def store_inventory(db: Path, inv: Inventory) -> None:
    async with SqliteInventoryStore(db) as store:
        for kind in Inventory.KINDS:
            await store.put(inv.tenant, kind, inv.of(kind).values())
        await store.set_status(inv.tenant, {"state": "success", "last_success": inv.synced_at})


def write_config(tmp_path: Path, **extra: object) -> Path:
    raw = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [
            {"name": n, "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
            for n in ("acme", "other")
        ],
        **extra,
    }
    path = tmp_path / "itdr.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def assert_escaped(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    # shown as escapes, not acted on; markup shown as text, not applied (a table cell may wrap at the space)
    assert "red]ci[/]\\x1b]0;pwned\\x07\\u202etoken" in out


def test_cli_prints_the_failing_checks_escaped(tmp_path, capsys):
    config = write_config(tmp_path)
    asyncio.run(store_inventory(tmp_path / "data" / "itdr.sqlite", hostile()))
    assert main(["posture", "--config", str(config), "--tenant", "acme"]) == 1  # something fails
    out = capsys.readouterr().out
    assert "posture of acme (synced 20" in out and "): 3 failing, 8 passing, 0 unknown" in out
    for check in ("admin_console_not_phishing_resistant", "api_token_unrestricted", "threat_insight_not_blocking"):
        assert check in out
    assert "[link=https://evil.example]Admin[/link]\\x1b[2J" in out
    assert_escaped(out)


def test_cli_json_is_the_report_and_a_tenant_never_synced_is_all_unknown(tmp_path, capsys):
    config = write_config(tmp_path)
    asyncio.run(store_inventory(tmp_path / "data" / "itdr.sqlite", healthy(at=SYNCED)))
    assert main(["posture", "--config", str(config), "--output", "json"]) == 0
    acme, other = orjson.loads(capsys.readouterr().out)["tenants"]
    assert acme["findings"] == [] and {c["status"] for c in acme["checks"]} == {"pass"}
    assert other["synced_at"] is None and {c["status"] for c in other["checks"]} == {"unknown"}


def test_cli_errors_are_clear(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["posture", "--config", str(config)]) == 2
    assert "has not synced the directory yet" in capsys.readouterr().err
    assert main(["posture", "--config", str(config), "--tenant", "nope\x1b"]) == 2
    assert "no tenant 'nope\\\\x1b'" in capsys.readouterr().err


def test_skipped_checks_are_not_shown(tmp_path, capsys):
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["tenants"][0]["posture"] = {"skip": ["threat_insight_not_blocking", "api_token_unrestricted"]}
    config.write_text(yaml.safe_dump(raw))
    asyncio.run(store_inventory(tmp_path / "data" / "itdr.sqlite", hostile()))
    assert main(["posture", "--config", str(config), "--tenant", "acme", "--output", "json"]) == 1
    (report,) = orjson.loads(capsys.readouterr().out)["tenants"]
    assert [f["detection"] for f in report["findings"]] == ["posture_admin_console_not_phishing_resistant"]
    assert len(report["checks"]) == 9


async def test_review_raises_on_change_and_its_results_survive_a_restart(tmp_path: Path):
    db = tmp_path / "itdr.sqlite"
    settings = PostureSettings()
    first = healthy()
    first.remove("factor", "fac-00uBOB")
    async with PostureResults(db) as results:
        done = await review(results, None, first, settings, NOW)
        assert {f.detection for f in done.findings} == {"posture_admin_without_mfa", "posture_users_without_mfa"}
        await done.commit(results)
    async with PostureResults(db) as results:  # a restart: the same inventory raises nothing again
        again = await review(results, first, first, settings, NOW + 3600)
        assert again.findings == []
        # a crash before commit: the next review raises the same findings (same keys), which stores drop
        fixed = healthy()
        fixed.put(Factor("fac-00uBOB", "00uBOB", "webauthn", "FIDO"))
        one = await review(results, first, fixed, settings, NOW + 7200)
        two = await review(results, first, fixed, settings, NOW + 7200)
        assert [f.record_key for f in one.findings] == [f.record_key for f in two.findings]
        assert {f.status for f in one.findings} == {"resolved"}


def test_report_counts_every_check():
    report = posture_report(hostile(), PostureSettings(), SYNCED)
    assert len(report["checks"]) == 11 and {c["status"] for c in report["checks"]} == {"pass", "fail"}
