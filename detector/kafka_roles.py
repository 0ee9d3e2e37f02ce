"""Kafka mode: the three roles, alone (``detector poller|worker|actions``) or together (``run --kafka``).

* poller: one ``TenantPoller`` per tenant into ``KafkaSink`` (events acknowledged, then the cursor).
* worker: the Faust app of ``detector.stream.faust_app`` (detections, state in tables).
* actions: a plain aiokafka consumer of ``itdr.findings``; it commits a finding's offset only after the
  Okta call and its ledger rows (SQLite here, and ``itdr.actions``) are durable. Not a table agent:
  an Okta call can take seconds and would stall a Faust partition.

Scale: pollers one process per tenant set (two pollers of one tenant only cost duplicates, which the
detections drop by uuid); workers up to the partition count; action workers share ``itdr.findings``
and rebuild their ledger from ``itdr.actions`` whenever partitions are assigned to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
import mode
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from detector.config import Config, KafkaSettings
from detector.ingest.poller import TenantPoller
from detector.ops.api import tenant_routes
from detector.ops.http import Api, OpsHttpServer
from detector.ops.metrics import Metrics
from detector.ops.status import StatusBoard
from detector.private_files import private_dir
from detector.redaction_key import redaction_key
from detector.respond.actions import ActionWorker
from detector.respond.allowlist import Allowlist
from detector.respond.decisions import Decisions
from detector.respond.ledger import KAFKA_LEDGER_FILE, ActionRecord, SqliteLedger, record_from_dict
from detector.respond.routes import ResponseDesk
from detector.stream.faust_app import build_app
from detector.stream.kafka_bus import KafkaSink, TopicPlan, Topics, ensure_topics, idempotent_producer, read_topic
from detector.tenants import (
    OktaClients,
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


class PollerRole:
    """The System Log pollers of Kafka mode, with their tenants' status (kept on ``itdr.status``) and the
    admin API a poller serves: tenant status, sync now, readiness."""

    def __init__(self, config: Config, kafka: KafkaSettings, metrics: Metrics) -> None:
        self.config, self.kafka, self.metrics = config, kafka, metrics
        slow = {t.name: t.poll.slow_sync_s for t in config.tenants}
        self.status = StatusBoard([t.name for t in config.tenants], metrics, slow_after_s=slow)
        self.pollers: dict[str, TenantPoller] = {}
        self._bus_up = False

    def api(self) -> Api:
        return Api(routes=tenant_routes(self.status, self.sync), readiness=self.not_ready)

    def sync(self, tenant: str) -> bool:
        poller = self.pollers.get(tenant)
        if poller is not None:
            poller.sync_now()
        return poller is not None

    def not_ready(self) -> list[str]:
        return ([] if self._bus_up else ["bus: the Kafka producer is not started yet"]) + self.status.not_ready()

    async def run(self, stop: asyncio.Event) -> None:
        config, kafka = self.config, self.kafka
        if config.redaction_key is None:  # each host would make its own key: one password, several markers
            log.warning("redaction.key_not_shared", hint="set redaction_key: {env: ...} or {file: ...} in Kafka mode")
        key = redaction_key(config)
        await ensure_topics(kafka.bootstrap, topic_plan(kafka))
        sink = await KafkaSink(kafka.bootstrap, Topics(kafka.topic_prefix)).start()
        self._bus_up = True
        try:
            self.status.store = sink
            await self.status.load()
            async with OktaClients() as clients:
                for t in config.tenants:
                    self.pollers[t.name] = TenantPoller(
                        t.name,
                        clients.reader(t),
                        sink,
                        self.metrics,
                        poller_settings(t),
                        redactor=redactor_for(t, key),
                        on_poll=self.status.record,
                    )
                await asyncio.gather(*(poller.run(stop) for poller in self.pollers.values()))
        finally:
            self._bus_up = False
            await sink.stop()


class _RebuildLedger(ConsumerRebalanceListener):  # type: ignore[misc]
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
    """The action worker. ``on_desk`` receives what ``response_routes`` acts through once it is up (None
    when it stops): the role's admin API serves approvals, undo and the allowlist with it."""
    await ensure_topics(kafka.bootstrap, topic_plan(kafka))
    topics = Topics(kafka.topic_prefix)
    producer = idempotent_producer(kafka.bootstrap)
    await producer.start()

    async def publish(record: ActionRecord) -> None:
        await (await producer.send(topics.actions, orjson.dumps(record.to_dict()), key=record.action_id.encode()))

    ledger = await SqliteLedger(private_dir(config.data_dir) / KAFKA_LEDGER_FILE, publish).open()
    allowlist = await Allowlist(ledger.path).open()  # this worker's file: see detector/respond/allowlist.py

    async def rebuild() -> None:
        rows = await read_topic(kafka.bootstrap, topics.actions)
        for _, value in rows:
            if value:
                await ledger.merge(record_from_dict(orjson.loads(value)))
        log.info("actions.ledger_rebuilt", records=len(rows))

    group = f"{kafka.app_id}-actions"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=100,
    )
    consumer.subscribe([topics.findings], listener=_RebuildLedger(rebuild))
    lag = asyncio.create_task(report_consumer_lag(kafka.bootstrap, group, [topics.findings], metrics))
    try:
        await consumer.start()
        async with OktaClients() as clients:
            tenants = {t.name: responder(t, clients) for t in config.tenants}

            def recorded(record: ActionRecord) -> None:
                metrics.actions.labels(record.tenant, record.action, record.status.value).inc()
                if on_action:
                    on_action(record)

            links = link_signer(config)
            worker = ActionWorker(tenants, ledger, links=links, allowlist=allowlist, on_record=recorded)
            decisions = Decisions(worker)
            sweeps = asyncio.create_task(decisions.run_sweeps(stop, SWEEP_S))
            if on_desk:
                on_desk(ResponseDesk(decisions, allowlist, links, slack_requests(config, time.time), lambda: tenants))
            try:
                while not stop.is_set():
                    try:
                        await _act_on_batch(consumer, worker)
                    except KafkaError as exc:
                        log.error("actions.kafka_error", error=repr(exc))
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), RETRY_S)
                        await _rewind(consumer)
            finally:
                if on_desk:
                    on_desk(None)
                sweeps.cancel()
                await asyncio.gather(sweeps, return_exceptions=True)
    finally:
        lag.cancel()
        with contextlib.suppress(KafkaError):
            await consumer.stop()
        await producer.stop()
        await allowlist.close()
        await ledger.close()
        await asyncio.gather(lag, return_exceptions=True)


