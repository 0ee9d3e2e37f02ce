"""Embedded mode: every stage in one process, joined by the SQLite bus.

poller (per tenant) → okta.events → detection stage → itdr.findings → {alert
output, action worker}. Each consumer keeps its own committed offset, so each
resumes where it stopped after a restart. Beside them, per tenant, the directory
inventory's full sync (detector/inventory/), and a consumer of okta.events that
keeps the inventory current between syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog

from detector.config import Config, ConfigError, TenantConfig
from detector.connection import check_connection
from detector.datadir_lock import DataDirLock
from detector.ingest.poller import TenantPoller
from detector.inventory.events import InventoryUpdater
from detector.inventory.facts import InventoryFacts, MirroredStore
from detector.inventory.model import Inventory
from detector.inventory.report import posture_report
from detector.inventory.review import PostureResults, Review, raise_after_sync, watched
from detector.inventory.schedule import SyncSchedule, sleep_until
from detector.inventory.store import SqliteInventoryStore
from detector.logsetup import configure_logging
from detector.okta.client import OktaClient
from detector.ops.api import (
    FindingsQuery,
    findings_routes,
    incident_routes,
    posture_routes,
    reload_routes,
    tenant_routes,
)
from detector.ops.http import Api, NotStarted
from detector.ops.metrics import Metrics, start_series
from detector.ops.status import StatusBoard
from detector.redaction_key import redaction_key
from detector.respond.actions import ActionWorker, TenantResponder
from detector.respond.alerts import JsonlSink
from detector.respond.allowlist import Allowlist
from detector.respond.channels.base import Channel
from detector.respond.channels.http import new_session
from detector.respond.decisions import Decisions
from detector.respond.incidents import Incident, IncidentBook
from detector.respond.ledger import ActionRecord, SqliteLedger
from detector.respond.outbox import Deliverer, Outbox, qualified, write_updates
from detector.respond.routes import ResponseDesk, response_routes
from detector.respond.stage import RespondStep
from detector.stream.bus import EVENTS, FINDINGS
from detector.stream.detect_stage import DetectionStage
from detector.stream.embedded import EmbeddedBus, Stored
from detector.tenants import (
    OktaClients,
    channels_for,
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
EXPIRY_EVERY_S = 60.0
INVENTORY_GROUP = "inventory"  # the consumer of okta.events that keeps the inventory current
STAGES = ("poll", "detect", "act", "inventory")
BatchHandler = Callable[[list["Stored"]], Awaitable["Callable[[sqlite3.Connection], object] | None"]]


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
    inventory: SqliteInventoryStore = field(init=False)  # the synced directory: posture, context
    posture: PostureResults = field(init=False)  # each tenant's last posture results
    config_path: Path | None = None  # what a reload (SIGHUP, POST /api/v1/reload) re-reads
    pollers: dict[str, TenantPoller] = field(init=False, default_factory=dict)
    status: StatusBoard = field(init=False)
    _polling: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = field(init=False, default_factory=dict)
    _syncing: dict[str, asyncio.Task[None]] = field(init=False, default_factory=dict)  # inventory, per tenant
    _inventory_wake: dict[str, asyncio.Event] = field(init=False, default_factory=dict)  # sync now
    _responders: dict[str, TenantResponder] = field(init=False, default_factory=dict)
    # each tenant's synced inventory as its engine and action worker read it; loaded from the store at start
    directories: dict[str, InventoryFacts] = field(init=False, default_factory=dict)
    _checks: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    _wake_deliveries: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _decided: asyncio.Event = field(init=False, default_factory=asyncio.Event)  # _dirty has decisions to write
    _dirty: dict[str, Incident] = field(init=False, default_factory=dict)  # incidents changed, not yet written
    _desk: ResponseDesk | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        slow = {t.name: t.poll.slow_sync_s for t in self.config.tenants}
        self.status = StatusBoard([t.name for t in self.config.tenants], self.metrics, slow_after_s=slow)

    def api(self) -> Api:
        """The admin API of an embedded daemon: tenant status and sync, findings, response control, readiness."""

        async def findings(q: FindingsQuery) -> list[dict[str, Any]]:
            self._started()
            return await self.bus.query_findings(q.tenant, q.detection, q.tier, q.since, q.limit)

        response, public = response_routes(lambda: self._desk)
        routes = [
            *tenant_routes(self.status, self.sync, self.test_connection, self.sync_inventory),
            *findings_routes(findings),
            *incident_routes(self._incidents, self._incident, self.resolve_incident),
            *reload_routes(self.reload),
            *posture_routes(self._posture),
            *response,
        ]
        return Api(routes=routes, public=public, readiness=self.not_ready)

    async def test_connection(self, tenant: str) -> dict[str, Any]:
        """What the tenant's credentials may do (no side effects on the org); also sets its metrics."""
        return await check_connection(next(t for t in self.config.tenants if t.name == tenant), self.metrics)

    def _started(self) -> None:
        if not hasattr(self, "incidents"):
            raise NotStarted("the daemon is starting: its data is not open yet")

    async def _posture(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's posture now, from its stored inventory; None for a tenant the config does not have."""
        self._started()
        config = next((t for t in self.config.tenants if t.name == tenant), None)
        if config is None:
            return None
        inventory = await self.inventory.load(tenant)
        # every check is a pass over the org (50k users): off the event loop
        return await asyncio.to_thread(posture_report, inventory, config.posture, time.time())

    async def _incidents(self, tenant: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        self._started()
        return await self.outbox.incidents(tenant, status, limit)

    async def _incident(self, key: str) -> dict[str, Any] | None:
        self._started()
        found = await self.outbox.incident(key)
        return None if found is None else {**found, "deliveries": await self.outbox.deliveries(key)}

    async def resolve_incident(self, key: str, by: str, note: str = "") -> dict[str, Any] | None:
        """An operator resolves an open incident: the channels get the resolution (PagerDuty resolves)."""
        self._started()
        incident = next((i for i in self.incidents.open.values() if i.key == key), None)
        if incident is None:
            return None
        self.incidents.resolve(incident, f"operator:{by}", time.time(), note)
        if await self.outbox.write([incident], self.channels):
            self._wake_deliveries.set()
        return incident.to_dict()

    def sync(self, tenant: str) -> bool:
        poller = self.pollers.get(tenant)
        if poller is not None:
            poller.sync_now()
        return poller is not None

    def sync_inventory(self, tenant: str) -> bool:
        """Start the tenant's next inventory sync now (a sync in progress goes on; the next follows it)."""
        wake = self._inventory_wake.get(tenant)
        if wake is not None:
            wake.set()
        return wake is not None

    def not_ready(self) -> list[str]:
        return (["bus: the SQLite file is not open yet"] if not hasattr(self, "bus") else []) + self.status.not_ready()

    async def run(self, stop: asyncio.Event) -> None:
        with DataDirLock(self.config.data_dir):
            self._key = redaction_key(self.config)
            self.bus = await EmbeddedBus(self.config.db_path).open()
            self.ledger = await SqliteLedger(self.config.db_path).open()
            self.outbox = await Outbox(self.config.db_path).open()
            self._session = new_session()
            self.allowlist = await Allowlist(self.config.db_path).open()
            self.inventory = await SqliteInventoryStore(self.config.db_path).open()
            self.posture = await PostureResults(self.config.db_path).open()
            try:
                self.status.store = self.bus
                await self.status.load()
                for tenant, synced in (await self.inventory.sync_status()).items():
                    self.status.set_inventory(tenant, synced)
                async with OktaClients(self.metrics) as clients:
                    await self._run(stop, clients)
            finally:
                self._desk = None
                await self.posture.close()
                await self.inventory.close()
                await self.allowlist.close()
                await self._session.close()
                await self.outbox.close()
                await self.ledger.close()
                await self.bus.close()

    async def _run(self, stop: asyncio.Event, clients: OktaClients) -> None:
        start_series(self.metrics, self.config, STAGES)
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
        decisions = Decisions(worker, on_undo=self._undone)
        for tenant in self.config.tenants:
            self._engines_init(tenant)
        self.channels = {t.name: channels_for(t, self._session) for t in self.config.tenants}
        self.incidents = IncidentBook(open_incidents=await self.outbox.open_incidents())
        respond = RespondStep(self.incidents, worker, self.metrics)
        self._deliverer = deliverer = Deliverer(
            self.outbox, _by_name(self.channels), self.metrics, wake=self._wake_deliveries
        )
        self._desk = ResponseDesk(
            decisions, self.allowlist, links, slack_requests(self.config, self.clock), lambda: list(self._responders)
        )
        jsonl = JsonlSink(self.config.findings_path)
        tasks = [
            asyncio.create_task(self._stage.run(stop), name="detections"),
            asyncio.create_task(self._consume("alerts", stop, self._alerts(jsonl)), name="alerts"),
            asyncio.create_task(self._consume("actions", stop, self._respond(respond)), name="respond"),
            asyncio.create_task(deliverer.run(stop), name="deliveries"),
            asyncio.create_task(self._write_decisions(stop), name="incident-decisions"),
            asyncio.create_task(self._expire(stop), name="incidents-expiry"),
            asyncio.create_task(self._prune(stop), name="prune"),
            asyncio.create_task(worker.watch_breakers(self.metrics.set_breaker), name="breakers"),
            asyncio.create_task(decisions.run_sweeps(stop, self.sweep_interval_s), name="approval-sweep"),
            asyncio.create_task(self._inventory_events(stop), name="inventory-events"),
        ]
        self._checks.add(asyncio.create_task(self._load_inventories(), name="inventory-load"))
        for tenant in self.config.tenants:
            self._start_polling(tenant)
        try:
            await _first_failure(tasks, stop)
        finally:
            stop.set()
            for name in list(self._polling):
                await self._stop_polling(name)
            for check in list(self._checks):
                check.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- tenants: started at start, and added, changed or removed by a reload -----------------

    def _engines_init(self, tenant: TenantConfig) -> None:
        """Before the stage starts: its engines are loaded with their state by ``stage.start``."""
        directory = self._directory(tenant.name)
        self._stage.engines[tenant.name] = engine_for(tenant, self._stage.book, directory)
        self._responders[tenant.name] = responder(tenant, self._clients, directory)

    def _directory(self, tenant: str) -> InventoryFacts:
        """The tenant's facts object, made once: trusted for as long as the tenant's sync interval."""
        interval = next((t.inventory.interval_s for t in self.config.tenants if t.name == tenant), None)
        facts = self.directories.setdefault(tenant, InventoryFacts(clock=self.clock))
        if interval is not None:
            facts.max_age_s = interval
        return facts

    def inventory_synced(self, inventory: Inventory) -> None:
        """The tenant's inventory (a sync finished, or the store at start): its engine and its action worker
        read it from now on, and see every record an event puts into it."""
        facts = self.directories.get(inventory.tenant)
        if facts is not None:
            facts.load(inventory)

    async def _load_inventories(self) -> None:
        """What the last sync stored, for every tenant that syncs one, off the start's path (a large org takes
        a while)."""
        try:
            for tenant in self.config.tenants:
                if tenant.inventory.enabled:
                    self.inventory_synced(await self.inventory.load(tenant.name))
        finally:
            self._checks.discard(asyncio.current_task())  # type: ignore[arg-type]

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
        self._checks.add(asyncio.create_task(self._check_at_start(tenant.name), name=f"test-connection:{tenant.name}"))
        self.pollers[tenant.name] = poller
        self._polling[tenant.name] = (stop, asyncio.create_task(poller.run(stop), name=f"poller:{tenant.name}"))
        if tenant.inventory.enabled:
            self._inventory_wake[tenant.name] = asyncio.Event()
            sync = self._sync_inventory(tenant, reader).run(stop)
            self._syncing[tenant.name] = asyncio.create_task(sync, name=f"inventory:{tenant.name}")

    def _sync_inventory(self, tenant: TenantConfig, reader: OktaClient) -> SyncSchedule:
        """A full inventory sync at start and every ``inventory.interval_s`` with the tenant's reader at SYNC
        priority, each finished one reviewed as ``detector inventory sync`` reviews it (schedule.py, review.py)."""
        name = tenant.name

        async def raise_findings(status: dict[str, Any], previous: Inventory, current: Inventory) -> Review | None:
            now = time.time()
            watch = watched(tenant, self.status.tenants[name].first_connected, now)
            return await raise_after_sync(self.bus, self.posture, tenant, status, previous, current, watch, now)

        return SyncSchedule(
            tenant,
            reader,
            self.inventory,
            raise_findings,
            on_status=lambda status: self.status.set_inventory(name, status),
            on_synced=lambda status: self.metrics.inventory_synced(name, status),
            on_finding=self.metrics.finding_raised,
            facts=self._directory(name),
            wake=self._inventory_wake[name],
        )

    async def _inventory_events(self, stop: asyncio.Event) -> None:
        """Apply the System Log's inventory events (lifecycle, membership, roles, tokens, factors, sign-ins) to
        the inventory of the tenants that sync one; at least once (applying an event twice changes nothing)."""
        updater = InventoryUpdater(MirroredStore(self.inventory, self.directories))
        offset = await self.bus.committed(INVENTORY_GROUP)
        while not stop.is_set():
            batch = await self.bus.read(EVENTS, offset, 500)
            if not batch:
                await self.bus.wait(EVENTS, timeout=0.5)
                continue
            synced = {t.name for t in self.config.tenants if t.inventory.enabled}
            for stored in batch:
                if stored.tenant in synced:
                    self.metrics.inventory_event(stored.tenant, await updater.apply_raw(stored.tenant, stored.value))
            offset = batch[-1].offset
            await self.bus.commit(INVENTORY_GROUP, offset)

    async def _check_at_start(self, tenant: str) -> None:
        """Each tenant's test connection when it starts: part of its status, so a wrong enforcement token
        is known before an incident needs it."""
        try:
            await self.status.set_connection(tenant, await self.test_connection(tenant))
        finally:
            self._checks.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _stop_polling(self, name: str) -> None:
        stop, task = self._polling.pop(name)
        stop.set()
        self._inventory_wake.pop(name, None)
        syncing = self._syncing.pop(name, None)
        if syncing is not None:  # a sync in progress is cut: its checkpoint has the pages stored so far
            syncing.cancel()
            await asyncio.gather(syncing, return_exceptions=True)
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
            self.directories.pop(name, None)
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
            directory = self._directory(name)
            await self._stage.set_engine(name, engine_for(tenant, self._stage.book, directory))
            self._responders[name] = responder(tenant, self._clients, directory)
            self._start_polling(tenant)
            done.append(f"tenant {name} {'changed: restarted' if name in old_tenants else 'added'}")
        self.config = new
        self.channels = {t.name: channels_for(t, self._session) for t in new.tenants}  # rotated secrets too
        self._deliverer.update(_by_name(self.channels))
        start_series(self.metrics, new, STAGES)  # an added tenant's series from 0
        done.append("secrets re-read: rotated tokens are used from the next request")
        log.info("config.reloaded", changes=done)
        return done

    async def _consume(self, group: str, stop: asyncio.Event, handle: BatchHandler) -> None:
        """At-least-once consumer of itdr.findings: handle a batch, then commit its offset together with the
        writes the handler returns (a callable run inside the commit's transaction). Writes that queued
        deliveries (a count above 0) wake the deliverer, here on the event loop, once they are committed."""
        offset = await self.bus.committed(group)
        while not stop.is_set():
            batch = await self.bus.read(FINDINGS, offset, 100)
            if not batch:
                await self.bus.wait(FINDINGS, timeout=0.5)
                continue
            also = await handle(batch)
            offset = batch[-1].offset
            if await self.bus.commit(group, offset, also=also):
                self._wake_deliveries.set()

    def _alerts(self, jsonl: JsonlSink) -> BatchHandler:
        written = jsonl.last_seq()

        async def handle(batch: list[Stored]) -> None:
            fresh = [(s.offset, await self.allowlisted(orjson.loads(s.value))) for s in batch if s.offset > written]
            await asyncio.to_thread(jsonl.write, fresh)
            for _, finding in fresh:
                if self.on_finding:
                    self.on_finding(finding)

        return handle

    def _respond(self, respond: RespondStep) -> BatchHandler:
        """Incidents and actions for a batch of findings: the incidents it changed (findings folded in, actions
        recorded through ``_recorded``) and their outbox rows are committed with the batch's offset."""

        async def handle(batch: list[Stored]) -> Callable[[sqlite3.Connection], object]:
            for stored in batch:
                for incident in await respond.handle(await self.allowlisted(orjson.loads(stored.value))):
                    self._dirty[incident.key] = incident
            changed, self._dirty = self._dirty, {}
            channels = self.channels
            return lambda db: write_updates(db, changed.values(), channels)  # the rows queued

        return handle

    def _recorded(self, record: ActionRecord) -> None:
        """Every decision the action worker saves (asked, done, approved, denied, expired, undone): counted,
        and shown on its incident, which goes to the channels again."""
        self.metrics.action_decided(record.tenant, record.action, record.status.value, None)
        if self.on_action:
            self.on_action(record)
        incident = self.incidents.record_action(record.tenant, f"user:{record.principal}", record.to_dict())
        if incident is not None:
            self._dirty[incident.key] = incident
            self._decided.set()

    async def _write_decisions(self, stop: asyncio.Event) -> None:
        """Decisions made outside a findings batch (an approval, an undo, an expired request) reach the
        incident's channels: written as soon as they are recorded (a batch in progress writes them too)."""
        while not stop.is_set():
            await sleep_until(self._decided, stop)
            self._decided.clear()
            changed, self._dirty = self._dirty, {}
            if changed and await self.outbox.write(list(changed.values()), self.channels):
                self._wake_deliveries.set()

    def _undone(self, record: ActionRecord) -> None:
        """An action undone resolves its incident (PagerDuty resolves, Slack's thread says so)."""
        incident = next((i for i in self.incidents.open.values() if i.key == record.incident), None)
        if incident is not None:
            self.incidents.resolve(incident, "undo", time.time(), f"{record.action} undone by {record.by}")
            self._dirty[incident.key] = incident
            self._decided.set()
        if self.on_undo:
            self.on_undo(record)

    async def allowlisted(self, finding: dict[str, Any]) -> dict[str, Any]:
        """The finding, marked ``allowlisted: <reason>`` when an entry covers it: it is still written and
        folded into its incident, only no action runs (the action worker checks the same entries)."""
        entry = await self.allowlist.match(finding, self.clock())
        if entry is None:
            return finding
        log.info("finding.allowlisted", tenant=finding["tenant"], detection=finding["detection"], entry=entry.entry_id)
        return {**finding, "allowlisted": entry.label()}

    async def _expire(self, stop: asyncio.Event) -> None:
        """Resolve the incidents quiet for the quiet period, once a minute."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EXPIRY_EVERY_S)
            resolved = self.incidents.expire(time.time())
            if resolved and await self.outbox.write(resolved, self.channels):
                self._wake_deliveries.set()

    async def _prune(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 600)
            await self.bus.prune_events(EVENT_DEDUPE_WINDOW_S, [DetectionStage.group, INVENTORY_GROUP])


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


def _by_name(channels: Mapping[str, list[Channel]]) -> dict[str, Channel]:
    return {qualified(tenant, c): c for tenant, chans in channels.items() for c in chans}


def _fixed_fields(old: Config, new: Config) -> list[str]:
    """Settings a running daemon cannot change under itself (where its data lives, its transport, its port)."""
    return [
        name
        for name in ("data_dir", "findings_jsonl", "kafka", "http", "redaction_key", "approvals")
        if getattr(old, name) != getattr(new, name)
    ]
