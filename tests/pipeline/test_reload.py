"""SIGHUP and POST /api/v1/reload on a real `detector run` process: a rotated token is used from the next
request, an added tenant starts, a removed one stops, a bad config is refused and the running one kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from deploy.kafka.broker import free_port

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict

ADMIN = "admin-token-reload-7c1d9e"
ROTATED = "sim-read-token-rotated-00112233445566"


def write(path: Path, raw: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(raw))


async def test_sighup_rotates_adds_removes_and_refuses(sim: Sim, tmp_path: Path):
    token_file = tmp_path / "read-token"
    token_file.write_text(READ_TOKEN + "\n")
    port = free_port()
    raw = config_dict(sim, tmp_path / "data")
    raw["tenants"][0]["read"] = {"kind": "ssws", "token": {"file": str(token_file)}, "token_id": sim.read_token_id}
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}}
    config = tmp_path / "itdr.yaml"
    write(config, raw)
    env = {**os.environ, "ITDR_TEST_ENFORCE_TOKEN": ENFORCE_TOKEN, "ITDR_TEST_ADMIN": ADMIN}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "detector.cli", "run", "--config", str(config), stdout=out, stderr=out, env=env
        )
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {ADMIN}"}
    try:
        async with aiohttp.ClientSession() as http:

            async def tenants() -> dict[str, Any]:
                try:
                    async with http.get(base + "/api/v1/tenants", headers=auth) as resp:
                        return {t["tenant"]: t for t in (await resp.json())["tenants"]}
                except aiohttp.ClientError:
                    return {}

            async def until(check, what: str, timeout: float = 20) -> None:
                deadline = time.monotonic() + timeout
                while not check(await tenants()):
                    assert proc.returncode is None, log.read_text()[-2000:]
                    assert time.monotonic() < deadline, f"{what}: {await tenants()}\n{log.read_text()[-2000:]}"
                    await asyncio.sleep(0.1)

            await until(lambda t: t.get("acme", {}).get("status") == "success", "acme polling")

            # rotate: Okta has a new token; the file holds it; SIGHUP; then the old one is revoked
            sim.org.add_api_token(ROTATED, name="itdr-reader-2")
            token_file.write_text(ROTATED + "\n")
            proc.send_signal(signal.SIGHUP)
            await until(lambda _: b"config.reloaded" in log.read_bytes(), "the reload")
            del sim.org.api_tokens[READ_TOKEN]
            revoked_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
            await until(
                lambda t: t["acme"]["status"] == "success" and t["acme"]["last_success"] >= revoked_at,
                "polls with the rotated token",
            )
            assert all(p["error"] is None for p in (await tenants())["acme"]["recent_polls"])

            # add a tenant (the same simulated org under a second name)
            second = {**raw["tenants"][0], "name": "beta"}
            del second["enforce"]
            raw["tenants"].append(second)
            write(config, raw)
            proc.send_signal(signal.SIGHUP)
            await until(lambda t: t.get("beta", {}).get("status") == "success", "the added tenant polling")

            # a config that fails validation is refused and the running one kept
            config.write_text("tenants: [{name: BAD NAME}]\n")
            proc.send_signal(signal.SIGHUP)
            await until(lambda _: b"config.reload_refused" in log.read_bytes(), "the refusal")
            assert set(await tenants()) == {"acme", "beta"} and proc.returncode is None

            # POST /api/v1/reload: the same, answered with what changed
            raw["tenants"].pop()
            write(config, raw)
            async with http.post(base + "/api/v1/reload", headers=auth) as resp:
                assert resp.status == 200
                changes = (await resp.json())["changes"]
            assert "tenant beta removed" in changes
            assert set(await tenants()) == {"acme"}
            config.write_text("tenants: []\n")
            async with http.post(base + "/api/v1/reload", headers=auth) as resp:
                assert resp.status == 422 and "tenants" in (await resp.json())["error"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0, log.read_text()[-3000:]
    refusal = next(line for line in log.read_text().splitlines() if "config.reload_refused" in line)
    assert "tenants[0]" in refusal and ROTATED not in log.read_text()
