"""A running embedded daemon (its real admin HTTP server) against the simulator, with a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from deploy.kafka.broker import free_port
from detections.testkit import oie_push_accept, oie_push_deny, push_sent
from detector.config import Config, parse_config
from detector.ops.http import serving
from detector.pipeline import EmbeddedPipeline
from detector.respond.ledger import ActionRecord, Status
from tests.pipeline import conftest as pipeline
from tests.pipeline.conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict

sim = pipeline.sim  # the simulator fixture

ADMIN_TOKEN = "admin-token-response-0123456789"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ATTACKER = {"ip": "185.220.101.4", "debug": {"behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE}"}}


class Clock:
    """Real time plus whatever the test skipped ahead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += seconds


def push_bombing(sim: Sim, user: dict[str, Any], t0: float, denials: int = 6) -> None:
    """Denied pushes then an accepted one from a new place: mfa_push_accepted earns clear_sessions."""
    who = {"user": user["id"], "login": user["profile"]["login"]}
    sim.org.append(push_sent(t0, **who, **ATTACKER))
    for i in range(denials):
        sim.org.append(oie_push_deny(t0 + 1 + i * 5, **who, **ATTACKER))
    sim.org.append(oie_push_accept(t0 + 2 + denials * 5, **who, **ATTACKER))


def response_config(
    sim: Sim,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    response: dict[str, Any],
    tenant: dict[str, Any] | None = None,
    **top: Any,
) -> Config:
    """The daemon's config (also written to ``<data_dir>/../itdr.yaml`` for the CLI), its admin API on."""
    for name, value in (
        ("ITDR_TEST_READ_TOKEN", READ_TOKEN),
        ("ITDR_TEST_ENFORCE_TOKEN", ENFORCE_TOKEN),
        ("ITDR_TEST_ADMIN", ADMIN_TOKEN),
        ("ITDR_TEST_SLACK", SLACK_SECRET),
    ):
        monkeypatch.setenv(name, value)
    port = free_port()
    raw = config_dict(sim, data_dir, response=response, **(tenant or {}))
    raw["http"] = {"port": port, "token": {"env": "ITDR_TEST_ADMIN"}, "public_url": f"http://127.0.0.1:{port}"}
    raw["approvals"] = {"slack_signing_secret": {"env": "ITDR_TEST_SLACK"}}
    raw.update(top)
    (data_dir.parent / "itdr.yaml").write_text(yaml.safe_dump(raw))
    return parse_config(raw)


@dataclass
class Daemon:
    pipeline: EmbeddedPipeline
    http: aiohttp.ClientSession
    base: str
    records: list[ActionRecord] = field(default_factory=list)
    undone: list[ActionRecord] = field(default_factory=list)

    async def api(self, method: str, path: str, body: Any = None, *, token: bool = True) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else {}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    def latest(self, action: str | None = None) -> dict[str, ActionRecord]:
        """The newest record of each action id (of one action, if given)."""
        return {r.action_id: r for r in self.records if action in (None, r.action)}

    async def until(self, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            assert time.monotonic() < deadline, "not in time"
            await asyncio.sleep(0.05)
        return result

    async def record_in(self, status: Status, timeout: float = 20.0) -> ActionRecord:
        return await self.until(lambda: next((r for r in self.records if r.status is status), None), timeout)


@contextlib.asynccontextmanager
async def running(config: Config, clock: Clock | None = None) -> AsyncIterator[Daemon]:
    pipeline = EmbeddedPipeline(config, clock=clock or Clock(), sweep_interval_s=0.1)
    stop = asyncio.Event()
    assert config.http is not None
    async with (
        serving(pipeline.metrics.registry, "embedded", config.http, pipeline.api()),
        aiohttp.ClientSession() as http,
    ):
        daemon = Daemon(pipeline, http, f"http://127.0.0.1:{config.http.port}")
        pipeline.on_action, pipeline.on_undo = daemon.records.append, daemon.undone.append
        task = asyncio.create_task(pipeline.run(stop))
        try:
            await daemon.until(lambda: pipeline._desk is not None or task.done())
            assert not task.done(), task
            yield daemon
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def clears(sim: Sim) -> list[Any]:
    return [c for c in sim.org.calls if c.action == "clear_sessions"]
