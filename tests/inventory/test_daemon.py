"""Embedded mode: the inventory is synced at start, kept current from the System Log, shown in tenant status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from detector.config import parse_config
from detector.okta import OktaClient, SswsAuth
from detector.pipeline import EmbeddedPipeline

from .conftest import TOKEN, Sim


def daemon_config(sim: Sim, data_dir: Path, monkeypatch: pytest.MonkeyPatch, **tenant: Any) -> Any:
    monkeypatch.setenv("ITDR_TEST_INVENTORY_TOKEN", TOKEN)
    return parse_config(
        {
            "data_dir": str(data_dir),
            "tenants": [
                {
                    "name": "acme",
                    "org_url": sim.url,
                    "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_INVENTORY_TOKEN"}},
                    "poll": {"interval_s": 0.05, "lookback_minutes": 60},
                    **tenant,
                }
            ],
        }
    )


async def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def sample(pipeline: EmbeddedPipeline, name: str, **labels: str) -> float | None:
    return pipeline.metrics.registry.get_sample_value(name, labels)


async def test_synced_at_start_and_kept_current_from_events(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = sim.org.add_user("ann@acme.com", factors=("push", "sms"))
    sim.org.add_user("bob@acme.com")
    sim.org.set_roles(ann["id"], ["SUPER_ADMIN"])
    pipeline = EmbeddedPipeline(daemon_config(sim, tmp_path / "data", monkeypatch))
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        view = await until(
            lambda: (
                (pipeline.status.view()[0]["inventory"] or {}).get("state") == "success"
                and pipeline.status.view()[0]["inventory"]
            )
        )
        assert view["counts"]["user"] == 2 and view["counts"]["factor"] == 3 and view["counts"]["role"] == 1
        assert view["counts"]["group"] == 1 and view["counts"]["app"] == 2  # Everyone; Admin Console, Dashboard
        assert view["skipped"] == {} and view["duration_s"] >= 0 and view["finished"]
        assert sample(pipeline, "itdr_inventory_records", tenant="acme", kind="user") == 2
        assert sample(pipeline, "itdr_inventory_sync_errors_total", tenant="acme") == 0
        assert sample(pipeline, "itdr_inventory_last_success_timestamp_seconds", tenant="acme") > 0
        async with OktaClient(sim.url, SswsAuth(TOKEN)) as client:
            await client.lifecycle(ann["id"], "suspend")  # Okta writes user.lifecycle.suspend

        async def suspended() -> bool:
            user = await pipeline.inventory.get("acme", "user", ann["id"])
            return user is not None and user.status == "SUSPENDED"

        await until(suspended)
        assert sample(pipeline, "itdr_inventory_events_total", tenant="acme", effect="updated") >= 1

        app = web.Application()
        app.add_routes(pipeline.api().routes)
        async with TestClient(TestServer(app)) as http:
            resp = await http.post("/api/v1/tenants/acme/inventory/sync")
            assert resp.status == 202
            assert (await http.post("/api/v1/tenants/nope/inventory/sync")).status == 404
        second = await until(
            lambda: (
                (pipeline.status.view()[0]["inventory"] or {}).get("state") == "success"
                and pipeline.status.view()[0]["inventory"]["generation"] == view["generation"] + 1
                and pipeline.status.view()[0]["inventory"]
            )
        )
        assert second["counts"]["user"] == 2  # the same org, read again at once rather than in 6 h
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_disabled_inventory_is_not_synced(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.org.add_user("ann@acme.com")
    config = daemon_config(sim, tmp_path / "data", monkeypatch, inventory={"enabled": False})
    pipeline = EmbeddedPipeline(config)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await until(lambda: pipeline.status.view()[0]["status"] == "success")
        await asyncio.sleep(0.3)
        assert pipeline.status.view()[0]["inventory"] is None
        assert not [s for s in sim.seen if s[0] == "/api/v1/users" and "limit=200" in s[1]]  # test connection: limit=1
        assert sample(pipeline, "itdr_inventory_sync_errors_total", tenant="acme") is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
