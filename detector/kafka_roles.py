"""Kafka mode: the three roles, alone (``detector poller|worker|actions``) or together (``run --kafka``).

* poller: one ``TenantPoller`` per tenant into ``KafkaSink`` (events acknowledged, then the cursor); for each
  tenant that syncs one, its directory inventory on schedule with the same reader client into the compacted
  ``itdr.inventory`` (``KafkaInventoryStore``), the review after each successful sync onto ``itdr.findings``,
  and one consumer group (``<app_id>-inventory``) applying the System Log's inventory events to the topic.
  The role that polls a tenant holds its reader and its status: the sync shares both.
* worker: the Faust app of ``detector.stream.faust_app`` (detections, state in tables), judging with each
  tenant's inventory as ``InventoryFollower`` reads it whole from ``itdr.inventory`` and follows it.
* actions: a plain aiokafka consumer of ``itdr.findings``; it commits a finding's offset only after the
  Okta call and its ledger rows (SQLite here, and ``itdr.actions``) are durable. Not a table agent:
  an Okta call can take seconds and would stall a Faust partition. It follows ``itdr.inventory`` too, for
  group protection and the target's admin roles.

Scale: pollers one process per tenant set (two pollers of one tenant only cost duplicates, which the
detections drop by uuid); workers up to the partition count; action workers share ``itdr.findings``
and rebuild their ledger from ``itdr.actions`` whenever partitions are assigned to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import faust
import mode
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from detections.threat_signals import Book
from detector.config import Config, KafkaSettings, TenantConfig
from detector.connection import check_connection
from detector.ingest.poller import TenantPoller
from detector.inventory.events import InventoryUpdater
from detector.inventory.kafka_store import InventoryFollower, KafkaInventoryStore, TopicPostureResults
from detector.inventory.model import Inventory
from detector.inventory.review import Review, review_after_sync, watched
from detector.inventory.schedule import SyncSchedule
from detector.inventory.store import InventoryStore
from detector.okta.client import OktaClient
from detector.ops.api import tenant_routes
from detector.ops.http import Api, OpsHttpServer
from detector.ops.metrics import Metrics, start_series
from detector.ops.status import StatusBoard
from detector.private_files import private_dir
from detector.redaction_key import redaction_key
from detector.respond.actions import ActionWorker
from detector.respond.allowlist import Allowlist
from detector.respond.channels.base import Channel
from detector.respond.channels.http import new_session
from detector.respond.decisions import Decisions
from detector.respond.incidents import Incident, IncidentBook
from detector.respond.ledger import KAFKA_LEDGER_FILE, ActionRecord, SqliteLedger, record_from_dict
from detector.respond.outbox import attempt, backoff, qualified, start_channel_series
from detector.respond.routes import ResponseDesk
from detector.respond.stage import RespondStep
from detector.stream.faust_app import build_app
from detector.stream.kafka_bus import KafkaSink, TopicPlan, Topics, ensure_topics, idempotent_producer, read_topic
from detector.tenants import (
    OktaClients,
    channels_for,
    directories_for,
    engine_for,
    link_signer,
    poller_settings,
    redactor_for,
    responder,
    slack_requests,
)

log = structlog.get_logger(__name__)

Role = Callable[[asyncio.Event], Awaitable[None]]
RETRY_S = 2.0
EXPIRY_EVERY_S = 60.0
SWEEP_S = 5.0  # how often approval requests past their expiry are expired
LAG_INTERVAL_S = 15.0  # Prometheus' default scrape interval


def topic_plan(kafka: KafkaSettings) -> TopicPlan:
    return TopicPlan(
        Topics(kafka.topic_prefix),
        kafka.partitions,
        kafka.replication,
        kafka.events_retention_hours,
        kafka.audit_retention_days,
    )


def worker_topic_plan(kafka: KafkaSettings, app: faust.App) -> TopicPlan:
    """Every topic, and the changelogs of the worker's tables: all there before Faust starts its agents."""
    return replace(topic_plan(kafka), changelogs=tuple(table.changelog_topic_name for table in app.tables.values()))


