"""Kafka mode's detection workers: a Faust app whose agents feed the same ``Engine`` as embedded mode.

Two agents, because state must live where its events arrive:

* ``detect-by-actor`` reads ``okta.events`` (keyed ``tenant:actor_id``) and runs the detections keyed by
  actor on state in the ``actor-states`` table; for the other detections it forwards the event to
  ``itdr.events.rekeyed`` under each state key they need (``Engine.routes``: per IP, per login,
  tenant-wide): a batch's forwards bundled, one record per partition (``forwards``).
* ``detect-by-key`` reads ``itdr.events.rekeyed`` and runs those detections on ``keyed-states``.

Tables hold encoded detection state per ``tenant|actor|<actor id>`` (one record for every actor-keyed
detection) and ``tenant|detection|key``; Faust writes every change to a compacted changelog and rebuilds
the table from it when a worker restarts or a partition moves. After each batch, dead keys are deleted
(``table_sweep``): a tombstone in their changelog partition.

Threat signals (detections/threat_signals.py) must reach every partition: the worker's one signal book
is shared by its tenants' engines; a signal flagged in a batch is sent to ``itdr.signals`` with the
batch's findings, and every worker follows that topic from its beginning (``follow_signals``), merging
each signal into its book and sending the findings it implies there (a sign-in this worker saw before
the flag; a source now flagged in several tenants). The successes a worker keeps for a late flag are in
memory only: a restart forgets them, the signals themselves are re-read from the topic.

At-least-once, in this order per batch of records: findings and forwards are sent and acknowledged first, then the
changed state is written to the table. A crash before the state write replays the event against the old
state and sends the same findings again (same dedup keys: the action ledger and alert sinks drop them);
a crash after it replays the event into state that already holds it, and each detection's replay guard
drops it. Either way nothing is lost. A batch that raises ends the process (``fail_stop``): Faust would
acknowledge it, and all that followed, behind a dead agent. No detection logic lives here, and no Okta call:
a blocked agent stalls its partitions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import orjson
import structlog
from aiokafka.errors import KafkaError
from faust.types import EventT

from detections.engine import Engine
from detections.event import Event
from detections.threat_signals import Book, Signal
from detector.config import KafkaSettings
from detector.ops.metrics import Metrics
from detector.stream.detect import DeadLetter, DetectStep, StepResult
from detector.stream.fail_stop import consume
from detector.stream.forwards import BUNDLE, BUNDLE_VERSION, Bundler, Forward, UnreadableForward, read_forwards
from detector.stream.kafka_bus import Topics, follow_topic
from detector.stream.table_sweep import TableSweeper, as_current

log = structlog.get_logger(__name__)

BATCH = 500  # records per round trip to the broker
BATCH_WAIT_S = 0.05  # how long a partial batch waits for more: bounds the latency it adds
PRODUCE_BATCH_BYTES = 512 * 1024  # per partition and produce request: a batch's records in a few round trips
CHANGELOG_BUFFER = 8 * BATCH  # changelog records queued before Faust holds the streams (writes of a few batches)
SIGNALS_RETRY_S = 2.0
ACTOR_STATES = "actor-states"
KEYED_STATES = "keyed-states"


def _raw() -> faust.Schema:
    """Bytes in, bytes out: events stay as Okta sent them, state is the engine's own encoding.
    (One instance per topic or table: Faust mutates a schema it is given.)"""
    return faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


class TableStates(dict[str, Any]):
    """The engine's state store over a Faust table for one tenant, for one batch.

    Reads decode from the table; writes stay here until ``flush``, so the table (and its changelog) never
    holds state whose findings Kafka has not acknowledged. Each written key remembers the record that
    changed it (``source``), whose partition is where it belongs.
    """

    def __init__(self, table: Any, engine: Engine, tenant: str, sweeper: TableSweeper) -> None:
        super().__init__()
        self.table = table
        self.engine = engine
        self.tenant = tenant
        self.prefix = f"{tenant}|"
        self.sweeper = sweeper
        self.source: EventT | None = None
        self._sources: dict[str, EventT | None] = {}
        self._deleted: dict[str, EventT | None] = {}  # keys the batch deleted, and the record that did

    def get(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in self._deleted:
            return default
        raw = self.table.get((self.prefix + key).encode())
        return default if raw is None else self.engine.decode_state(key, raw)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._sources[key] = self.source
        self._deleted.pop(key, None)

    def __delitem__(self, key: str) -> None:
        """E.g. a state of the previous layout, moved into its actor's record."""
        dict.pop(self, key, None)
        self._sources.pop(key, None)
        self._deleted[key] = self.source

    def flush(self) -> None:
        for key, state in self.items():
            source = self._sources[key]
            assert source is not None
            with as_current(source):
                self.table[(self.prefix + key).encode()] = self.engine.encode_state(state)
            self.sweeper.wrote(self.tenant, key, state, source.message.partition)
        for key, source in self._deleted.items():
            assert source is not None
            stored = (self.prefix + key).encode()
            if stored in self.table:
                with as_current(source):
                    del self.table[stored]
            self.sweeper.deleted(self.tenant, key)
        self.clear()
        self._sources.clear()
        self._deleted.clear()


