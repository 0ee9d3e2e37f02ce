"""The detection worker's own step without Faust: ``DetectionAgents`` over dicts for its tables and stand-ins for
its topics, in one process.

Figure 5 (bench/kafka.py) measures with it what of a Faust worker's time per event is the worker's own work
(unpacking, detections, state decode and encode, forwards built), and tests drive both passes with it (what the
first pass forwards is what the second reads). Same code path as the worker: only delivery and storage differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP

from detections.engine import Engine
from detections.threat_signals import Book
from detector.ops.metrics import Metrics
from detector.stream.faust_app import ACTOR_STATES, KEYED_STATES, DetectionAgents
from detector.stream.forwards import partition_of
from detector.stream.kafka_bus import Topics
from detector.stream.table_sweep import TableSweeper


@dataclass(frozen=True, slots=True)
class Message:
    partition: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True, weakref_slot=True)  # Faust holds its current event by a weak reference
class Record:
    """What an agent reads of a Faust event: key, value, and the message's partition and headers."""

    key: bytes | None
    value: bytes
    message: Message


class SentTopic:
    """Stands in for a Faust topic: keeps each record sent, as the record a consumer would read, every delivery
    acknowledged at once."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.records: list[Record] = []

    async def send(
        self, *, key: bytes | None = None, value: bytes, partition: int | None = None, headers: Any = None
    ) -> asyncio.Future[None]:
        where = partition_of(key, self.partitions) if partition is None else partition
        self.records.append(Record(key, value, Message(where, tuple((headers or {}).items()))))
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered

    def take(self) -> list[Record]:
        taken, self.records = self.records, []
        return taken


class DictTable(dict[bytes, bytes]):
    """Stands in for a Faust table: the encoded states in a dict, which is also the store TableSweeper walks."""

    name = "in-process"

    @property
    def data(self) -> dict[bytes, bytes]:
        return self


@dataclass(frozen=True, slots=True)
class InProcess:
    agents: DetectionAgents
    rekeyed: SentTopic
    findings: SentTopic
    deadletter: SentTopic


def in_process(engines: Mapping[str, Engine], partitions: int, book: Book | None = None) -> InProcess:
    """``DetectionAgents`` with in-process tables and topics, every partition of both passes its own."""
    topics = Topics("in-process.")
    app = faust.App("in-process", broker="kafka://127.0.0.1:1", autodiscover=False)
    agents = DetectionAgents(app, engines, Metrics(), topics, partitions, book)
    sent = InProcess(agents, SentTopic(partitions), SentTopic(partitions), SentTopic(partitions))
    agents.rekeyed, agents.findings, agents.deadletter = sent.rekeyed, sent.findings, sent.deadletter  # type: ignore[assignment]
    agents.signals = SentTopic(partitions)  # type: ignore[assignment]
    agents.actor_states, agents.keyed_states = DictTable(), DictTable()
    actives = {TP(name, p) for name in (topics.events, topics.rekeyed) for p in range(partitions)}
    agents.sweepers = {
        ACTOR_STATES: TableSweeper(agents.actor_states, topics.events, engines, lambda: actives),
        KEYED_STATES: TableSweeper(agents.keyed_states, topics.rekeyed, engines, lambda: actives),
    }
    return sent
