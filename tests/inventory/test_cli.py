"""`detector inventory sync` and `show` as a person runs them: a real process against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml

from detector.datadir_lock import DataDirLock

from .conftest import TOKEN, Sim


def write_config(sim: Sim, tmp_path: Path, **tenant: object) -> Path:
    path = tmp_path / "itdr.yaml"
    config = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [
            {"name": "acme", "org_url": sim.url, "read": {"kind": "ssws", "token": {"env": "ITDR_INV_TOKEN"}}, **tenant}
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def detector(*args: str, token: str = TOKEN) -> tuple[int, str, str]:
    env = {**os.environ, "ITDR_INV_TOKEN": token, "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "detector.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_sync_then_show(sim: Sim, tmp_path: Path) -> None:
    sim.org.add_user("ann@acme.com", factors=("push", "sms"))
    sim.org.add_group("Ops \x1b[31mred\x1b[0m\nsecond line")
    config = write_config(sim, tmp_path)
    code, out, err = await detector("inventory", "sync", "--config", str(config))
    assert code == 0, err
    assert "inventory of acme" in out and "success in" in out
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert rows["user"] == "1" and rows["factor"] == "2" and rows["group"] == "2" and rows["app"] == "2"
    assert TOKEN not in out + err and "Traceback" not in err

    code, out, _ = await detector("inventory", "show", "--config", str(config), "--tenant", "acme", "--kind", "group")
    assert code == 0
    assert "Ops \\x1b[31mred\\x1b[0m\\nsecond line" in out and "\x1b[31m" not in out
    code, out, _ = await detector("inventory", "show", "--config", str(config), "--tenant", "acme")
    assert code == 0 and "success in" in out
    code, out, _ = await detector(
        "inventory", "show", "--config", str(config), "--tenant", "acme", "--kind", "user", "--output", "json"
    )
    assert code == 0 and '"login": "ann@acme.com"' in out
    code, out, _ = await detector("status", "--config", str(config), "--output", "json")  # no daemon: its data
    (view,) = json.loads(out)["tenants"]
    assert view["inventory"]["state"] == "success" and view["inventory"]["counts"]["user"] == 1
    code, out, _ = await detector("status", "--config", str(config))
    assert "success 0 s, 1 users" in out


async def test_clear_errors(sim: Sim, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path)
    code, _, err = await detector("inventory", "sync", "--config", str(config), "--tenant", "nope")
    assert code == 2 and "no tenant 'nope'" in err and "Traceback" not in err
    bad = "00wrongTOKEN0123456789abcdefghijklmnop"
    code, out, err = await detector("inventory", "sync", "--config", str(config), token=bad)
    assert code == 1 and "error: Okta API error 401" in out and bad not in out + err and "Traceback" not in err
    code, out, _ = await detector("inventory", "show", "--config", str(config), "--tenant", "acme")
    assert code == 0 and "error in" in out and "error: Okta API error 401" in out  # the failed sync's status
    with DataDirLock(tmp_path / "data"):  # a daemon runs on this data_dir
        code, _, err = await detector("inventory", "sync", "--config", str(config))
    assert code == 2 and "syncs the inventory itself" in err and "Traceback" not in err
