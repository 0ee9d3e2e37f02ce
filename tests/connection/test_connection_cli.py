"""`detector test-connection`, the installed command against the simulator: table, JSON, exit codes."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from rich.console import Console

from detector.connection import ConnectionReport, CredentialInfo, PermissionResult
from detector.connection_cli import print_reports
from detector.okta.permissions import Check, Outcome
from tests.connection.conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, ssws, tenant_dict

DETECTOR = Path(sys.executable).parent / "detector"
HEADER = "tenant\tcredential\tpermission\tresult\tdisables\tdetail"


async def detector(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the installed command while this event loop goes on serving the simulator."""
    proc = await asyncio.create_subprocess_exec(
        str(DETECTOR),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ITDR_TEST_READ": READ_TOKEN, "ITDR_TEST_ENFORCE": ENFORCE_TOKEN, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, *tenants: dict[str, Any]) -> str:
    path = tmp_path / "itdr.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "tenants": list(tenants)}))
    return str(path)


@pytest.mark.timeout(120)
async def test_the_table_off_a_terminal_is_tab_separated_and_exit_0_when_all_is_granted(
    sim: Sim, tmp_path: Path
) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN)
    config = write_config(tmp_path, tenant_dict(sim, ssws("ITDR_TEST_ENFORCE"), actions=["clear_sessions"]))
    code, out, err = await detector("test-connection", "--config", config)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == HEADER
    assert lines[1].split("\t")[:5] == ["acme", "read", "read_logs", "ok", "-"]
    assert "acme\tenforce\tclear_sessions\tok\t-\tgranted by SUPER_ADMIN" in lines
    assert lines[-1] == "acme: ok, every permission the config enables is granted"
    assert "\x1b[" not in out and READ_TOKEN not in out + err and ENFORCE_TOKEN not in out + err


@pytest.mark.timeout(120)
async def test_json_says_what_is_missing_and_exit_1(sim: Sim, tmp_path: Path) -> None:
    sim.org.add_api_token(READ_TOKEN)
    sim.org.add_api_token(ENFORCE_TOKEN, roles=["HELP_DESK_ADMIN"])
    policy = {"actions": ["clear_sessions", "suspend"], "allow_suspend": True}
    other = tenant_dict(sim, None, name="beta")
    config = write_config(tmp_path, tenant_dict(sim, ssws("ITDR_TEST_ENFORCE"), **policy), other)
    code, out, err = await detector("test-connection", "--config", config, "--output", "json")
    assert code == 1, err
    body = orjson.loads(out)
    assert body["ok"] is False and [t["tenant"] for t in body["tenants"]] == ["acme", "beta"]
    acme, beta = body["tenants"]
    assert acme["disabled"] == ["suspend"] and beta["ok"] is True
    suspend = next(p for p in acme["permissions"] if p["permission"] == "suspend")
    assert suspend["result"] == "missing" and suspend["disables"] == ["suspend"]
    code, out, _ = await detector("test-connection", "--config", config, "--tenant", "beta", "--output", "json")
    assert code == 0 and [t["tenant"] for t in orjson.loads(out)["tenants"]] == ["beta"]


@pytest.mark.timeout(120)
async def test_a_bad_config_or_tenant_exits_2(sim: Sim, tmp_path: Path) -> None:
    config = write_config(tmp_path, tenant_dict(sim, None))
    code, out, err = await detector("test-connection", "--config", config, "--tenant", "nope")
    assert code == 2 and out == "" and "no tenant 'nope'" in err and "(have: acme)" in err
    code, _, err = await detector("test-connection", "--config", config, env={"ITDR_TEST_READ": ""})
    assert code == 2 and "tenants[0].read.token: the environment variable named by `env` is not set" in err
    assert "Traceback" not in err and sim.seen == []


def test_on_a_terminal_it_is_a_table_whose_okta_text_is_never_markup() -> None:
    hostile = Check(Outcome.MISSING, "Okta refused it (403)", "E0000006", "[bold red]no[/] \x1b]0;owned\x07")
    report = ConnectionReport(
        "acme",
        "https://acme.okta.com",
        False,
        ("clear_sessions",),
        {"read": CredentialInfo("ssws")},
        (
            PermissionResult("read", "read_logs", Check(Outcome.OK, "read one record"), ("system_log",)),
            PermissionResult("enforce", "clear_sessions", hostile, ("clear_sessions",)),
        ),
    )
    buffer = io.StringIO()
    print_reports(Console(file=buffer, force_terminal=True, width=240, highlight=False), [report])
    out = buffer.getvalue()
    assert "Okta permissions" in out and "┃" in out  # a rich table
    assert "[bold red]no[/]" in out and "\\x1b]0;owned\\x07" in out and "\x1b]0;" not in out
    assert "\x1b[31m" in out or "\x1b[1;31m" in out  # the verdict and `missing` in red
    assert "acme: NOT OK, disabled: clear_sessions\x1b[0m\n" in out
    buffer = io.StringIO()
    print_reports(Console(file=buffer, width=240), [replace(report, dry_run=True)])
    assert buffer.getvalue().endswith(
        "acme: NOT OK, disabled: clear_sessions (response.dry_run is on: no action runs yet)\n"
    )


@pytest.mark.timeout(120)
async def test_inventory_reads_refused_are_a_line_each_and_exit_0(sim: Sim, tmp_path: Path) -> None:
    """A reader without roles: the user_roles line and a closing warning say what the sync will skip."""
    sim.org.add_api_token(READ_TOKEN, roles=["READ_ONLY_ADMIN"])
    config = write_config(tmp_path, tenant_dict(sim, None))
    code, out, err = await detector("test-connection", "--config", config)
    assert code == 0, err
    lines = out.splitlines()
    (roles,) = [line.split("\t") for line in lines if "\tinventory.user_roles\t" in line]
    assert roles[3:5] == ["missing", "inventory user_roles (skipped)"] and "the sync skips it" in roles[5]
    assert "acme\tread\tinventory.users\tok\t-\tread one record" in lines
    assert lines[-2] == "acme: ok, every permission the config enables is granted"
    assert lines[-1].startswith("acme: the inventory sync will skip ") and "user_roles" in lines[-1]
