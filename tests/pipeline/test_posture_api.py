"""The admin API's ``GET /api/v1/tenants/{name}/posture`` of an embedded daemon, from its stored inventory."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from deploy.kafka.broker import free_port
from detector.config import parse_config
from tests.posture.test_cli import HOSTILE_TOKEN, hostile, store_inventory

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict
from .test_admin_api import ADMIN_TOKEN, daemon, eventually


async def test_the_admin_api_serves_the_posture(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    port = free_port()
    monkeypatch.setenv("ITDR_TEST_READ_TOKEN", READ_TOKEN)
    monkeypatch.setenv("ITDR_TEST_ENFORCE_TOKEN", ENFORCE_TOKEN)
    monkeypatch.setenv("ITDR_TEST_ADMIN", ADMIN_TOKEN)
    raw = config_dict(sim, tmp_path / "data", inventory={"enabled": False})  # the inventory is the one stored here
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}}
    config = parse_config(raw)
    await store_inventory(config.db_path, hostile())
    base = f"http://127.0.0.1:{port}/api/v1/tenants"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with daemon(config), aiohttp.ClientSession() as http:

        async def posture() -> dict | None:
            async with http.get(f"{base}/acme/posture", headers=auth) as resp:
                return await resp.json() if resp.status == 200 else None

        report = await eventually(posture)
        assert report["tenant"] == "acme" and len(report["findings"]) == 3
        token = next(f for f in report["findings"] if f["detection"] == "posture_api_token_unrestricted")
        assert any(HOSTILE_TOKEN in e["label"] for e in token["evidence"])  # JSON: the value as it is
        async with http.get(f"{base}/acme/posture") as resp:
            assert resp.status == 401
        async with http.get(f"{base}/nope/posture", headers=auth) as resp:
            assert resp.status == 404
