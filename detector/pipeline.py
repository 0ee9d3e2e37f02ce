"""Embedded mode: every stage in one process, joined by the SQLite bus.

poller (per tenant) → okta.events → detection stage → itdr.findings → {alert
output, action worker}. Each consumer keeps its own committed offset, so each
resumes where it stopped after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog

from detector.config import Config, ConfigError, TenantConfig
from detector.datadir_lock import DataDirLock
from detector.ingest.poller import TenantPoller
from detector.logsetup import configure_logging
from detector.ops.api import FindingsQuery, findings_routes, reload_routes, tenant_routes
from detector.ops.http import Api
from detector.ops.metrics import Metrics
from detector.ops.status import StatusBoard
from detector.redaction_key import redaction_key
from detector.respond.actions import ActionWorker, TenantResponder
from detector.respond.alerts import JsonlSink
from detector.respond.allowlist import Allowlist
from detector.respond.decisions import Decisions
from detector.respond.ledger import ActionRecord, SqliteLedger
from detector.respond.routes import ResponseDesk, response_routes
from detector.stream.bus import FINDINGS
from detector.stream.detect_stage import DetectionStage
from detector.stream.embedded import EmbeddedBus, Stored
from detector.tenants import (
    OktaClients,
    engine_for,
    link_signer,
    poller_settings,
    redactor_for,
    responder,
    slack_requests,
    validated_config,
)

log = structlog.get_logger(__name__)

FindingHook = Callable[[dict[str, Any]], None]
ActionHook = Callable[[ActionRecord], None]
EVENT_DEDUPE_WINDOW_S = 24 * 3600


@dataclass
class EmbeddedPipeline:
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    on_finding: FindingHook | None = None
    on_action: ActionHook | None = None  # every action decision (auto, asked, approved, denied, expired, undone)
    on_undo: ActionHook | None = None  # an action undone: its incident is resolved
    clock: Callable[[], float] = time.time  # what response control reads the time from (expiry, staleness)
    sweep_interval_s: float = 5.0  # how often approval requests past their expiry are expired
    bus: EmbeddedBus = field(init=False)
    ledger: SqliteLedger = field(init=False)
    allowlist: Allowlist = field(init=False)
    config_path: Path | None = None  # what a reload (SIGHUP, POST /api/v1/reload) re-reads
    pollers: dict[str, TenantPoller] = field(init=False, default_factory=dict)
    status: StatusBoard = field(init=False)
    _polling: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = field(init=False, default_factory=dict)
    _responders: dict[str, TenantResponder] = field(init=False, default_factory=dict)
    _desk: ResponseDesk | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        slow = {t.name: t.poll.slow_sync_s for t in self.config.tenants}
        self.status = StatusBoard([t.name for t in self.config.tenants], self.metrics, slow_after_s=slow)

    def api(self) -> Api:
        """The admin API of an embedded daemon: tenant status and sync, findings, response control, readiness."""

        async def findings(q: FindingsQuery) -> list[dict[str, Any]]:
            return await self.bus.query_findings(q.tenant, q.detection, q.tier, q.since, q.limit)

        response, public = response_routes(lambda: self._desk)
        routes = [*tenant_routes(self.status, self.sync), *findings_routes(findings), *reload_routes(self.reload)]
        return Api(routes=[*routes, *response], public=public, readiness=self.not_ready)

    def sync(self, tenant: str) -> bool:
        poller = self.pollers.get(tenant)
        if poller is not None:
            poller.sync_now()
        return poller is not None

    def not_ready(self) -> list[str]:
        return (["bus: the SQLite file is not open yet"] if not hasattr(self, "bus") else []) + self.status.not_ready()

    async def run(self, stop: asyncio.Event) -> None:
        with DataDirLock(self.config.data_dir):
            self._key = redaction_key(self.config)
            self.bus = await EmbeddedBus(self.config.db_path).open()
            self.ledger = await SqliteLedger(self.config.db_path).open()
            self.allowlist = await Allowlist(self.config.db_path).open()
            try:
                self.status.store = self.bus
                await self.status.load()
                async with OktaClients() as clients:
                    await self._run(stop, clients)
            finally:
                self._desk = None
                await self.allowlist.close()
                await self.ledger.close()
                await self.bus.close()

    async def _run(self, stop: asyncio.Event, clients: OktaClients) -> None:
        self._clients = clients
        self._stage = DetectionStage(self.bus, {}, self.metrics)
        links = link_signer(self.config)
        worker = ActionWorker(
            self._responders,
            self.ledger,
            links=links,
            allowlist=self.allowlist,
            clock=self.clock,
            on_record=self._recorded,
        )
        decisions = Decisions(worker, on_undo=self.on_undo)
        for tenant in self.config.tenants:
            self._engines_init(tenant)
        self._desk = ResponseDesk(
            decisions, self.allowlist, links, slack_requests(self.config, self.clock), lambda: list(self._responders)
        )
        jsonl = JsonlSink(self.config.findings_path)
        tasks = [
            asyncio.create_task(self._stage.run(stop), name="detections"),
            asyncio.create_task(self._consume("alerts", stop, self._alerts(jsonl)), name="alerts"),
            asyncio.create_task(self._consume("actions", stop, self._actions(worker)), name="actions"),
            asyncio.create_task(self._prune(stop), name="prune"),
            asyncio.create_task(decisions.run_sweeps(stop, self.sweep_interval_s), name="approval-sweep"),
        ]
        for tenant in self.config.tenants:
            self._start_polling(tenant)
        try:
            await _first_failure(tasks, stop)
        finally:
            stop.set()
            for name in list(self._polling):
                await self._stop_polling(name)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- tenants: started at start, and added, changed or removed by a reload -----------------

    def _engines_init(self, tenant: TenantConfig) -> None:
        """Before the stage starts: its engines are loaded with their state by ``stage.start``."""
        self._stage.engines[tenant.name] = engine_for(tenant)
        self._stage.detect.track(tenant.name)
        self._responders[tenant.name] = responder(tenant, self._clients)

    def _start_polling(self, tenant: TenantConfig) -> None:
        reader = self._clients.reader(tenant)
        poller = TenantPoller(
            tenant.name,
            reader,
            self.bus,
            self.metrics,
            poller_settings(tenant),
            redactor=redactor_for(tenant, self._key),
            on_poll=self.status.record,
        )
        stop = asyncio.Event()
        self.pollers[tenant.name] = poller
        self._polling[tenant.name] = (stop, asyncio.create_task(poller.run(stop), name=f"poller:{tenant.name}"))

    async def _stop_polling(self, name: str) -> None:
        stop, task = self._polling.pop(name)
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._clients.release(self.pollers.pop(name).client)

    async def reload(self) -> list[str]:
        """Re-read the config file and its secrets; apply what changed to the tenants. A config that fails
        validation raises ConfigError and nothing changes. Returns what was done, one line each."""
        if self.config_path is None:
            raise ConfigError("this daemon was not started from a config file")
        new, secrets = await asyncio.to_thread(validated_config, self.config_path)
        configure_logging(new.log_level, secrets)  # the log redactor learns the rotated secrets first
        done = [f"{field} changed: it takes effect at the next restart" for field in _fixed_fields(self.config, new)]
        old_tenants = {t.name: t for t in self.config.tenants}
        new_tenants = {t.name: t for t in new.tenants}
        for name in old_tenants.keys() - new_tenants.keys():
            await self._stop_polling(name)
            await self._stage.set_engine(name, None)
            await self._clients.release(self._responders.pop(name).client)
            self.status.forget(name)
            done.append(f"tenant {name} removed")
        for name, tenant in new_tenants.items():
            if name in old_tenants and old_tenants[name] == tenant:
                self._clients.rotate(tenant, self.pollers[name].client, self._responders[name].client)
                continue
            if name in old_tenants:
                await self._stop_polling(name)
                await self._clients.release(self._responders.pop(name).client)
            self.status.track(name, tenant.poll.slow_sync_s)
            await self._stage.set_engine(name, engine_for(tenant))
            self._responders[name] = responder(tenant, self._clients)
            self._start_polling(tenant)
            done.append(f"tenant {name} {'changed: restarted' if name in old_tenants else 'added'}")
        self.config = new
        done.append("secrets re-read: rotated tokens are used from the next request")
        log.info("config.reloaded", changes=done)
        return done

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
            fresh = [(s.offset, await self.allowlisted(orjson.loads(s.value))) for s in batch if s.offset > written]
            await asyncio.to_thread(jsonl.write, fresh)
            for _, finding in fresh:
                if self.on_finding:
                    self.on_finding(finding)

        return handle

    async def allowlisted(self, finding: dict[str, Any]) -> dict[str, Any]:
        """The finding, marked ``allowlisted: <reason>`` when an entry covers it: it is still written and
        folded into its incident, only no action runs (the action worker checks the same entries)."""
        entry = await self.allowlist.match(finding, self.clock())
        if entry is None:
            return finding
        log.info("finding.allowlisted", tenant=finding["tenant"], detection=finding["detection"], entry=entry.entry_id)
        return {**finding, "allowlisted": entry.label()}

    def _actions(self, worker: ActionWorker) -> Callable[[list[Stored]], Awaitable[None]]:
        async def handle(batch: list[Stored]) -> None:
            for stored in batch:
                await worker.handle(orjson.loads(stored.value))

        return handle

    def _recorded(self, record: ActionRecord) -> None:
        self.metrics.actions.labels(record.tenant, record.action, record.status.value).inc()
        if self.on_action:
            self.on_action(record)

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


def _fixed_fields(old: Config, new: Config) -> list[str]:
    """Settings a running daemon cannot change under itself (where its data lives, its transport, its port)."""
    return [
        name
        for name in ("data_dir", "findings_jsonl", "kafka", "http", "redaction_key", "approvals")
        if getattr(old, name) != getattr(new, name)
    ]