@dataclass(frozen=True, slots=True)
class _Work:
    """One record to run: which tenant's engine, the event, and which detections."""

    tenant: str
    engine: Engine
    event: Event
    value: bytes  # the event as it arrived: what a dead letter keeps
    only: Collection[str]


@dataclass(slots=True)
class _Out:
    """What a batch sends besides findings: dead letters and the like (``sends``), and its forwards, bundled
    and sent once the batch has run."""

    bundler: Bundler
    sends: list[Awaitable[Any]] = field(default_factory=list)


class DetectionAgents:
    """What the two agents do with a batch of records; Faust only delivers records and persists tables.

    A batch (up to BATCH records) is one round trip: every finding, forward and dead letter of the batch
    is sent, all are acknowledged together, then the batch's state changes are written.
    """

    def __init__(
        self,
        app: faust.App,
        engines: Mapping[str, Engine],
        metrics: Metrics,
        topics: Topics,
        partitions: int,
        book: Book | None = None,
    ) -> None:
        self.engines = engines
        self.partitions = partitions  # of every topic and table: forwards go where their key's partition is
        self.book = book if book is not None else Book()
        self.detect = DetectStep(engines, metrics)
        self.signals = app.topic(topics.signals, partitions=partitions, schema=_raw())
        self.signals_name = topics.signals
        self.events = app.topic(topics.events, partitions=partitions, schema=_raw())
        self.rekeyed = app.topic(topics.rekeyed, partitions=partitions, schema=_raw())
        self.findings = app.topic(topics.findings, schema=_raw())
        self.deadletter = app.topic(topics.deadletter, schema=_raw())
        table = {"default": None, "partitions": partitions, "key_type": bytes, "value_type": bytes}  # bytes: raw
        self.actor_states = app.Table(ACTOR_STATES, help="detection state keyed by actor", **table)
        self.keyed_states = app.Table(KEYED_STATES, help="detection state re-keyed by IP, login, tenant", **table)
        actives = app.assignor.assigned_actives
        self.sweepers = {
            ACTOR_STATES: TableSweeper(self.actor_states, self.events.get_topic_name(), engines, actives),
            KEYED_STATES: TableSweeper(self.keyed_states, self.rekeyed.get_topic_name(), engines, actives),
        }

    async def by_actor(self, batch: Sequence[EventT]) -> None:
        await self._run_batch(batch, self.actor_states, self.sweepers[ACTOR_STATES], self._unpack_event)

    async def by_key(self, batch: Sequence[EventT]) -> None:
        await self._run_batch(batch, self.keyed_states, self.sweepers[KEYED_STATES], self._unpack_rekeyed)

    async def _run_batch(
        self,
        batch: Sequence[EventT],
        table: Any,
        sweeper: TableSweeper,
        unpack: Callable[[EventT, _Out], list[_Work]],
    ) -> None:
        states: dict[str, TableStates] = {}
        out = _Out(Bundler(self.partitions))
        sends = out.sends
        for record in batch:
            for work in unpack(record, out):
                store = states.setdefault(work.tenant, TableStates(table, work.engine, work.tenant, sweeper))
                store.source = record
                with as_current(record):
                    result = self.detect.detect(work.event, work.value, store, only=work.only)
                sends += [self._deadletter(d) for d in result.deadletters]
                sends += self._send_findings(result)
        headers = {BUNDLE: BUNDLE_VERSION}
        sends += [
            self.rekeyed.send(key=key, value=value, partition=partition, headers=headers)
            for partition, key, value in out.bundler.records()
        ]
        sends += [
            self.signals.send(key=f"{s.tenant}:{s.source}".encode(), value=s.to_json()) for s in self.book.take_flags()
        ]
        await self._acknowledged(sends)
        for store in states.values():
            store.flush()
        sweeper.sweep()

    def _send_findings(self, result: StepResult) -> list[Awaitable[Any]]:
        return [self.findings.send(key=f"{f.tenant}|{f.entity}".encode(), value=f.value) for f in result.findings]

    async def follow_signals(self, bootstrap: str) -> None:
        """Merge every signal on ``itdr.signals`` into the book, for good; send the findings each implies.
        A broker error starts again from the beginning (merging a signal twice implies nothing new)."""
        while True:
            try:
                async for record in follow_topic(bootstrap, self.signals_name):
                    await self._signal(record.value)
            except KafkaError as exc:
                log.warning("signals.unavailable", error=repr(exc))
                await asyncio.sleep(SIGNALS_RETRY_S)

    async def _signal(self, value: bytes | None) -> None:
        if value is None:
            return  # a tombstone: nothing to merge
        try:
            signal = Signal.from_json(value)
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:  # not ours: skip it
            log.warning("signals.unreadable", error=repr(exc)[:200])
            return
        engine = self.engines.get(signal.tenant) or next(iter(self.engines.values()), None)
        if engine is None:
            return
        try:
            findings = engine.signal_received(signal)
        except Exception as exc:  # a bug must not stop the worker following the signals
            log.error("signals.failed", tenant=signal.tenant, error=repr(exc)[:200])
            return
        result = self.detect.emit(findings, value, StepResult())
        await self._acknowledged(self._send_findings(result) + [self._deadletter(d) for d in result.deadletters])

    def _unpack_event(self, record: EventT, out: _Out) -> list[_Work]:
        """An okta.events record: dead-letter it, or run the actor-keyed detections and forward it to the
        state keys of the others."""
        value: bytes = record.value
        tenant = (record.key or b"").decode(errors="replace").split(":", 1)[0]
        event = self.detect.parse(tenant, value)
        if isinstance(event, DeadLetter):
            out.sends.append(self._deadletter(event))
            return []
        engine = self.engines[tenant]
        for state_key, ids in engine.routes(event).items():
            out.bundler.put(tenant, state_key, ids, value)
        return [_Work(tenant, engine, event, value, engine.actor_keyed)]

    def _unpack_rekeyed(self, record: EventT, out: _Out) -> list[_Work]:
        """A record of itdr.events.rekeyed: a bundle of forwards (or one forward of an earlier layout, see
        ``forwards``), each event parsed once however many of its state keys are in the bundle. A malformed
        event is a dead letter of its own; the rest of the bundle runs."""
        try:
            forwards = read_forwards(record.value, record.message.headers)
        except UnreadableForward as exc:
            out.sends.append(self._deadletter(self.detect.dead("", str(exc)[:200], record.value or b"")))
            return []
        works: list[_Work] = []
        last: tuple[bytes, str, Event | DeadLetter] | None = None
        for forward in forwards:
            if last is None or last[0] is not forward.value or last[1] != forward.tenant:
                last = (forward.value, forward.tenant, self._parse_forward(forward, out))
            event = last[2]
            if not isinstance(event, DeadLetter):
                works.append(_Work(forward.tenant, self.engines[forward.tenant], event, forward.value, forward.only))
        return works

    def _parse_forward(self, forward: Forward, out: _Out) -> Event | DeadLetter:
        event = self.detect.parse(forward.tenant, forward.value, forward.raw, count=False)
        if isinstance(event, DeadLetter):
            out.sends.append(self._deadletter(event))
        return event

    def _deadletter(self, dead: DeadLetter) -> Awaitable[Any]:
        headers = {"tenant": dead.tenant.encode(), "reason": dead.reason.encode()}
        return self.deadletter.send(key=dead.tenant.encode(), value=dead.value, headers=headers)

    @staticmethod
    async def _acknowledged(sends: list[Awaitable[Any]]) -> None:
        """Await each send (queued), then every delivery (acknowledged by the broker)."""
        deliveries = [await send for send in sends]
        await asyncio.gather(*deliveries)


