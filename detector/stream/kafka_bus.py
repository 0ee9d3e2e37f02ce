"""Kafka mode's topics, and the poller's sink into them.

Topics (created at startup by every role, idempotently):

* ``okta.events``: LogEvents as Okta sent them, keyed ``tenant:actor_id``.
* ``itdr.events.rekeyed``: events re-keyed by the state key of the detections that are not keyed by
  actor (per IP, per login, tenant-wide); written by the detection workers (``Engine.routes``).
* ``itdr.findings`` keyed ``tenant|entity`` (one worker owns an entity's incident, revisions stay in order);
  ``itdr.actions`` (audit trail, keyed by action id);
  ``itdr.deadletter`` (malformed events with their reason).
* ``itdr.cursors``: compacted, one partition, keyed by tenant: each poller's cursor.
* ``itdr.status``: compacted, one partition, keyed by tenant: each tenant's status (detector.ops.status).
* ``itdr.incidents``: compacted, keyed by incident key: each incident's latest version, what channels read.
* ``itdr.deliveries``: compacted, keyed ``channel|incident``: each channel's memo (e.g. Slack's message ts).
* ``itdr.signals``: compacted, keyed ``tenant:source``: each source a credential attack flagged
  (detections/threat_signals.py), as its latest merged signal. Every detection worker reads it whole and
  follows it (``follow_topic``), so a spray flagged in one worker's partition implicates a sign-in handled
  in another's. A compacted topic rather than a Faust GlobalTable: a signal is written once by the worker
  that flagged it, merges commute, and a plain consumer needs no standby or recovery machinery; records
  also expire after ``SIGNALS_RETENTION_MS`` (the longest TTL a config allows), the TTL itself being
  enforced by event time when a sign-in is checked.
* ``itdr.inventory``: compacted, one partition, keyed ``tenant|kind|id``: each tenant's directory inventory
  (detector/inventory/topic.py), a tombstone for a record that went, beside each tenant's sync status,
  checkpoint and posture results. Written by the role that syncs the tenant; every worker and action worker
  reads it whole and follows it. One partition: a reader at any offset sees the records before the status
  that declares them synced.

Cursor choice: the poller produces a page's events with an idempotent producer (acks=all), waits until
Kafka acknowledged every one, and only then writes the cursor. A crash between the two re-produces that
page on restart; the detections drop the repeats by uuid (their replay guards), as they must anyway
because Faust is at-least-once. A transaction holding events and cursor would also work, but only for
consumers reading ``read_committed``, which Faust's consumer does only in its exactly-once mode (known
bugs); and it would not spare the uuid dedupe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from detector.stream.bus import ACTIONS, DEADLETTER, EVENTS, FINDINGS, BusUnavailable, Cursor, EventRecord

log = structlog.get_logger(__name__)

REKEYED = "itdr.events.rekeyed"
CURSORS = "itdr.cursors"
STATUS = "itdr.status"
INCIDENTS = "itdr.incidents"
DELIVERIES = "itdr.deliveries"
SIGNALS = "itdr.signals"
INVENTORY = "itdr.inventory"
SIGNALS_RETENTION_MS = 90 * 24 * 3600 * 1000  # the longest window a config allows (detector.config.MAX_WINDOW_S)

_HOUR_MS = 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topics:
    """Kafka mode's topic names; a ``prefix`` lets several deployments (or tests) share one cluster."""

    prefix: str = ""

    @property
    def events(self) -> str:
        return self.prefix + EVENTS

    @property
    def rekeyed(self) -> str:
        return self.prefix + REKEYED

    @property
    def findings(self) -> str:
        return self.prefix + FINDINGS

    @property
    def actions(self) -> str:
        return self.prefix + ACTIONS

    @property
    def deadletter(self) -> str:
        return self.prefix + DEADLETTER

    @property
    def cursors(self) -> str:
        return self.prefix + CURSORS

    @property
    def status(self) -> str:
        return self.prefix + STATUS

    @property
    def incidents(self) -> str:
        return self.prefix + INCIDENTS

    @property
    def deliveries(self) -> str:
        return self.prefix + DELIVERIES

    @property
    def signals(self) -> str:
        return self.prefix + SIGNALS

    @property
    def inventory(self) -> str:
        return self.prefix + INVENTORY


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """What to create: partitions, replication and retention of every topic of Kafka mode."""

    names: Topics = Topics()
    partitions: int = 6
    replication: int = 1
    events_retention_hours: int = 7 * 24
    audit_retention_days: int = 400
    # A detection worker's Faust table changelogs (compacted, partitioned as the topics they follow). Faust would
    # create them itself while its agents start, and an agent that read the metadata before they appeared
    # crashed on "changelog has 0 partitions" (PartitionsMismatch), leaving a live worker that detects nothing.
    changelogs: tuple[str, ...] = ()

    def topics(self) -> list[NewTopic]:
        events = {"retention.ms": str(self.events_retention_hours * _HOUR_MS)}
        audit = {"retention.ms": str(self.audit_retention_days * 24 * _HOUR_MS)}
        compacted = {"cleanup.policy": "compact"}
        n = self.names
        spec = [
            (n.events, self.partitions, events),
            (n.rekeyed, self.partitions, events),
            (n.findings, self.partitions, audit),
            (n.actions, self.partitions, audit),
            (n.deadletter, self.partitions, audit),
            (n.cursors, 1, compacted),
            (n.status, 1, compacted),
            (n.incidents, self.partitions, compacted),
            (n.deliveries, self.partitions, compacted),
            (
                n.signals,
                self.partitions,
                {"cleanup.policy": "compact,delete", "retention.ms": str(SIGNALS_RETENTION_MS)},
            ),
            (n.inventory, 1, compacted),
            *((name, self.partitions, compacted) for name in self.changelogs),
        ]
        return [NewTopic(name, n, self.replication, topic_configs=cfg) for name, n, cfg in spec]