class PollerRole:
    """The System Log pollers of Kafka mode, with their tenants' status (kept on ``itdr.status``) and the
    admin API a poller serves: tenant status, sync now (the log, the inventory), readiness; beside them each
    tenant's inventory sync and the inventory-event consumer.

    The inventory-event group is one for the deployment: poller processes that split the tenants between them
    would each skip the others' events on the partitions they are given. Run one poller process per tenant set
    with its own ``kafka.app_id`` then, or one poller for every tenant (the documented layout)."""

    def __init__(self, config: Config, kafka: KafkaSettings, metrics: Metrics) -> None:
        self.config, self.kafka, self.metrics = config, kafka, metrics
        slow = {t.name: t.poll.slow_sync_s for t in config.tenants}
        self.status = StatusBoard([t.name for t in config.tenants], metrics, slow_after_s=slow)
        self.pollers: dict[str, TenantPoller] = {}
        self._inventory_wake: dict[str, asyncio.Event] = {}  # per tenant that syncs: sync now
        self._bus_up = False

    def api(self) -> Api:
        routes = tenant_routes(self.status, self.sync, self.test_connection, self.sync_inventory)
        return Api(routes=routes, readiness=self.not_ready)

    async def test_connection(self, tenant: str) -> dict[str, Any]:
        return await check_connection(next(t for t in self.config.tenants if t.name == tenant), self.metrics)

    def sync(self, tenant: str) -> bool:
        poller = self.pollers.get(tenant)
        if poller is not None:
            poller.sync_now()
        return poller is not None

    def not_ready(self) -> list[str]:
        return ([] if self._bus_up else ["bus: the Kafka producer is not started yet"]) + self.status.not_ready()

    async def _check_at_start(self, tenant: str) -> None:
        """Each tenant's test connection at start, part of its status (as in embedded mode)."""
        await self.status.set_connection(tenant, await self.test_connection(tenant))

    async def run(self, stop: asyncio.Event) -> None:
        config, kafka = self.config, self.kafka
        if config.redaction_key is None:  # each host would make its own key: one password, several markers
            log.warning("redaction.key_not_shared", hint="set redaction_key: {env: ...} or {file: ...} in Kafka mode")
        key = redaction_key(config)
        start_series(self.metrics, config, ("poll", "inventory"))
        await ensure_topics(kafka.bootstrap, topic_plan(kafka))
        topics = Topics(kafka.topic_prefix)
        sink = await KafkaSink(kafka.bootstrap, topics).start()
        self._bus_up = True
        store: KafkaInventoryStore | None = None
        try:
            self.status.store = sink
            await self.status.load()
            store = await KafkaInventoryStore(kafka.bootstrap, topics.inventory).open()
            for tenant, synced in (await store.sync_status()).items():
                if tenant in self.status.tenants:
                    self.status.set_inventory(tenant, synced)
            async with OktaClients(self.metrics) as clients:
                syncs = []
                for t in config.tenants:
                    reader = clients.reader(t)
                    self.pollers[t.name] = TenantPoller(
                        t.name,
                        reader,
                        sink,
                        self.metrics,
                        poller_settings(t),
                        redactor=redactor_for(t, key),
                        on_poll=self.status.record,
                    )
                    if t.inventory.enabled:
                        syncs.append(self._schedule(t, reader, store, sink).run(stop))
                checks = [self._check_at_start(name) for name in self.pollers]
                events = [inventory_events(config, kafka, store, self.metrics, stop)] if syncs else []
                await asyncio.gather(*(poller.run(stop) for poller in self.pollers.values()), *checks, *syncs, *events)
        finally:
            self._bus_up = False
            if store is not None:
                await store.close()
            await sink.stop()

    def sync_inventory(self, tenant: str) -> bool:
        """Start the tenant's next inventory sync now (a sync in progress goes on; the next follows it)."""
        wake = self._inventory_wake.get(tenant)
        if wake is not None:
            wake.set()
        return wake is not None

    def _schedule(
        self, tenant: TenantConfig, reader: OktaClient, store: KafkaInventoryStore, sink: KafkaSink
    ) -> SyncSchedule:
        """The tenant's inventory sync on schedule with its reader, into itdr.inventory; its review's findings go
        to itdr.findings, acknowledged, before the posture results they follow from are stored."""
        name = tenant.name
        results = TopicPostureResults(store)
        findings = Topics(self.kafka.topic_prefix).findings

        async def raise_findings(status: dict[str, Any], previous: Inventory, current: Inventory) -> Review | None:
            now = time.time()
            watch = watched(tenant, self.status.tenants[name].first_connected, now)
            done = await review_after_sync(results, tenant, status, previous, current, watch, now)
            if done is None:
                return None
            sent = [
                await sink.producer.send(findings, orjson.dumps(f.to_dict()), key=f"{f.tenant}|{f.entity}".encode())
                for f in done.findings
            ]
            await asyncio.gather(*sent)
            await done.commit(results)  # a crash before this raises the same findings (same keys) at the next sync
            return done

        self._inventory_wake[name] = asyncio.Event()
        return SyncSchedule(
            tenant,
            reader,
            store,
            raise_findings,
            on_status=lambda status: self.status.set_inventory(name, status),
            on_synced=lambda status: self.metrics.inventory_synced(name, status),
            on_finding=self.metrics.finding_raised,
            wake=self._inventory_wake[name],
        )


