"""The durable outbox of embedded mode: every incident update reaches every channel that wants it, once, in
order per incident, across crashes and destinations that go away.

An update is written as one row per (channel, incident version) in the same SQLite transaction as the
incident itself and the findings offset that produced it (``write_updates`` runs inside the bus's commit),
so a crash leaves both or neither. One delivery loop per channel (``Deliverer``) takes the oldest pending
version of each incident, calls the channel, and records what happened:

* ``delivered``: done; the delivery lag (update written → delivered) is observed;
* ``retry``: again after an exponential backoff with jitter, or after the destination's ``Retry-After``;
  the later versions of that incident wait behind it (order per incident), the other incidents do not;
* ``permanent`` (a 4xx other than 408/429): parked with the reason and counted, never retried; the next
  version is tried.

Each channel has its own loop, so a destination that is down holds up nobody else. Each delivery is
idempotent at the receiver (webhook-id, Slack's stored message ts in ``delivery_memo``, PagerDuty's
dedup_key = the incident key), so a delivery repeated after a crash before it was marked is harmless.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog

from detector.ops.metrics import Metrics
from detector.respond.channels.base import Channel, Outcome
from detector.respond.incidents import Incident
from detector.sqlite import SqliteThread

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    key TEXT PRIMARY KEY, tenant TEXT NOT NULL, entity TEXT NOT NULL, status TEXT NOT NULL,
    updated_at REAL NOT NULL, value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (status, tenant);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, incident TEXT NOT NULL, version INTEGER NOT NULL, value BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
    reason TEXT, created_at REAL NOT NULL, done_at REAL,
    UNIQUE (channel, incident, version)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, state, incident, id);
CREATE TABLE IF NOT EXISTS delivery_memo (
    channel TEXT NOT NULL, incident TEXT NOT NULL, memo BLOB NOT NULL, PRIMARY KEY (channel, incident)
);
"""

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 300.0
IDLE_S = 0.5  # how long a loop with nothing due sleeps (an update wakes it at once)


Channels = Mapping[str, Sequence[Channel]]  # tenant → its channels


def qualified(tenant: str, channel: Channel) -> str:
    """A channel's name in the outbox and its metrics: channels are configured per tenant, names may repeat."""
    return f"{tenant}/{channel.name}"


def write_updates(db: sqlite3.Connection, incidents: Iterable[Incident], channels: Channels) -> int:
    """Inside the caller's transaction: store each incident and queue its version for every channel of its
    tenant that wants it, or that was sent an earlier version (so it also gets the resolution, even if the
    incident no longer passes its routing). Returns the rows queued; a version already queued (a replayed
    batch) is not queued again."""
    now, queued = time.time(), 0
    for incident in incidents:
        value = incident.to_dict()
        body = orjson.dumps(value)
        db.execute(
            "INSERT INTO incidents (key, tenant, entity, status, updated_at, value) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, "
            "value = excluded.value",
            (incident.key, incident.tenant, incident.entity, incident.status, now, body),
        )
        for channel in channels.get(incident.tenant, ()):
            name = qualified(incident.tenant, channel)
            if channel.wants(value) or _sent_before(db, name, incident.key):
                cur = db.execute(
                    "INSERT OR IGNORE INTO outbox (channel, incident, version, value, next_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (name, incident.key, incident.version, body, now, now),
                )
                queued += cur.rowcount
    return queued


def _sent_before(db: sqlite3.Connection, channel: str, incident: str) -> bool:
    return (
        db.execute("SELECT 1 FROM outbox WHERE channel = ? AND incident = ? LIMIT 1", (channel, incident)).fetchone()
        is not None
    )


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    channel: str
    incident: str
    version: int
    value: dict[str, Any]
    attempts: int
    created_at: float


