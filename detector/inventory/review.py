"""What a finished directory sync raises: posture findings on change and inventory-change findings, and the
posture results kept between syncs (durably: a restart must not raise every failing check again).

Order, for nothing lost and nothing twice: the caller loads the tenant's inventory *before* the sync (the
previous one: it already holds what System Log events changed since, which the event-time detections raised),
runs the sync, then :func:`review`; it publishes the findings and stores the new results, in one transaction
where it can (:meth:`Review.write`, as embedded mode does), else the findings first and then
:meth:`Review.commit`. A crash between the two raises the same findings again at the next sync: their dedup keys
and revisions come from the stored results, so the findings store and the incidents drop the repeat.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from detections.event import Event
from detections.finding import Finding
from detector.inventory.changes import Watch, inventory_changes
from detector.inventory.model import Inventory
from detector.inventory.posture import evaluate
from detector.sqlite import SqliteThread
from detector.stream.bus import FINDINGS
from detector.stream.embedded import Record

if TYPE_CHECKING:
    from detector.config import PostureSettings, TenantConfig
    from detector.stream.embedded import EmbeddedBus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posture_results (tenant TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL);
"""


class ResultsStore(Protocol):
    """Where a tenant's last posture results are kept: SQLite beside the embedded inventory (PostureResults),
    a record of the inventory topic in Kafka mode (kafka_store.TopicPostureResults)."""

    async def load(self, tenant: str) -> dict[str, Any]: ...
    async def save(self, tenant: str, results: dict[str, Any], at: float) -> None: ...


class PostureResults:
    """Each tenant's last posture results (``posture.evaluate``'s state), in the data directory's SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteThread(path, _SCHEMA, "posture")

    async def open(self) -> PostureResults:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> PostureResults:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def load(self, tenant: str) -> dict[str, Any]:
        rows = await self._db.query("SELECT value FROM posture_results WHERE tenant = ?", (tenant,))
        if not rows:
            return {}
        try:
            value = orjson.loads(rows[0][0])
        except orjson.JSONDecodeError:  # evaluate checks each entry; a row that is no JSON at all is none
            return {}
        return value if isinstance(value, dict) else {}

    async def save(self, tenant: str, results: dict[str, Any], at: float) -> None:
        await self._db.transaction(lambda db: write_results(db, tenant, results, at))


def write_results(db: sqlite3.Connection, tenant: str, results: dict[str, Any], at: float) -> None:
    """Store a tenant's results on ``db``: also inside another store's transaction on the same file (the
    embedded bus appending the findings they follow from), so both are stored or neither."""
    db.execute(
        "INSERT INTO posture_results (tenant, value, at) VALUES (?, ?, ?) "
        "ON CONFLICT (tenant) DO UPDATE SET value = excluded.value, at = excluded.at",
        (tenant, orjson.dumps(results).decode(), at),
    )


@dataclass
class Review:
    """The findings of one sync, and the results to store once they are published."""

    tenant: str
    findings: list[Finding]
    results: dict[str, Any]
    at: float

    async def commit(self, store: ResultsStore) -> None:
        await store.save(self.tenant, self.results, self.at)

    def write(self, db: sqlite3.Connection) -> None:
        """:meth:`commit` inside a transaction of the caller's (see :func:`write_results`)."""
        write_results(db, self.tenant, self.results, self.at)


async def review(
    results: ResultsStore,
    previous: Inventory | None,
    current: Inventory,
    settings: PostureSettings,
    now: float,
    *,
    watch: Watch | None = None,
    events: Iterable[Event] = (),
) -> Review:
    """Posture on change, then the inventory changes from ``previous`` (None: the first sync) to ``current``;
    computed off the event loop (each is a pass over an org of 50k users)."""
    before = await results.load(current.tenant)
    events = list(events)

    def judge() -> Review:
        stored, found = evaluate(before, current, settings, now)
        found += inventory_changes(previous, current, settings, now, watch=watch, events=events)
        return Review(current.tenant, found, stored, now)

    return await asyncio.to_thread(judge)


def watched(tenant: TenantConfig, first_connected: float | None, now: float) -> Watch:
    """When the daemon has read the tenant's System Log (``first_connected``: its first poll, kept in the
    tenant status): from that poll's lookback on. The poller resumes from its cursor after a stop, so what
    happened while it was down is read late, not lost: up to ``now`` too."""
    if first_connected is None:
        return Watch()
    return Watch(((first_connected - tenant.poll.lookback_minutes * 60.0, now),))


async def review_after_sync(
    results: ResultsStore,
    tenant: TenantConfig,
    status: dict[str, Any],
    previous: Inventory,
    current: Inventory,
    watch: Watch,
    now: float,
) -> Review | None:
    """What a sync raises, in either mode: when it succeeded and posture is on, :func:`review` from ``previous``
    (loaded before the sync; never synced: the first sync) to ``current``. None: nothing was reviewed. The
    caller publishes the findings, then stores the results (:func:`raise_after_sync` for the embedded bus)."""
    if status.get("state") != "success" or not tenant.posture.enabled:
        return None
    before = previous if previous.synced_at is not None else None
    return await review(results, before, current, tenant.posture, now, watch=watch)


async def raise_after_sync(
    bus: EmbeddedBus,
    results: PostureResults,
    tenant: TenantConfig,
    status: dict[str, Any],
    previous: Inventory,
    current: Inventory,
    watch: Watch,
    now: float,
) -> Review | None:
    """What a sync raises, the daemon's and ``detector inventory sync``'s alike (:func:`review_after_sync`), its
    findings appended to itdr.findings in one transaction with the posture results they follow from. From there
    they take the findings' way (findings.jsonl, incidents, channels) like any detection's, whenever the daemon
    reads them. None: nothing was reviewed."""
    done = await review_after_sync(results, tenant, status, previous, current, watch, now)
    if done is None:
        return None
    appends = [(FINDINGS, Record(f.tenant, f.record_key, orjson.dumps(f.to_dict()))) for f in done.findings]
    await bus.commit(None, 0, appends, also=done.write)
    return done
