"""Tokens, client secrets and private keys never reach a log line.

A real `detector run` at debug level against the simulator: the reader uses an
SSWS token, the enforcer an OAuth app (private_key_jwt + DPoP), the System Log
fails now and then, one credential is wrong, and an attack makes the enforcer
fetch access tokens and call Okta. Every line of its log is then searched for
every secret that existed during the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import yaml

from detector.demo import enforcer_key

from .conftest import READ_TOKEN, Sim, config_dict
from .test_embedded_pipeline import inject_push_bombing

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


async def test_no_secret_in_any_log_line(sim: Sim, tmp_path: Path):
    key_path, jwk = enforcer_key(tmp_path)
    sim.org.add_service_app("0oaEnforcer", {"keys": [jwk]}, ["okta.users.read", "okta.users.manage"], require_dpop=True)
    victim = sim.org.add_user(login="victim@acme.com", first_name="V", last_name="T")
    inject_push_bombing(sim, victim, time.time() - 60)
    sim.org.inject_fault("GET", "/api/v1/logs", "status", times=2, status=503)

    cfg = config_dict(sim, tmp_path / "data")
    cfg["log_level"] = "debug"
    good = cfg["tenants"][0]
    good["enforce"] = {
        "kind": "oauth",
        "client_id": "0oaEnforcer",
        "private_key": {"file": str(key_path)},
        "key_id": jwk["kid"],
        "scopes": ["okta.users.read", "okta.users.manage"],
    }
    wrong = {**good, "name": "wrongcreds", "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_WRONG_TOKEN"}}}
    cfg["tenants"].append(wrong)
    config_path = tmp_path / "itdr.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    wrong_token = "wrong-token-that-okta-rejects-0123456789"
    env = {**os.environ, "ITDR_TEST_READ_TOKEN": READ_TOKEN, "ITDR_TEST_WRONG_TOKEN": wrong_token}

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "detector.cli", "run", "--config", str(config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not [c for c in sim.org.calls if c.action == "clear_sessions"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # let the wrong tenant fail a few times too
    proc.send_signal(signal.SIGTERM)
    output = (await asyncio.wait_for(proc.communicate(), 20))[0].decode()

    assert [c.user_id for c in sim.org.calls if c.action == "clear_sessions"] == [victim["id"]], output[-2000:]
    assert '"poller.error"' in output and "E0000011" in output  # the failures were logged...
    secrets = [READ_TOKEN, wrong_token, *sim.org.access_tokens]
    secrets += [line for line in key_path.read_text().splitlines() if "-----" not in line]
    for secret in secrets:
        assert secret not in output, "a secret reached the log"
    assert not JWT.search(output), "a JWT (assertion, DPoP proof or token) reached the log"
    assert sim.org.access_tokens, "the enforcer never fetched an access token: the test proves nothing"
