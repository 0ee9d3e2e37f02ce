"""Embedded mode: every stage in one process, joined by the SQLite bus.

poller (per tenant) → okta.events → detection stage → itdr.findings → {alert
output, action worker}. Each consumer keeps its own committed offset, so each
resumes where it stopped after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from detections.engine import Engine
from detector.config import Config
from detector.ingest.poller import TenantPoller
from detector.ops.metrics import Metrics, start_series
from detector.private_files import private_dir
from detector.redaction_key import redaction_key
from detector.respond.actions import ActionWorker, TenantResponder, action_latency
from detector.respond.alerts import JsonlSink
from detector.respond.ledger import ActionRecord, SqliteLedger
from detector.stream.bus import FINDINGS
from detector.stream.detect_stage import DetectionStage
from detector.stream.embedded import EmbeddedBus, Stored
from detector.tenants import OktaClients, engine_for, poller_settings, redactor_for, responder

log = structlog.get_logger(__name__)

FindingHook = Callable[[dict[str, Any]], None]
ActionHook = Callable[[ActionRecord], None]
EVENT_DEDUPE_WINDOW_S = 24 * 3600


@dataclass
class EmbeddedPipeline:
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    on_finding: FindingHook | None = None
    on_action: ActionHook | None = None
    bus: EmbeddedBus = field(init=False)
    ledger: SqliteLedger = field(init=False)
    pollers: dict[str, TenantPoller] = field(init=False, default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        private_dir(self.config.data_dir)
        key = redaction_key(self.config)
        self.bus = await EmbeddedBus(self.config.db_path).open()
        self.ledger = await SqliteLedger(self.config.db_path).open()
        try:
            async with OktaClients(self.metrics) as clients:
                await self._run(stop, clients, key)
        finally:
            await self.ledger.close()
            await self.bus.close()

    async def _run(self, stop: asyncio.Event, clients: OktaClients, key: bytes) -> None:
        start_series(self.metrics, self.config, ("poll", "detect", "act"))
        engines: dict[str, Engine] = {}
        responders: dict[str, TenantResponder] = {}
        for tenant in self.config.tenants:
            self.pollers[tenant.name] = TenantPoller(
                tenant.name,
                clients.reader(tenant),
                self.bus,
                self.metrics,
                poller_settings(tenant),
                redactor=redactor_for(tenant, key),
            )
            engines[tenant.name] = engine_for(tenant)
            responders[tenant.name] = responder(tenant, clients)

        stage = DetectionStage(self.bus, engines, self.metrics)
        worker = ActionWorker(responders, self.ledger)
        jsonl = JsonlSink(self.config.findings_path)
        tasks = [asyncio.create_task(p.run(stop), name=f"poller:{n}") for n, p in self.pollers.items()]
        tasks += [
            asyncio.create_task(stage.run(stop), name="detections"),
            asyncio.create_task(self._consume("alerts", stop, self._alerts(jsonl)), name="alerts"),
            asyncio.create_task(self._consume("actions", stop, self._actions(worker)), name="actions"),
            asyncio.create_task(self._prune(stop), name="prune"),
            asyncio.create_task(worker.watch_breakers(self.metrics.set_breaker), name="breakers"),
        ]
        try:
            await _first_failure(tasks, stop)
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _consume(
        self, group: str, stop: asyncio.Event, handle: Callable[[list[Stored]], Awaitable[None]]
    ) -> None:
        """At-least-once consumer of itdr.findings: handle a batch, then commit its offset."""
        offset = await self.bus.committed(group)
        while not stop.is_set():
            batch = await self.bus.read(FINDINGS, offset, 100)
            if not batch:
                await self.bus.wait(FINDINGS, timeout=0.5)
                continue
            await handle(batch)
            offset = batch[-1].offset
            await self.bus.commit(group, offset)

    def _alerts(self, jsonl: JsonlSink) -> Callable[[list[Stored]], Awaitable[None]]:
        written = jsonl.last_seq()

        async def handle(batch: list[Stored]) -> None:
            fresh = [(s.offset, orjson.loads(s.value)) for s in batch if s.offset > written]
            await asyncio.to_thread(jsonl.write, fresh)
            for _, finding in fresh:
                if self.on_finding:
                    self.on_finding(finding)

        return handle

    def _actions(self, worker: ActionWorker) -> Callable[[list[Stored]], Awaitable[None]]:
        async def handle(batch: list[Stored]) -> None:
            for stored in batch:
                finding = orjson.loads(stored.value)
                for record in await worker.handle(finding):
                    latency = action_latency(finding, record)
                    self.metrics.action_decided(record.tenant, record.action, record.status.value, latency)
                    if self.on_action:
                        self.on_action(record)

        return handle

    async def _prune(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 600)
            await self.bus.prune_events(EVENT_DEDUPE_WINDOW_S, [DetectionStage.group])


async def _first_failure(tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    """Run until stop; a stage that crashes stops the whole pipeline (and is re-raised), never silently."""
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
