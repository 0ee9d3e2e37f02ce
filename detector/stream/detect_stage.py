"""The embedded detection stage: okta.events → detections → itdr.findings.

One batch is one transaction: the findings it produced, the detection state it
changed and the offset it reached are committed together, so a crash replays
the batch from the same state and produces the same findings (which the
findings table drops as repeats by dedup key).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import structlog

from detections.engine import Engine
from detections.event import MalformedEvent, parse_event
from detector.ops.metrics import Metrics
from detector.stream.bus import DEADLETTER, EVENTS, FINDINGS
from detector.stream.embedded import EmbeddedBus, Record

log = structlog.get_logger(__name__)


class TrackingDict(dict[str, Any]):
    """A state store that remembers which keys a batch wrote, so only those are saved."""

    def __init__(self) -> None:
        super().__init__()
        self.dirty: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty.add(key)


class DetectionStage:
    group = "detections"

    def __init__(self, bus: EmbeddedBus, engines: dict[str, Engine], metrics: Metrics, batch_size: int = 500) -> None:
        self.bus = bus
        self.engines = engines
        self.metrics = metrics
        self.batch_size = batch_size
        self.states: dict[str, TrackingDict] = {tenant: TrackingDict() for tenant in engines}
        self._offset = 0

    async def start(self) -> None:
        """Load committed state and offset: the stage resumes exactly where its last commit left it."""
        self._offset = await self.bus.committed(self.group)
        for stored_key, value in (await self.bus.load_states()).items():
            tenant, key = stored_key.split("|", 1)
            engine = self.engines.get(tenant)
            if engine is not None:
                dict.__setitem__(self.states[tenant], key, engine.decode_state(key, value))

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        while not stop.is_set():
            if await self.step() == 0:
                await self.bus.wait(EVENTS, timeout=0.5)

    async def step(self) -> int:
        batch = await self.bus.read(EVENTS, self._offset, self.batch_size)
        if not batch:
            return 0
        appends: list[tuple[str, Record]] = []
        now = time.time()
        for stored in batch:
            engine = self.engines.get(stored.tenant)
            if engine is None:
                appends.append((DEADLETTER, Record(stored.tenant, "unknown tenant", stored.value)))
                continue
            try:
                event = parse_event(orjson.loads(stored.value), stored.tenant)
            except (orjson.JSONDecodeError, MalformedEvent) as exc:
                reason = f"malformed event: {exc}"
                log.warning("event.deadletter", tenant=stored.tenant, offset=stored.offset, reason=reason)
                self.metrics.deadletters.labels(stored.tenant).inc()
                appends.append((DEADLETTER, Record(stored.tenant, reason, stored.value)))
                continue
            self.metrics.events_processed.labels(stored.tenant).inc()
            for finding in engine.process(event, self.states[stored.tenant]):
                self.metrics.findings.labels(finding.tenant, finding.detection, finding.assessment.tier.value).inc()
                self.metrics.detection_latency.labels(finding.tenant).observe(max(0.0, now - finding.time))
                appends.append((FINDINGS, Record(finding.tenant, finding.dedup_key, orjson.dumps(finding.to_dict()))))
        states = self._take_dirty()
        await self.bus.commit(self.group, batch[-1].offset, appends, states)
        self._offset = batch[-1].offset
        return len(batch)

    def _take_dirty(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for tenant, states in self.states.items():
            engine = self.engines[tenant]
            for key in states.dirty:
                out[f"{tenant}|{key}"] = engine.encode_state(states[key])
            states.dirty.clear()
        return out