async def _act_on_batch(consumer: AIOKafkaConsumer, worker: ActionWorker) -> None:
    for tp, records in (await consumer.getmany(timeout_ms=500)).items():
        for message in records:
            try:
                finding = orjson.loads(message.value)
            except orjson.JSONDecodeError as exc:  # not ours: never block the partition on it
                log.error("actions.bad_finding", partition=tp.partition, offset=message.offset, error=str(exc))
                continue
            await worker.handle(finding)  # every decision reaches the metrics and on_action through on_record
        await consumer.commit({tp: records[-1].offset + 1})


async def _rewind(consumer: AIOKafkaConsumer) -> None:
    """After a failure mid-batch, go back to the last commit: the ledger makes the repeat harmless."""
    for tp in consumer.assignment():
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def worker_app(config: Config, kafka: KafkaSettings, metrics: Metrics, web_port: int | None = None) -> faust.App:
    engines = {tenant.name: engine_for(tenant) for tenant in config.tenants}
    datadir = private_dir(private_dir(config.data_dir) / "faust")
    app = build_app(kafka, engines, metrics, datadir=datadir, web_port=web_port or kafka.web_port)
    topics = Topics(kafka.topic_prefix)
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
    loop.run_until_complete(ensure_topics(kafka.bootstrap, topic_plan(kafka)))
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
