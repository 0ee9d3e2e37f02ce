"""The admin API of an embedded daemon: tenant status (Success / In progress / Error), readiness, sync,
findings, the bearer token, no secret in any answer, and one daemon per data directory."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from deploy.kafka.broker import free_port
from detector.cli import main
from detector.config import Config, parse_config
from detector.datadir_lock import DataDirInUse
from detector.ops.http import serving
from detector.pipeline import EmbeddedPipeline

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict
from .test_embedded_pipeline import clears, inject_push_bombing

ADMIN_TOKEN = "admin-token-5f0c2b9e7d41a3c8"
SECRETS = (READ_TOKEN, ENFORCE_TOKEN, ADMIN_TOKEN, "revoked-token-0000000000000000")


def two_tenants(sim: Sim, data_dir: Path, port: int, monkeypatch: pytest.MonkeyPatch, **poll: Any) -> Config:
    """``acme`` works; ``broken`` has a revoked read token (the simulator answers 401 E0000011). Also
    written to ``<data_dir>/../itdr.yaml`` for the CLI."""
    for name, value in (
        ("ITDR_TEST_READ_TOKEN", READ_TOKEN),
        ("ITDR_TEST_ENFORCE_TOKEN", ENFORCE_TOKEN),
        ("ITDR_TEST_REVOKED", SECRETS[3]),
        ("ITDR_TEST_ADMIN", ADMIN_TOKEN),
    ):
        monkeypatch.setenv(name, value)
    raw = config_dict(sim, data_dir, poll={"interval_s": 0.05, "lookback_minutes": 60, **poll})
    acme = raw["tenants"][0]
    broken = {**acme, "name": "broken", "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_REVOKED"}}}
    del broken["enforce"]
    raw["tenants"].append(broken)
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}}
    (data_dir.parent / "itdr.yaml").write_text(yaml.safe_dump(raw))
    return parse_config(raw)


@contextlib.asynccontextmanager
async def daemon(config: Config) -> AsyncIterator[EmbeddedPipeline]:
    pipeline = EmbeddedPipeline(config)
    stop = asyncio.Event()
    async with serving(pipeline.metrics.registry, "embedded", config.http, pipeline.api()):
        task = asyncio.create_task(pipeline.run(stop))
        try:
            yield pipeline
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def eventually(check, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_status_readiness_findings_and_the_token(sim: Sim, tmp_path: Path, monkeypatch):
    port = free_port()
    config = two_tenants(sim, tmp_path, port, monkeypatch)
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, victim, time.time() - 120)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answers: list[str] = []
    async with daemon(config), aiohttp.ClientSession() as http:

        async def get(path: str, headers: dict | None = None) -> tuple[int, Any]:
            async with http.get(base + path, headers=auth if headers is None else headers) as resp:
                answers.append(await resp.text())
                return resp.status, await resp.json()

        async def tenants_known() -> Any:
            _, body = await get("/api/v1/tenants")
            by_name = {t["tenant"]: t for t in body["tenants"]}
            return (
                by_name if by_name["broken"]["status"] == "error" and by_name["acme"]["status"] == "success" else None
            )

        by_name = await eventually(tenants_known)
        acme, broken = by_name["acme"], by_name["broken"]
        assert acme["first_connected"] and acme["last_success"] and acme["lag_seconds"] is not None
        assert acme["recent_polls"] and acme["recent_polls"][0]["error"] is None and not acme["slow"]
        assert broken["error"]["code"] == "E0000011" and broken["error"]["summary"] == "Invalid token provided"
        assert broken["first_connected"] is None and broken["recent_polls"][0]["error"].startswith("E0000011")

        status, ready = await get("/readyz", headers={})
        assert status == 503 and ready["reasons"] == [
            "tenant broken: no successful poll yet (E0000011: Invalid token provided)"
        ]
        assert (await get("/healthz", headers={}))[0] == 200

        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
            status, body = await get("/api/v1/tenants", headers=headers)
            assert status == 401 and "token" in body["error"]
        assert (await get("/api/v1/tenants/nope"))[0] == 404

        await eventually(lambda: asyncio.sleep(0, clears(sim)))

        async def listed(path: str, key: str) -> list[Any]:  # get() answers at once: wait for the rows
            return (await get(path))[1][key]

        (accepted,) = await eventually(
            lambda: listed("/api/v1/findings?tenant=acme&detection=mfa_push_accepted&tier=high-confidence", "findings")
        )
        assert accepted["principal"] == victim["id"]
        assert (await get("/api/v1/findings?tenant=broken"))[1] == {"findings": []}
        assert (await get("/api/v1/findings?tier=severe"))[0] == 400
        assert (await get("/api/v1/findings?since=2999-01-01T00:00:00Z"))[1] == {"findings": []}
        (incident,) = await eventually(lambda: listed("/api/v1/incidents?tenant=acme&status=open", "incidents"))
        assert incident["entity"] == f"user:{victim['id']}" and incident["severity"] == "high-confidence"
        status, one = await get(f"/api/v1/incidents/{incident['key']}")
        assert status == 200 and one["deliveries"] == [] and one["actions"][0]["status"] == "done"
        async with http.post(
            f"{base}/api/v1/incidents/{incident['key']}/resolve", headers=auth, json={"by": "ana", "note": "contained"}
        ) as resp:
            resolved = await resp.json()
        assert resolved["status"] == "resolved" and resolved["resolution"]["by"] == "operator:ana"
        assert (await get("/api/v1/incidents?status=open"))[1] == {"incidents": []}
        assert (await get("/api/v1/incidents/inc-nope"))[0] == 404

        async def connection_known() -> Any:
            _, body = await get("/api/v1/tenants/broken")
            return body["connection"]

        checked = await eventually(connection_known)  # run at start: part of the status
        assert not checked["ok"] and "system_log" in checked["disabled"]
        (logs,) = [p for p in checked["permissions"] if p["permission"] == "read_logs"]
        assert logs["result"] == "error" and logs["error"]["code"] == "E0000011"
        async with http.post(base + "/api/v1/tenants/acme/test-connection", headers=auth) as resp:
            report = await resp.json()
            answers.append(str(report))
        assert resp.status == 200 and report["ok"] and report["tenant"] == "acme"
        async with http.get(base + "/metrics") as resp:
            metrics = await resp.text()
            answers.append(metrics)
        assert 'itdr_tenant_status{status="error",tenant="broken"} 1.0' in metrics

    for secret in SECRETS:
        assert not any(secret in answer for answer in answers), "a secret in an API answer"


async def test_status_survives_a_restart_and_sync_polls_at_once(sim: Sim, tmp_path: Path, monkeypatch):
    port = free_port()
    config = two_tenants(sim, tmp_path, port, monkeypatch)
    async with daemon(config) as pipeline:
        await eventually(lambda: asyncio.sleep(0, pipeline.status.tenants["acme"].first_connected))
        first = pipeline.status.view("acme")[0]["first_connected"]

    await asyncio.sleep(1.1)  # a first connection now would read differently (second resolution)
    slow = two_tenants(sim, tmp_path, port, monkeypatch, interval_s=300)  # only a sync makes it poll again
    async with daemon(slow) as pipeline, aiohttp.ClientSession() as http:
        await eventually(lambda: asyncio.sleep(0, pipeline.status.tenants["acme"].polled_since_start))
        acme = pipeline.status.tenants["acme"]
        assert pipeline.status.view("acme")[0]["first_connected"] == first  # from the data directory
        polls = len(acme.polls)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with http.post(f"http://127.0.0.1:{port}/api/v1/tenants/acme/sync", headers=headers) as resp:
            assert resp.status == 202
        await eventually(lambda: asyncio.sleep(0, len(acme.polls) > polls), timeout=5)


async def test_a_second_daemon_on_the_same_data_dir_is_refused(sim: Sim, tmp_path: Path, monkeypatch):
    config = two_tenants(sim, tmp_path, free_port(), monkeypatch)
    async with daemon(config) as first:
        await eventually(lambda: asyncio.sleep(0, first.status.tenants["acme"].polled_since_start))
        with pytest.raises(DataDirInUse, match=r"is in use by another detector \(pid \d+\)"):
            await EmbeddedPipeline(config).run(asyncio.Event())


async def test_detector_status_asks_the_daemon_and_reads_the_data_dir_when_it_is_down(
    sim: Sim, tmp_path: Path, monkeypatch, capfd
):
    config = two_tenants(sim, tmp_path / "data", free_port(), monkeypatch)
    argv = ["status", "--config", str(tmp_path / "itdr.yaml"), "--output", "json"]
    async with daemon(config) as pipeline:
        await eventually(lambda: asyncio.sleep(0, pipeline.status.tenants["acme"].polled_since_start))
        await eventually(lambda: asyncio.sleep(0, pipeline.status.tenants["broken"].error_code))
        assert await asyncio.to_thread(main, argv) == 1  # a tenant in error
        live = printed(capfd.readouterr().out)
    assert live["source"].startswith("the daemon at http://127.0.0.1:")
    assert {t["tenant"]: t["status"] for t in live["tenants"]} == {"acme": "success", "broken": "error"}

    assert await asyncio.to_thread(main, argv) == 1
    stored = printed(capfd.readouterr().out)
    assert stored["source"] == f"data in {tmp_path / 'data'}"
    by_name = {t["tenant"]: t for t in stored["tenants"]}
    assert by_name["broken"]["status"] == "error" and by_name["broken"]["error"]["code"] == "E0000011"
    assert by_name["acme"]["status"] == "in_progress" and by_name["acme"]["first_connected"]  # not polled now

    assert await asyncio.to_thread(main, argv[:-2]) == 1
    table = capfd.readouterr().out
    assert "broken" in table and "E0000011: Invalid token provided" in table and "\x1b" not in table


def printed(out: str) -> Any:
    """The JSON document `detector status` printed (the daemon's own log lines share stdout here)."""
    return orjson.loads(out[out.index('{\n  "source"') :])


async def test_detector_incidents_list_and_show(sim: Sim, tmp_path: Path, monkeypatch, capsys):
    config = two_tenants(sim, tmp_path / "data", free_port(), monkeypatch)
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    inject_push_bombing(sim, victim, time.time() - 120)
    async with daemon(config):
        await eventually(lambda: asyncio.sleep(0, clears(sim)))
        await asyncio.sleep(0.5)
    capsys.readouterr()
    argv = ["incidents", "--config", str(tmp_path / "itdr.yaml")]
    assert await asyncio.to_thread(main, [*argv, "--output", "jsonl", "list"]) == 0
    (incident,) = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert await asyncio.to_thread(main, [*argv, "show", incident["key"]]) == 0
    shown = capsys.readouterr().out
    assert "Push accepted after MFA bombing" in shown and "action clear_sessions: done" in shown
    assert await asyncio.to_thread(main, [*argv, "show", "inc-nope"]) == 1
