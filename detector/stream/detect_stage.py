"""The embedded detection stage: okta.events → detections → itdr.findings.

One batch is one transaction: the findings it produced, the detection state it
changed (and the dead keys it swept: rows deleted) and the offset it reached are
committed together, so a crash replays the batch from the same state and produces
the same findings (which the findings table drops as repeats by dedup key).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from detections.engine import Engine
from detections.expiring import ExpiringStates
from detections.threat_signals import Book
from detector.ops.metrics import Metrics
from detector.stream.bus import DEADLETTER, EVENTS, FINDINGS
from detector.stream.detect import DeadLetter, DetectStep, StepResult
from detector.stream.embedded import EmbeddedBus, Record

log = structlog.get_logger(__name__)


class TrackingDict(ExpiringStates):
    """One tenant's state store: the sweeping store (detections.expiring) that also remembers which keys a batch
    deleted, so that only the batch's writes and deletions, and the dead keys swept, are saved."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.deleted: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.deleted.add(key)

    def take_dirty(self) -> dict[str, bytes | None]:
        """The batch's writes (encoded) and deletions (None), then up to ``SWEEP_LIMIT`` dead keys (None)."""
        out: dict[str, bytes | None] = {key: self.engine.encode_state(self[key]) for key in self.written}
        out |= dict.fromkeys(self.deleted)
        self.deleted.clear()
        out |= dict.fromkeys(self.sweep())
        return out


class DetectionStage:
    group = "detections"

    def __init__(
        self,
        bus: EmbeddedBus,
        engines: dict[str, Engine],
        metrics: Metrics,
        batch_size: int = 500,
        book: Book | None = None,
    ) -> None:
        self.bus = bus
        self.engines = engines
        # the threat-signal book the engines share: its rows live in the detection state table too
        self.book = book if book is not None else Book(persist=True)
        self.detect = DetectStep(engines, metrics)
        self.batch_size = batch_size
        self.states: dict[str, TrackingDict] = {tenant: TrackingDict(engine) for tenant, engine in engines.items()}
        self._offset = 0
        self._batch = asyncio.Lock()  # a batch and a change of tenants never interleave

    async def start(self) -> None:
        """Load committed state and offset: the stage resumes exactly where its last commit left it."""
        self._offset = await self.bus.committed(self.group)
        for prefix in (Book.SIGNALS, Book.RECENT):
            self.book.load_rows(await self.bus.load_states(prefix))
        for tenant in self.engines:
            await self._load(tenant)

    async def _load(self, tenant: str) -> None:
        engine = self.engines[tenant]
        states = self.states[tenant] = TrackingDict(engine)
        for stored_key, value in (await self.bus.load_states(f"{tenant}|")).items():
            key = stored_key.split("|", 1)[1]
            try:
                states.loaded(key, engine.decode_state(key, value))
            except Exception as exc:  # e.g. written by an older version: that key starts afresh
                log.warning("state.unreadable", tenant=tenant, key=key.split("|", 1)[0], error=repr(exc)[:200])

    async def set_engine(self, tenant: str, engine: Engine | None) -> None:
        """A tenant added, changed (its detections rebuilt from new settings: state decoded anew) or removed
        (None) by a reload. Between batches, so every state it touches is committed."""
        async with self._batch:
            if engine is None:
                self.engines.pop(tenant, None)
                self.states.pop(tenant, None)
                return
            self.engines[tenant] = engine
            await self._load(tenant)

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        while not stop.is_set():
            async with self._batch:
                read = await self.step()
            if read == 0:
                await self.bus.wait(EVENTS, timeout=0.5)

    async def step(self) -> int:
        batch = await self.bus.read(EVENTS, self._offset, self.batch_size)
        if not batch:
            return 0
        appends: list[tuple[str, Record]] = []
        for stored in batch:
            event = self.detect.parse(stored.tenant, stored.value)
            if isinstance(event, DeadLetter):
                result = StepResult(deadletters=[event])
            else:
                result = self.detect.detect(event, stored.value, self.states[stored.tenant])
            appends += [(DEADLETTER, Record(d.tenant, d.reason, d.value)) for d in result.deadletters]
            appends += [(FINDINGS, Record(f.tenant, f.record_key, f.value)) for f in result.findings]
        states = self._take_dirty()
        await self.bus.commit(self.group, batch[-1].offset, appends, states)
        self._offset = batch[-1].offset
        return len(batch)

    def _take_dirty(self) -> dict[str, bytes | None]:
        """Every tenant's writes, deletions and swept keys, under their stored keys, and the threat-signal
        book's rows (committed with the batch, as the detections' own state)."""
        out = {
            f"{tenant}|{key}": value
            for tenant, states in self.states.items()
            for key, value in states.take_dirty().items()
        }
        out.update(self.book.take_rows())
        return out