async def inventory_events(
    config: Config, kafka: KafkaSettings, store: InventoryStore, metrics: Metrics, stop: asyncio.Event
) -> None:
    """The System Log's inventory events applied to itdr.inventory by one consumer group (``<app_id>-inventory``)
    of okta.events, for the tenants that sync one; its offset commits after the batch's writes are on the
    topic (at least once: applying an event twice changes nothing)."""
    topics = Topics(kafka.topic_prefix)
    synced = {t.name for t in config.tenants if t.inventory.enabled}
    updater = InventoryUpdater(store)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=f"{kafka.app_id}-inventory",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    consumer.subscribe([topics.events])
    await consumer.start()
    try:
        while not stop.is_set():
            try:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for message in records:
                        tenant = (message.key or b"").decode(errors="replace").split(":", 1)[0]
                        if tenant in synced and message.value is not None:
                            metrics.inventory_event(tenant, await updater.apply_raw(tenant, message.value))
                    await consumer.commit({tp: records[-1].offset + 1})
            except KafkaError as exc:
                log.error("inventory.events.kafka_error", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_S)
                await _rewind(consumer)
    finally:
        with contextlib.suppress(KafkaError):
            await consumer.stop()


class _Rebuild(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebuild what a consumer keeps in memory (ledger, open incidents, memos) when it gets partitions."""

    def __init__(self, rebuild: Callable[[], Awaitable[None]]) -> None:
        self.rebuild = rebuild

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.rebuild()


async def run_actions(
    config: Config,
    kafka: KafkaSettings,
    metrics: Metrics,
    stop: asyncio.Event,
    on_action: Callable[[ActionRecord], None] | None = None,
    on_desk: Callable[[ResponseDesk | None], None] | None = None,
) -> None:
    """The respond role: findings folded into incidents (published to itdr.incidents), actions decided
    and done (or asked for), and one delivery consumer per channel on itdr.incidents. ``on_desk`` receives
    what ``response_routes`` acts through once it is up (None when it stops): the role's admin API serves
    approvals, undo and the allowlist with it."""
    start_series(metrics, config, ("act",))
    await ensure_topics(kafka.bootstrap, topic_plan(kafka))
    topics = Topics(kafka.topic_prefix)
    producer = idempotent_producer(kafka.bootstrap)
    await producer.start()

    async def publish(record: ActionRecord) -> None:
        await (await producer.send(topics.actions, orjson.dumps(record.to_dict()), key=record.action_id.encode()))

    published: dict[str, int] = {}  # open incidents' newest version on the topic: each version goes out once

    async def publish_incidents(incidents: Sequence[Incident]) -> None:
        fresh = [i for i in incidents if i.version > published.get(i.key, 0)]
        sent = [await producer.send(topics.incidents, orjson.dumps(i.to_dict()), key=i.key.encode()) for i in fresh]
        await asyncio.gather(*sent)
        for incident in fresh:
            published[incident.key] = incident.version
            if not incident.is_open:
                del published[incident.key]

    ledger = await SqliteLedger(private_dir(config.data_dir) / KAFKA_LEDGER_FILE, publish).open()
    allowlist = await Allowlist(ledger.path).open()  # this worker's file: see detector/respond/allowlist.py
    dirty: dict[str, Incident] = {}  # incidents a decision changed, not yet published
    decided = asyncio.Event()

    def recorded(record: ActionRecord) -> None:
        """Every decision: counted, and shown on its incident (published with the batch, or by itself)."""
        metrics.action_decided(record.tenant, record.action, record.status.value, None)
        if on_action:
            on_action(record)
        incident = respond.book.record_action(record.tenant, f"user:{record.principal}", record.to_dict())
        if incident is not None:
            dirty[incident.key] = incident
            decided.set()

    def undone(record: ActionRecord) -> None:
        incident = next((i for i in respond.book.open.values() if i.key == record.incident), None)
        if incident is not None:
            respond.book.resolve(incident, "undo", time.time(), f"{record.action} undone by {record.by}")
            dirty[incident.key] = incident
            decided.set()

    links = link_signer(config)
    worker = ActionWorker({}, ledger, links=links, allowlist=allowlist, on_record=recorded)
    respond = RespondStep(IncidentBook(), worker, metrics)
    decisions = Decisions(worker, on_undo=undone)

    batch_lock = asyncio.Lock()  # a rebuild replaces the book: never while a batch folds findings into it

    async def rebuild() -> None:
        """On every assignment: the ledger from itdr.actions, the open incidents from itdr.incidents."""
        async with batch_lock:
            await _rebuild()

    async def _rebuild() -> None:
        rows = await read_topic(kafka.bootstrap, topics.actions)
        for _, value in rows:
            if value:
                await ledger.merge(record_from_dict(orjson.loads(value)))
        latest = {k: v for k, v in await read_topic(kafka.bootstrap, topics.incidents) if k is not None}
        respond.book = IncidentBook(open_incidents=[Incident.from_dict(orjson.loads(v)) for v in latest.values() if v])
        log.info("actions.rebuilt", records=len(rows), open_incidents=len(respond.book.open))

    directories = directories_for(config)
    following = asyncio.create_task(InventoryFollower(kafka.bootstrap, topics.inventory, directories).run())

    group = f"{kafka.app_id}-actions"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=100,
    )
    consumer.subscribe([topics.findings], listener=_Rebuild(rebuild))
    lag = asyncio.create_task(report_consumer_lag(kafka.bootstrap, group, [topics.findings], metrics))
    session = new_session()
    channels = {qualified(t.name, c): c for t in config.tenants for c in channels_for(t, session)}
    start_channel_series(metrics, channels)
    delivering = [asyncio.create_task(run_channel(kafka, name, c, metrics, stop)) for name, c in channels.items()]
    try:
        await consumer.start()
        async with OktaClients(metrics) as clients:
            tenants = {t.name: responder(t, clients, directories.get(t.name)) for t in config.tenants}
            worker.tenants = tenants

            async def publish_dirty() -> None:
                changed = list(dirty.values())
                dirty.clear()
                await publish_incidents(changed)

            async def publish_decisions() -> None:
                while not stop.is_set():
                    await decided.wait()
                    decided.clear()
                    await publish_dirty()

            tasks = [
                asyncio.create_task(worker.watch_breakers(metrics.set_breaker)),
                asyncio.create_task(_expire_incidents(respond, publish_incidents, stop)),
                asyncio.create_task(decisions.run_sweeps(stop, SWEEP_S)),
                asyncio.create_task(publish_decisions()),
            ]
            if on_desk:
                on_desk(ResponseDesk(decisions, allowlist, links, slack_requests(config, time.time), lambda: tenants))
            try:
                while not stop.is_set():
                    try:
                        await _respond_to_batch(consumer, respond, publish_incidents, dirty, batch_lock)
                    except KafkaError as exc:
                        log.error("actions.kafka_error", error=repr(exc))
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), RETRY_S)
                        await _rewind(consumer)
            finally:
                if on_desk:
                    on_desk(None)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in (lag, following, *delivering):
            task.cancel()
        with contextlib.suppress(KafkaError):
            await consumer.stop()
        await asyncio.gather(lag, following, *delivering, return_exceptions=True)
        await session.close()
        await producer.stop()
        await allowlist.close()
        await ledger.close()


async def _respond_to_batch(
    consumer: AIOKafkaConsumer,
    respond: RespondStep,
    publish: Callable[[Sequence[Incident]], Awaitable[None]],
    dirty: dict[str, Incident],
    lock: asyncio.Lock,
) -> None:
    """Per partition: fold and act on each finding, publish the incidents changed (and those their
    decisions changed, ``dirty``: each once, at its newest version), then commit.

    Under ``lock``: a rebalance's rebuild (aiokafka runs it beside us) waits for the batch, so the decisions of
    a finding land on the incident it was folded into, not on the book that replaced it mid-batch."""
    fetched = await consumer.getmany(timeout_ms=500)
    async with lock:
        await _handle_batch(consumer, respond, publish, dirty, fetched)


async def _handle_batch(
    consumer: AIOKafkaConsumer,
    respond: RespondStep,
    publish: Callable[[Sequence[Incident]], Awaitable[None]],
    dirty: dict[str, Incident],
    fetched: dict[TopicPartition, list[Any]],
) -> None:
    for tp, records in fetched.items():
        changed: dict[str, Incident] = {}
        for message in records:
            try:
                finding = orjson.loads(message.value)
            except orjson.JSONDecodeError as exc:  # not ours: never block the partition on it
                log.error("actions.bad_finding", partition=tp.partition, offset=message.offset, error=str(exc))
                continue
            for incident in await respond.handle(finding):
                changed[incident.key] = incident
        changed.update(dirty)
        dirty.clear()
        await publish(list(changed.values()))
        await consumer.commit({tp: records[-1].offset + 1})


async def _expire_incidents(
    respond: RespondStep, publish: Callable[[Sequence[Incident]], Awaitable[None]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXPIRY_EVERY_S)
        resolved = respond.book.expire(time.time())
        if resolved:
            await publish(resolved)


async def run_channel(kafka: KafkaSettings, name: str, channel: Channel, metrics: Metrics, stop: asyncio.Event) -> None:
    """One channel's consumer of itdr.incidents (of its tenant): its offset commits only after the version
    was delivered (or parked); a retry waits on this channel's partition alone. Its memos live on
    itdr.deliveries. ``name`` is the channel's qualified name (tenant/name)."""
    topics = Topics(kafka.topic_prefix)
    memos: dict[str, dict[str, Any]] = {}
    tenant = name.split("/", 1)[0]

    async def load_memos() -> None:
        memos.clear()
        prefix = f"{name}|".encode()
        for key, value in await read_topic(kafka.bootstrap, topics.deliveries):
            if key is not None and key.startswith(prefix) and value:
                memos[key[len(prefix) :].decode()] = orjson.loads(value)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=f"{kafka.app_id}-deliver-{name.replace('/', '.')}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=50,
    )
    consumer.subscribe([topics.incidents], listener=_Rebuild(load_memos))
    producer = idempotent_producer(kafka.bootstrap)
    rng = random.Random()
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for message in records:
                    incident = orjson.loads(message.value) if message.value else None
                    if incident is None or incident["tenant"] != tenant:
                        continue
                    if not channel.wants(incident) and incident["key"] not in memos:
                        continue  # never sent; one that was keeps getting it (so it sees the resolution)
                    for attempts in itertools.count():
                        memo = memos.get(incident["key"], {})
                        outcome = await attempt(channel, incident, memo, metrics, message.timestamp / 1000, name)
                        if outcome.memo:
                            memos[incident["key"]] = dict(outcome.memo)
                            key = f"{name}|{incident['key']}".encode()
                            await (await producer.send(topics.deliveries, orjson.dumps(dict(outcome.memo)), key=key))
                        if outcome.kind != "retry" or stop.is_set():
                            break
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), backoff(attempts, outcome.retry_after_s, rng))
                    if stop.is_set():
                        return  # not committed: the next owner delivers it
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        with contextlib.suppress(KafkaError):
            await consumer.stop()
        await producer.stop()


