"""`detector inventory sync` and `show` as a person runs them: a real process against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import yaml

from detector.datadir_lock import DataDirLock
from detector.inventory.cli import sync_lines
from detector.sim import RateLimits

from .conftest import TOKEN, Sim, StartSim


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
    assert re.search(r"success \d+ s, 1 users", out)  # the sync's duration: more than 0 s on a busy machine


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


async def test_a_sync_killed_with_sigkill_resumes(start_sim: StartSim, tmp_path: Path) -> None:
    """kill -9 mid-sync: the pages committed with their checkpoint survive, and the next sync goes on from there."""
    sim = await start_sim(RateLimits(users=200, window_seconds=1.0))  # ~4 s a page of 200: caught mid-way
    for i in range(450):  # three pages of users
        sim.org.add_user(f"user{i}@acme.com")
    config = write_config(sim, tmp_path)
    env = {**os.environ, "ITDR_INV_TOKEN": TOKEN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "detector.cli", "inventory", "sync", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    db = tmp_path / "data" / "itdr.sqlite"

    def checkpoint() -> dict[str, object] | None:
        if not db.exists():
            return None
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM inventory_checkpoint WHERE tenant = 'acme'").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return json.loads(row[0]) if row else None

    deadline = time.monotonic() + 60
    while not ((cp := checkpoint()) and cp.get("part") == "users" and cp.get("next_url")):
        assert time.monotonic() < deadline and proc.returncode is None, "never saw a users page stored"
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    first_run = len([s for s in sim.seen if s[0] == "/api/v1/users"])
    code, out, err = await detector("inventory", "sync", "--config", str(config))
    assert code == 0, out + err
    assert "resumed 1 time(s)" in out
    listing = [q for p, q, _ in sim.seen if p == "/api/v1/users"][first_run:]
    assert "after=" in listing[0]  # the resumed sync started from the stored cursor, not the first page
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert rows["user"] == "450" and rows["factor"] == "450"


def stored_findings(tmp_path: Path) -> list[dict]:
    db = sqlite3.connect(tmp_path / "data" / "itdr.sqlite")
    try:
        return [json.loads(v) for (v,) in db.execute("SELECT value FROM findings ORDER BY offset")]
    finally:
        db.close()


async def test_a_cli_sync_raises_what_a_daemon_sync_raises(sim: Sim, tmp_path: Path) -> None:
    """Posture on change and inventory changes go onto itdr.findings from a sync run by hand too, change-only."""
    sim.org.add_user("ann@acme.com", factors=("push",))
    bob = sim.org.add_user("bob@acme.com", factors=())  # no MFA factor
    config = write_config(sim, tmp_path)
    code, out, err = await detector("inventory", "sync", "--config", str(config))
    assert code == 0, err
    first = stored_findings(tmp_path)
    assert "posture_users_without_mfa" in {f["detection"] for f in first}
    assert all(f["detection"].startswith("posture_") for f in first)  # the first sync: no changes
    assert f"raised {len(first)} posture and inventory-change finding(s)" in out

    code, out, _ = await detector("inventory", "sync", "--config", str(config))  # nothing changed
    assert code == 0 and "raised 0 posture" in out and len(stored_findings(tmp_path)) == len(first)

    sim.org.set_roles(bob["id"], ["ORG_ADMIN"])
    code, out, _ = await detector("inventory", "sync", "--config", str(config))
    later = stored_findings(tmp_path)[len(first) :]
    (granted,) = [f for f in later if f["detection"] == "inventory_admin_role_new"]
    assert code == 0 and "bob@acme.com" in json.dumps(granted) and f"raised {len(later)} posture" in out

    off = write_config(sim, tmp_path, posture={"enabled": False})
    sim.org.set_roles(bob["id"], ["ORG_ADMIN", "APP_ADMIN"])
    code, out, _ = await detector("inventory", "sync", "--config", str(off))
    assert code == 0 and "raised" not in out and len(stored_findings(tmp_path)) == len(first) + len(later)


def test_a_fallback_is_said_in_the_sync_lines() -> None:
    status = {"state": "success", "duration_s": 1.0, "fallbacks": {"user_roles": "404 E0000007 \x1b[31mNot found"}}
    lines = [line for line, _ in sync_lines(status)]
    assert "user_roles read one object at a time (its list was refused: 404 E0000007 \\x1b[31mNot found)" in lines