async def ensure_topics(bootstrap: str, plan: TopicPlan, timeout: float = 30) -> None:
    """Create missing topics and wait until every partition has a leader (metadata can lag the create).

    A role starts with this, so a broker that is away for a moment (a restart) is waited for up to ``timeout``,
    as the running roles ride it out, rather than ending the process; longer, a clear error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await _ensure_topics(bootstrap, plan, deadline, timeout)
        except KafkaError as exc:
            if loop.time() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap} did not answer for {timeout:.0f} s: {exc!r}") from exc
            log.warning("kafka.not_reachable_yet", bootstrap=bootstrap, error=repr(exc))
            await asyncio.sleep(1.0)


async def _ensure_topics(bootstrap: str, plan: TopicPlan, deadline: float, timeout: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        wanted = plan.topics()
        for topic in wanted:
            try:
                response = await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                continue
            for name, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"cannot create Kafka topic {name}: error {code} {rest}")
        loop = asyncio.get_running_loop()
        for topic in wanted:
            while True:
                (described,) = await admin.describe_topics([topic.name])
                parts = described["partitions"]
                if described["error_code"] == 0 and parts and all(p["leader"] >= 0 for p in parts):
                    if len(parts) != topic.num_partitions:
                        log.warning("kafka.partitions_differ", topic=topic.name, have=len(parts))
                    break
                if loop.time() > deadline:
                    raise RuntimeError(f"Kafka topic {topic.name} has no leader after {timeout:.0f} s")
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


def idempotent_producer(bootstrap: str, **kwargs: object) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send never writes a record twice."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type="lz4",
        linger_ms=5,
        **kwargs,  # type: ignore[arg-type]
    )


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record of ``topic`` from the beginning to its end offsets now."""
    return [(r.key, r.value) for r in await read_records(bootstrap, topic)]


async def _from_the_beginning(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to ``consumer`` (no consumer group), at its first offset."""
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        await consumer._client.force_metadata_update()  # a consumer learns topics lazily
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


async def follow_topic(
    bootstrap: str, topic: str, after: Mapping[int, int] | None = None
) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``topic`` from the beginning (or, per partition, from the offsets ``after`` names: where
    a :func:`read_records` ended), then each new one as it arrives (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        for tp in await _from_the_beginning(consumer, topic):
            if after and tp.partition in after:
                consumer.seek(tp, after[tp.partition])
        while True:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for record in batch:
                    yield record
    finally:
        await consumer.stop()


async def read_records(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning to its end offsets now (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _from_the_beginning(consumer, topic)
        end = await consumer.end_offsets(partitions)
        out: list[ConsumerRecord] = []
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                out.extend(batch)
                if batch and batch[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)  # the tail was compacted or aborted away
        return out
    finally:
        await consumer.stop()


class KafkaSink:
    """The poller's ``EventSink`` in Kafka mode: events first, acknowledged, then the cursor."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.producer = idempotent_producer(bootstrap)
        self._cursors: dict[str, Cursor] | None = None

    async def start(self) -> KafkaSink:
        await self.producer.start()
        return self

    async def stop(self) -> None:
        await self.producer.stop()

    async def load_cursor(self, tenant: str) -> Cursor | None:
        if self._cursors is None:  # the compacted topic is read once; afterwards this process is the writer
            try:
                stored = await read_topic(self.bootstrap, self.topics.cursors)
            except KafkaError as exc:
                raise BusUnavailable(f"cannot read {self.topics.cursors}: {exc!r}") from exc
            self._cursors = {}
            for key, value in stored:
                if key is None:
                    continue
                if value is None:
                    self._cursors.pop(key.decode(), None)
                    continue
                data = orjson.loads(value)
                self._cursors[key.decode()] = Cursor(data["next_url"], data.get("last_published"))
        return self._cursors.get(tenant)

    async def load_status(self) -> dict[str, dict[str, Any]]:
        """detector.ops.status.StatusStore: the latest status of each tenant from the compacted topic."""
        latest: dict[str, dict[str, Any]] = {}
        for key, value in await read_topic(self.bootstrap, self.topics.status):
            if key is not None and value is not None:
                latest[key.decode()] = orjson.loads(value)
        return latest

    async def save_status(self, tenant: str, value: dict[str, Any]) -> None:
        await (await self.producer.send(self.topics.status, orjson.dumps(value), key=tenant.encode()))

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        """Return how many events were produced (repeats after a crash are dropped downstream, by uuid)."""
        try:
            return await self._produce(tenant, records, cursor)
        except KafkaError as exc:
            raise BusUnavailable(f"Kafka did not take the page: {exc!r}") from exc

    async def _produce(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        sent = [
            await self.producer.send(
                self.topics.events, r.value, key=r.key.encode(), headers=[("uuid", r.uuid.encode())]
            )
            for r in records
        ]
        await asyncio.gather(*sent)  # every event acknowledged ...
        if cursor.last_published is None and self._cursors and tenant in self._cursors:
            # an empty page: keep the restart point of the last page that had events (as the embedded bus does)
            cursor = Cursor(cursor.next_url, self._cursors[tenant].last_published)
        value = orjson.dumps({"next_url": cursor.next_url, "last_published": cursor.last_published})
        await (await self.producer.send(self.topics.cursors, value, key=tenant.encode()))  # ... before the cursor moves
        assert self._cursors is not None
        self._cursors[tenant] = cursor
        return len(records)