async def _rewind(consumer: AIOKafkaConsumer) -> None:
    """After a failure mid-batch, go back to the last commit: the ledger makes the repeat harmless."""
    for tp in consumer.assignment():
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def worker_app(config: Config, kafka: KafkaSettings, metrics: Metrics, web_port: int | None = None) -> faust.App:
    start_series(metrics, config, ("detect",))
    book = Book()  # the tenants' threat signals, shared with every worker through itdr.signals
    directories = directories_for(config)  # each tenant's inventory, followed whole on itdr.inventory
    engines = {t.name: engine_for(t, book, directories.get(t.name)) for t in config.tenants}
    datadir = private_dir(private_dir(config.data_dir) / "faust")
    app = build_app(kafka, engines, metrics, datadir=datadir, web_port=web_port or kafka.web_port, book=book)
    topics = Topics(kafka.topic_prefix)
    follower = InventoryFollower(kafka.bootstrap, topics.inventory, directories)
    app.task(lambda: follower.run())
    app.task(lambda: report_consumer_lag(kafka.bootstrap, kafka.app_id, [topics.events, topics.rekeyed], metrics))
    return app


class OpsHttpService(mode.Service):  # type: ignore[misc]
    """/metrics and /healthz inside the Faust worker's loop. Given to ``faust.Worker`` beside the app, it
    starts before the app (so scrapes answer during table recovery) and stops with it."""

    logger = logging.getLogger("mode.ops_http")  # quiet like mode's own services (see run_worker)

    def __init__(self, server: OpsHttpServer, **kwargs: Any) -> None:
        self.server = server
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.server.start()

    async def on_stop(self) -> None:
        await self.server.stop()


