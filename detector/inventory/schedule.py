"""A tenant's inventory on schedule: a full sync at start and every ``inventory.interval_s``, then the review of
what it found; one loop for both transports.

Why the transport is only a store and a ``publish``: the order is what matters and it is the same everywhere
(load the inventory before the sync, sync, load what the sync left, review against both, publish the findings
with the results they follow from). Embedded mode publishes findings and results in one SQLite transaction;
Kafka mode produces the findings to ``itdr.findings``, waits for the broker's acknowledgement and only then
stores the results (``review.py`` says why a crash between the two raises the same findings again, never
new ones, and never loses one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from detections.finding import Finding
from detector.inventory.changes import Watch
from detector.inventory.facts import InventoryFacts
from detector.inventory.model import Inventory
from detector.inventory.review import ResultsStore, Review, review
from detector.inventory.store import InventoryStore
from detector.inventory.sync import InventorySync
from detector.okta.client import OktaClient

if TYPE_CHECKING:
    from detector.config import TenantConfig

log = structlog.get_logger(__name__)

RETRY_S = 300.0  # a failed sync is resumed this soon (or at its interval, if sooner)


@dataclass
class SyncSchedule:
    """One tenant's sync loop. ``on_status``: each status the sync reports (tenant status); ``on_synced``: the
    status a run ended with (metrics); ``facts``: the tenant's facts in this process, if it judges with them;
    ``publish``: the review's findings and results, stored the transport's way; ``watch``: which spans of the
    System Log this daemon read (the changes an event-time detection already raised)."""

    tenant: TenantConfig
    reader: OktaClient
    store: InventoryStore
    results: ResultsStore
    publish: Callable[[Review], Awaitable[None]]
    on_status: Callable[[dict[str, Any]], None] = lambda _status: None
    on_synced: Callable[[dict[str, Any]], None] = lambda _status: None
    on_finding: Callable[[Finding], None] = lambda _finding: None  # each finding the review raises (metrics)
    facts: InventoryFacts | None = None
    watch: Callable[[], Watch] = Watch
    wake: asyncio.Event | None = None  # set: sync now

    async def run(self, stop: asyncio.Event) -> None:
        """Sync, review, wait; a sync never stops the daemon: what went wrong is its status and a metric."""
        wake = self.wake if self.wake is not None else asyncio.Event()
        while not stop.is_set():
            began = time.monotonic()
            status = await self.once()
            every = self.tenant.inventory.interval_s
            wait = min(every, RETRY_S) if status["state"] == "error" else every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sleep_until(wake, stop), max(0.0, wait - (time.monotonic() - began)))
            wake.clear()

    async def once(self) -> dict[str, Any]:
        """One sync (or the resumption of one a stop interrupted) and, when it succeeded, its review."""
        name = self.tenant.name
        try:
            previous = await self.store.load(name)  # before the sync: what the changes compare with
            status = await InventorySync(name, self.reader, self.store, on_status=self.on_status).run()
        except Exception as exc:  # the store or something unforeseen: logged, tried again later
            log.error("inventory.sync.crashed", tenant=name, error=repr(exc)[:300])
            return self._synced({"state": "error"})
        self._synced(status)
        if status["state"] == "success" or (self.facts is not None and self.facts.synced_at is None):
            current = await self.store.load(name)  # what the sync left, swept
            if self.facts is not None:
                self.facts.load(current)
            if status["state"] == "success" and self.tenant.posture.enabled:
                try:
                    await self._review(previous if previous.synced_at is not None else None, current)
                except Exception as exc:  # a bug in a check: the sync stands, the next one reviews again
                    log.error("inventory.review.crashed", tenant=name, error=repr(exc)[:300])
        return status

    def _synced(self, status: dict[str, Any]) -> dict[str, Any]:
        self.on_synced(status)
        return status

    async def _review(self, previous: Inventory | None, current: Inventory) -> None:
        done = await review(self.results, previous, current, self.tenant.posture, time.time(), watch=self.watch())
        for f in done.findings:
            self.on_finding(f)
            log.info("finding", detection=f.detection, tenant=f.tenant, dedup_key=f.dedup_key, revision=f.revision)
        await self.publish(done)


def read_since(first_connected: float | None, tenant: TenantConfig) -> Watch:
    """When this daemon has read the tenant's System Log: from its first poll's lookback on (the poller resumes
    from its cursor after a restart, so what happened while it was down is read late, not lost)."""
    if first_connected is None:
        return Watch()
    return Watch(((first_connected - tenant.poll.lookback_minutes * 60.0, time.time()),))


async def sleep_until(event: asyncio.Event, stop: asyncio.Event) -> None:
    """Until ``event`` or ``stop`` is set."""
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