def build_app(
    kafka: KafkaSettings,
    engines: Mapping[str, Engine],
    metrics: Metrics,
    *,
    datadir: Path,
    web_port: int,
    book: Book | None = None,
) -> faust.App:
    """The Faust app of one detection worker; run it with ``faust.Worker`` (see detector.kafka_roles)."""
    app = faust.App(
        kafka.app_id,
        broker=[f"kafka://{server}" for server in kafka.bootstrap.split(",")],
        store=kafka.store,
        datadir=str(datadir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication,
        topic_disable_leader=True,
        broker_max_poll_records=500,
        # A killed worker holds its partitions until its session times out (Faust's default: 60 s).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        stream_recovery_delay=0.5,
        producer_linger=0.005,  # a batch's sends leave as a few produce requests, not one per record
        # Faust's default (16 KiB) holds ~15 forwards or actor records, and a send waits for a full one to leave:
        # a batch took dozens of round trips. Under the broker's default message.max.bytes (1 MiB).
        producer_max_batch_size=PRODUCE_BATCH_BYTES,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=1,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=web_port,
        web_tables_enabled=False,  # identity data: never serve table contents
        web_router_enabled=False,
        autodiscover=False,
    )
    agents = DetectionAgents(app, engines, metrics, Topics(kafka.topic_prefix), kafka.partitions, book)

    def unthrottled() -> None:
        """A batch's table writes queue their changelog records in Faust's producer buffer, and Faust stops
        delivering records to every agent while it holds more than 100 (its default): a batch writing hundreds of
        keys stalled both agents until its changelog records had left one by one. They are all flushed before
        each offset commit either way (Faust's Consumer._commit_offsets), so a larger bound changes no guarantee.
        Set once the worker runs: the producer belongs to the worker's loop."""
        app.producer.buffer.max_messages = CHANGELOG_BUFFER

    async def detect_by_actor(stream: faust.StreamT) -> None:
        unthrottled()
        await consume(stream, agents.by_actor, "detect-by-actor", BATCH, BATCH_WAIT_S)

    async def detect_by_key(stream: faust.StreamT) -> None:
        unthrottled()
        await consume(stream, agents.by_key, "detect-by-key", BATCH, BATCH_WAIT_S)

    app.agent(agents.events, name="detect-by-actor")(detect_by_actor)
    app.agent(agents.rekeyed, name="detect-by-key")(detect_by_key)
    app.task(lambda: agents.follow_signals(kafka.bootstrap))
    return app