class Outbox:
    """The delivery side: its own connection to the data file (WAL: it never blocks the stages' writes)."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteThread(path, SCHEMA, "outbox")

    async def open(self) -> Outbox:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def open_incidents(self) -> list[Incident]:
        rows = await self._db.query("SELECT value FROM incidents WHERE status = 'open'")
        return [Incident.from_dict(orjson.loads(value)) for (value,) in rows]

    async def incidents(self, tenant: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
        where, params = [], []
        for clause, value in (("tenant = ?", tenant), ("status = ?", status)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = "SELECT value FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._db.query(sql + " ORDER BY updated_at DESC LIMIT ?", (*params, limit))
        return [orjson.loads(value) for (value,) in rows]

    async def incident(self, key: str) -> dict[str, Any] | None:
        rows = await self._db.query("SELECT value FROM incidents WHERE key = ?", (key,))
        return orjson.loads(rows[0][0]) if rows else None

    async def write(self, incidents: Sequence[Incident], channels: Channels) -> int:
        """Updates made outside a findings batch (quiet-period resolution, an operator's resolve)."""
        return await self._db.transaction(lambda db: write_updates(db, incidents, channels))

    async def due(self, channel: str, now: float, limit: int = 50) -> list[Pending]:
        """The oldest pending version of each incident, when it is due: order per incident."""
        rows = await self._db.query(
            "SELECT o.id, o.incident, o.version, o.value, o.attempts, o.created_at FROM outbox o "
            "WHERE o.channel = ? AND o.state = 'pending' AND o.next_at <= ? AND o.id = ("
            "  SELECT MIN(p.id) FROM outbox p WHERE p.channel = o.channel AND p.incident = o.incident"
            "  AND p.state = 'pending') ORDER BY o.id LIMIT ?",
            (channel, now, limit),
        )
        return [Pending(r[0], channel, r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for r in rows]

    async def memo(self, channel: str, incident: str) -> dict[str, Any]:
        rows = await self._db.query(
            "SELECT memo FROM delivery_memo WHERE channel = ? AND incident = ?", (channel, incident)
        )
        return orjson.loads(rows[0][0]) if rows else {}

    async def settle(self, row: Pending, outcome: Outcome, next_at: float | None) -> None:
        """Record an outcome and the channel's memo together: a crash never loses a Slack ts it was given."""
        state = {"delivered": "delivered", "permanent": "parked", "retry": "pending"}[outcome.kind]

        def txn(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, next_at = COALESCE(?, next_at), reason = ?, "
                "done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END WHERE id = ?",
                (state, next_at, outcome.reason or None, state, time.time(), row.id),
            )
            if outcome.memo:
                db.execute(
                    "INSERT INTO delivery_memo (channel, incident, memo) VALUES (?, ?, ?) "
                    "ON CONFLICT (channel, incident) DO UPDATE SET memo = excluded.memo",
                    (row.channel, row.incident, orjson.dumps(dict(outcome.memo))),
                )

        await self._db.transaction(txn)

    async def depth(self, channel: str) -> int:
        rows = await self._db.query("SELECT COUNT(*) FROM outbox WHERE channel = ? AND state = 'pending'", (channel,))
        return int(rows[0][0])

    async def deliveries(self, incident: str) -> list[dict[str, Any]]:
        rows = await self._db.query(
            "SELECT channel, version, state, attempts, reason FROM outbox WHERE incident = ? ORDER BY id", (incident,)
        )
        return [{"channel": r[0], "version": r[1], "state": r[2], "attempts": r[3], "reason": r[4]} for r in rows]


def start_channel_series(metrics: Metrics, channels: Iterable[str]) -> None:
    """Every channel's series from 0, so the first failure shows."""
    for name in channels:
        for outcome in ("delivered", "retried", "parked"):
            metrics.deliveries.labels(name, outcome)
        metrics.delivery_lag.labels(name)
        metrics.outbox_depth.labels(name).set(0)


def backoff(attempts: int, retry_after_s: float | None, rng: random.Random) -> float:
    """The destination's Retry-After when it gave one, else 1, 2, 4 ... 300 s with ±20 % jitter."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), BACKOFF_MAX_S)
    return min(BACKOFF_BASE_S * 2**attempts, BACKOFF_MAX_S) * rng.uniform(0.8, 1.2)


class Deliverer:
    """One loop per channel over the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],  # qualified name → channel
        metrics: Metrics,
        *,
        wake: asyncio.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox, self.channels, self.metrics = outbox, channels, metrics
        self.wake = wake or asyncio.Event()  # set when an update was queued
        self._rng = rng or random.Random()
        self._wakes: dict[str, asyncio.Event] = {name: asyncio.Event() for name in channels}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        start_channel_series(metrics, channels)

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._loops: dict[str, asyncio.Task[None]] = {}
        self.update(self.channels)
        fan = asyncio.create_task(self._fan_out(stop), name="deliver:wake")
        try:
            await stop.wait()
        finally:
            for task in [*self._loops.values(), fan]:
                task.cancel()
            await asyncio.gather(*self._loops.values(), fan, return_exceptions=True)

    def update(self, channels: Mapping[str, Channel]) -> None:
        """The channels after a reload: a loop starts for each new one, and stops for each one removed."""
        self.channels = dict(channels)
        start_channel_series(self.metrics, channels)
        for name in [n for n in self._loops if n not in channels]:
            self._loops.pop(name).cancel()
        for name in channels:
            if name not in self._loops:
                self._wakes.setdefault(name, asyncio.Event()).set()
                self._loops[name] = asyncio.create_task(self._loop(name, self._stop), name=f"deliver:{name}")

    async def _fan_out(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.wake.wait()
            self.wake.clear()
            for event in list(self._wakes.values()):
                event.set()

    async def _loop(self, name: str, stop: asyncio.Event) -> None:
        wake = self._wakes[name]
        while not stop.is_set() and name in self.channels:
            wake.clear()  # before looking: an update queued while this loop looks keeps it awake
            done = await self.step(name)
            self.metrics.outbox_depth.labels(name).set(await self.outbox.depth(name))
            if done == 0:
                await _sleep_until(wake, stop, IDLE_S)

    async def step(self, name: str) -> int:
        """Deliver what is due for one channel; returns how many deliveries were attempted."""
        channel = self.channels[name]
        rows = await self.outbox.due(name, time.time())
        for row in rows:
            memo = await self.outbox.memo(row.channel, row.incident)
            outcome = await attempt(channel, row.value, memo, self.metrics, row.created_at, name)
            retry_at = time.time() + backoff(row.attempts, outcome.retry_after_s, self._rng)
            await self.outbox.settle(row, outcome, retry_at if outcome.kind == "retry" else None)
        return len(rows)


async def attempt(
    channel: Channel,
    incident: Mapping[str, Any],
    memo: Mapping[str, Any],
    metrics: Metrics,
    stored_at: float,
    name: str,
) -> Outcome:
    """One delivery of one incident version, counted and logged under ``name`` (both modes' loops use it)."""
    try:
        outcome = await channel.deliver(incident, memo)
    except Exception as exc:  # a channel bug must not stop the loop: retry, and say why
        outcome = Outcome("retry", reason=f"{type(exc).__name__} in the channel: {str(exc)[:200]}")
    key = incident.get("key")
    if outcome.kind == "retry":
        metrics.deliveries.labels(name, "retried").inc()
        log.warning("delivery.retry", channel=name, incident=key, reason=outcome.reason)
    elif outcome.kind == "permanent":
        metrics.deliveries.labels(name, "parked").inc()
        log.error("delivery.parked", channel=name, incident=key, reason=outcome.reason)
    else:
        metrics.deliveries.labels(name, "delivered").inc()
        metrics.delivery_lag.labels(name).observe(max(0.0, time.time() - stored_at))
    return outcome


async def _sleep_until(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
