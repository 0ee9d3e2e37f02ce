"""A password typed as the username never reaches the daemon's data, logs or console; the counts stay right.

A real `detector run` tails the simulator over HTTP while a spray from one IP
fails for real users, mistyped logins and strings that are passwords (Okta's
actor id "unknown"), and one password is tried again and again from many IPs
(a brute force keyed by it). Every byte the daemon wrote or printed is then
searched for every password, in any letter case; `detector replay --config`
over the simulator's export prints the same markers (the deployment's key).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import orjson
import yaml

from detections.redaction import Redactor
from detections.testkit import failed_sign_in, unknown_user_failure
from detector.stream.embedded import run_sync

from .conftest import READ_TOKEN, Sim, config_dict

SPRAY_IP = "203.0.113.9"
PASSWORDS = ["Summer2024!", "summer2024!", "hunter2", "P@ssw0rd", "correct horse battery staple"]
MISTYPED = ["bob@acme.com", "bob.smith@acme.com", "alcie@acme.com"]
# After 6 real users, in this order, the spray reaches its 10th distinct user at bob@acme.com, the 11th
# attempt, only if Summer2024! and summer2024! count as one user (as unredacted: detections lower-case
# logins) and each other password as a user of its own.
SPRAY = [*PASSWORDS[:4], MISTYPED[0], PASSWORDS[4], *MISTYPED[1:]]
BRUTE_PASSWORD = "Winter2023!"


def inject_attacks(sim: Sim, t0: float) -> None:
    users = [sim.org.add_user(login=f"user{i}@acme.com", first_name="U", last_name=str(i)) for i in range(6)]
    attempts = [
        failed_sign_in(t0 + i * 20, user["profile"]["login"], user=user["id"], ip=SPRAY_IP)
        for i, user in enumerate(users)
    ]
    attempts += [unknown_user_failure(t0 + 200 + i * 20, login, ip=SPRAY_IP) for i, login in enumerate(SPRAY)]
    attempts += [unknown_user_failure(t0 + 600 + i * 20, BRUTE_PASSWORD, ip=f"198.51.100.{i}") for i in range(10)]
    for event in attempts:
        sim.org.append(event)


def findings_of(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def assert_no_password(blob: bytes, where: str) -> None:
    low = blob.lower()
    for password in [*PASSWORDS, BRUTE_PASSWORD]:
        assert password.lower().encode() not in low, f"{password!r} reached {where}"


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "detector.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, stdout, stderr


async def test_passwords_typed_as_usernames_are_redacted_everywhere(sim: Sim, tmp_path: Path):
    inject_attacks(sim, time.time() - 1800)
    data = tmp_path / "data"
    config_path = tmp_path / "itdr.yaml"
    config_path.write_text(yaml.safe_dump({**config_dict(sim, data), "log_level": "debug"}))
    env = {**os.environ, "ITDR_TEST_READ_TOKEN": READ_TOKEN, "ITDR_TEST_ENFORCE_TOKEN": "unused-enforce-token"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "detector.cli", "run", "--config", str(config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(findings_of(data / "findings.jsonl")) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    while_running = {p.name: p.read_bytes() for p in data.iterdir()}  # the -wal is there now, gone after
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)

    assert "itdr.sqlite-wal" in while_running, sorted(while_running)
    for name, blob in while_running.items():
        assert_no_password(blob, f"{name} (while running)")
    assert data.stat().st_mode & 0o777 == 0o700
    for path in data.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path.name
        assert_no_password(path.read_bytes(), path.name)
    assert_no_password(stdout, "the daemon's stdout")
    assert_no_password(stderr, "the daemon's log")

    redactor = Redactor((data / "redaction.key").read_bytes().strip())
    findings = {f["detection"]: f for f in findings_of(data / "findings.jsonl")}
    assert sorted(findings) == ["brute_force", "password_spray"], stderr.decode()[-3000:]
    assert f"{SPRAY_IP} failed passwords for 10 distinct users (11 attempts)" in findings["password_spray"]["summary"]
    brute = findings["brute_force"]
    assert brute["principal_login"] == redactor.marker(BRUTE_PASSWORD) and brute["principal"] == "unknown"
    logged = [orjson.loads(line) for line in stderr.splitlines()]
    assert {(x["detection"], x["user"]) for x in logged if x["event"] == "finding"} == {
        ("password_spray", ""),
        ("brute_force", redactor.marker(BRUTE_PASSWORD)),
    }

    db = data / "itdr.sqlite"
    typed = {row[0] for row in run_sync(db, "SELECT json_extract(value, '$.actor.alternateId') FROM events")}
    assert set(MISTYPED) <= typed  # unknown but login-shaped: the credential-stuffing signal stays readable
    assert {redactor.marker(p) for p in [*PASSWORDS, BRUTE_PASSWORD]} <= typed
    states = {row[0] for row in run_sync(db, "SELECT key FROM detection_state")}
    assert f"acme|brute_force|{redactor.marker(BRUTE_PASSWORD)}" in states

    export = tmp_path / "export.json"
    export.write_bytes(orjson.dumps(sim.org.events_visible()))
    code, out, err = await run_cli("replay", "--config", str(config_path), str(export), env={**env, "COLUMNS": "300"})
    assert code == 0, err.decode()[-2000:]
    assert_no_password(out + err, "the replay console")
    assert f"user={redactor.marker(BRUTE_PASSWORD)}".encode() in out  # the daemon's key, the daemon's markers
