"""Kafka mode: the poller role serves tenant status and readiness, and keeps the status on itdr.status so a
restarted (or another) poller knows when each tenant first connected. A SIGHUP (no reload in Kafka mode)
is answered in the log, not by dying."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from deploy.kafka.broker import free_port
from detector.stream.kafka_bus import Topics, read_topic
from tests.pipeline.conftest import Sim

from .roles import Role, write_config

ADMIN = "admin-token-kafka-2b7e41"


async def test_poller_status_readiness_and_its_topic(sim: Sim, kafka_bootstrap: str, tmp_path: Path, monkeypatch):
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="status")
    raw = yaml.safe_load(config.read_text())
    broken = {**raw["tenants"][0], "name": "broken", "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_BAD"}}}
    del broken["enforce"]
    raw["tenants"].append(broken)
    port = free_port()
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}}
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setitem(os.environ, "ITDR_TEST_BAD", "revoked-token-kafka-000000000000")
    monkeypatch.setitem(os.environ, "ITDR_TEST_ADMIN", ADMIN)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {ADMIN}"}

    async def get(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            async with http.get(base + path, headers=headers) as resp:
                return resp.status, await resp.json()
        except aiohttp.ClientError:
            return 0, None

    async def tenants(http: aiohttp.ClientSession, role: Role) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while True:
            assert role.alive(), role.tail()
            status, body = await get(http, "/api/v1/tenants", auth)
            if status == 200:
                by_name = {t["tenant"]: t for t in body["tenants"]}
                if by_name["acme"]["status"] == "success" and by_name["broken"]["status"] == "error":
                    return by_name
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.2)

    async with aiohttp.ClientSession() as http:
        role = await Role("poller", config, tmp_path / "poller.log").start()
        try:
            first = await tenants(http, role)
            assert first["broken"]["error"]["code"] == "E0000011"
            status, ready = await get(http, "/readyz", {})
            assert status == 503 and ready["reasons"] == [
                "tenant broken: no successful poll yet (E0000011: Invalid token provided)"
            ]
            role.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]  # no reload here: said, not fatal
            await asyncio.sleep(1.0)
            assert role.alive() and "config.reload_unsupported" in role.tail(), role.tail()
        finally:
            assert await role.stop() == 0, role.tail()
        stored = {k.decode(): orjson.loads(v) for k, v in await read_topic(kafka_bootstrap, Topics("status.").status)}
        assert stored["broken"]["error_code"] == "E0000011" and stored["acme"]["first_connected"]

        await asyncio.sleep(1.1)  # a new first connection would read differently
        role = await Role("poller", config, tmp_path / "poller2.log").start()
        try:
            again = await tenants(http, role)
            assert again["acme"]["first_connected"] == first["acme"]["first_connected"]
        finally:
            assert await role.stop() == 0, role.tail()
