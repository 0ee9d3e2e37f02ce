"""A tenant's inventory on schedule: a full sync at start and every ``inventory.interval_s``, then the review of
what it found; one loop for both transports.

Why the transport is only a store and a review step: the order is what matters and it is the same everywhere
(load the inventory before the sync, sync, load what the sync left, review against both, publish the findings
with the results they follow from). Embedded mode publishes findings and results in one SQLite transaction
(``review.raise_after_sync``); Kafka mode produces the findings to ``itdr.findings``, waits for the broker's
acknowledgement and only then stores the results (``review.py`` says why a crash between the two raises the
same findings again, never new ones, and never loses one).
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
from detector.inventory.facts import InventoryFacts
from detector.inventory.model import Inventory
from detector.inventory.review import Review
from detector.inventory.store import InventoryStore
from detector.inventory.sync import InventorySync
from detector.okta.budget import Priority
from detector.okta.client import OktaClient

if TYPE_CHECKING:
    from detector.config import TenantConfig

log = structlog.get_logger(__name__)

RETRY_S = 300.0  # a failed sync is resumed this soon (or at its interval, if sooner)


ReviewStep = Callable[[dict[str, Any], Inventory, Inventory], Awaitable[Review | None]]


@dataclass
class SyncSchedule:
    """One tenant's sync loop. ``raise_findings``: the review of a finished sync (its status, the inventory before
    and after it), its findings published and its results stored the transport's way (None: nothing reviewed);
    ``on_status``: each status the sync reports (tenant status); ``on_synced``: the status a run ended with
    (metrics); ``on_finding``: each finding raised (metrics); ``facts``: the tenant's facts in this process, if it
    judges with them."""

    tenant: TenantConfig
    reader: OktaClient
    store: InventoryStore
    raise_findings: ReviewStep
    on_status: Callable[[dict[str, Any]], None] = lambda _status: None
    on_synced: Callable[[dict[str, Any]], None] = lambda _status: None
    on_finding: Callable[[Finding], None] = lambda _finding: None
    facts: InventoryFacts | None = None
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
        """One sync (or the resumption of one a stop interrupted) with the tenant's reader at SYNC priority (its
        one budget leaves the poller and the actions their reserve), then its review."""
        name = self.tenant.name
        syncer = self.reader.with_priority(Priority.SYNC)
        try:
            previous = await self.store.load(name)  # before the sync: what the changes compare with
            status = await InventorySync(name, syncer, self.store, on_status=self.on_status).run()
        except Exception as exc:  # the store or something unforeseen: logged, tried again later
            log.error("inventory.sync.crashed", tenant=name, error=repr(exc)[:300])
            status = {"state": "error"}
        self.on_synced(status)
        if status["state"] != "error" or (self.facts is not None and self.facts.synced_at is None):
            current = await self.store.load(name)  # what the sync left, swept
            if self.facts is not None:
                self.facts.load(current)
            try:
                done = await self.raise_findings(status, previous, current)
            except Exception as exc:  # a bug in a check: the sync stands, the next one reviews again
                log.error("inventory.review.crashed", tenant=name, error=repr(exc)[:300])
                done = None
            for f in done.findings if done else ():
                self.on_finding(f)
                log.info("finding", detection=f.detection, tenant=f.tenant, dedup_key=f.dedup_key, revision=f.revision)
        return status


async def sleep_until(event: asyncio.Event, stop: asyncio.Event) -> None:
    """Until ``event`` or ``stop`` is set."""
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