def run_worker(
    app: faust.App, kafka: KafkaSettings, extra_roles: Sequence[Role] = (), http: OpsHttpServer | None = None
) -> None:
    """Run the Faust worker (and, for ``run --kafka``, the other roles beside it) until SIGTERM/SIGINT."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(kafka.bootstrap, worker_topic_plan(kafka, app)))
    stop = asyncio.Event()
    for role in extra_roles:
        app.task(_as_task(role, stop))
    for chatty in ("faust", "mode", "aiokafka"):  # their INFO lines narrate every service start and stop
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    services = [OpsHttpService(http, loop=loop)] if http else []
    worker = faust.Worker(app, *services, loop=loop, override_logging=False, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()  # raises SystemExit with the worker's exit code


def _as_task(role: Role, stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def task() -> None:
        try:
            await role(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("role.crashed")  # one role failing must not silently leave the others running
            raise

    return task


async def report_consumer_lag(
    bootstrap: str, group: str, topics: Sequence[str], metrics: Metrics, interval: float = LAG_INTERVAL_S
) -> None:
    """Every ``interval``: per topic, the records ``group`` has not committed (``itdr_consumer_lag``).

    Read from the broker (committed offsets against end offsets), so it counts what every member of the
    group left behind, a stalled or dead one included; each member reports the same value. Neither Faust
    nor aiokafka exports this, and a lag exporter would be one more container to run."""
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        try:
            await admin.start()
            await offsets.start()
            while True:
                committed = await admin.list_consumer_group_offsets(group)
                for described in await admin.describe_topics(list(topics)):
                    tps = [TopicPartition(described["topic"], p["partition"]) for p in described["partitions"]]
                    ends = await offsets.end_offsets(tps)
                    starts = await offsets.beginning_offsets(tps)
                    lag = sum(ends[tp] - max(committed[tp].offset if tp in committed else 0, starts[tp]) for tp in tps)
                    metrics.consumer_lag.labels(group, described["topic"]).set(lag)
                await asyncio.sleep(interval)
        except KafkaError as exc:
            log.warning("kafka.lag_unavailable", group=group, error=repr(exc))
        finally:
            with contextlib.suppress(KafkaError):
                await offsets.stop()
            with contextlib.suppress(KafkaError):
                await admin.close()
        await asyncio.sleep(interval)
