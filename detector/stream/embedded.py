"""The embedded bus: the Kafka topics as tables of one local SQLite file.

Each topic is an append-only table with an increasing offset; each consumer
group keeps its committed offset in the same file. That makes every stage a
single transaction: the poller stores a page and its cursor together, the
detection stage stores findings, detection state and its input offset
together. A kill -9 at any point therefore leaves either all of a step or none
of it, and the step is redone on restart: nothing lost, nothing twice.

"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from detector.sqlite import SqliteThread
from detector.stream.bus import DEADLETTER, EVENTS, FINDINGS, Cursor, EventRecord

# itdr.actions has no table here: in embedded mode the action ledger is the audit trail.
_TABLES = {EVENTS: "events", FINDINGS: "findings", DEADLETTER: "deadletter"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL, key TEXT NOT NULL, uuid TEXT NOT NULL, value BLOB NOT NULL,
    stored_at REAL NOT NULL,
    UNIQUE (tenant, uuid)
);
CREATE TABLE IF NOT EXISTS findings (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL, key TEXT NOT NULL UNIQUE, value BLOB NOT NULL, stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deadletter (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    tenant TEXT PRIMARY KEY, next_url TEXT NOT NULL, last_published TEXT, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_offsets (grp TEXT PRIMARY KEY, offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS detection_state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_status (tenant TEXT PRIMARY KEY, value BLOB NOT NULL, updated_at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    offset: int
    tenant: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Record:
    """A record to append to a topic other than okta.events."""

    tenant: str
    key: str
    value: bytes


class EmbeddedBus:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteThread(path, _SCHEMA, "bus")
        self._changed: dict[str, asyncio.Event] = {topic: asyncio.Event() for topic in _TABLES}

    async def open(self) -> EmbeddedBus:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> EmbeddedBus:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the poller's sink -------------------------------------------------

    async def load_cursor(self, tenant: str) -> Cursor | None:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT next_url, last_published FROM cursors WHERE tenant = ?", (tenant,)
            ).fetchone()
        )
        return Cursor(row[0], row[1]) if row else None

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        def txn(db: sqlite3.Connection) -> int:
            now = time.time()
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO events (tenant, key, uuid, value, stored_at) VALUES (?, ?, ?, ?, ?)",
                [(r.tenant, r.key, r.uuid, r.value, now) for r in records],
            )
            added = db.total_changes - before
            db.execute(
                "INSERT INTO cursors (tenant, next_url, last_published, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant) DO UPDATE SET next_url = excluded.next_url, "
                "last_published = COALESCE(excluded.last_published, cursors.last_published), "
                "updated_at = excluded.updated_at",
                (tenant, cursor.next_url, cursor.last_published, now),
            )
            return added

        added = await self._db.transaction(txn)
        if added:
            self._changed[EVENTS].set()
        return added

    # --- consuming ---------------------------------------------------------

    async def read(self, topic: str, after: int, limit: int = 500) -> list[Stored]:
        table = _TABLES[topic]
        rows = await self._db.run(
            lambda: self._db.conn.execute(
                f"SELECT offset, tenant, key, value FROM {table} WHERE offset > ? ORDER BY offset LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [Stored(*row) for row in rows]

    async def wait(self, topic: str, timeout: float) -> None:
        """Sleep until something is appended to ``topic`` or ``timeout`` passes."""
        changed = self._changed[topic]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()

    async def committed(self, group: str) -> int:
        row = await self._db.run(
            lambda: self._db.conn.execute("SELECT offset FROM consumer_offsets WHERE grp = ?", (group,)).fetchone()
        )
        return row[0] if row else 0

    async def commit(
        self,
        group: str | None,
        offset: int,
        appends: Iterable[tuple[str, Record]] = (),
        states: dict[str, bytes | None] | None = None,
        also: Callable[[sqlite3.Connection], object] | None = None,
    ) -> object:
        """Append records, save detection state, run ``also`` (another stage's writes: the incidents and their
        outbox rows) and move ``group`` to ``offset``, all or nothing. Returns what ``also`` returned, once
        committed: ``also`` runs on the SQLite thread, so whatever it should set off is set off by the caller.
        ``group`` None: records that no consumer read (the findings of a directory sync), no offset moved.

        Findings are unique by key: a finding seen before (a replay) is dropped here.
        """
        appends = list(appends)

        def txn(db: sqlite3.Connection) -> object:
            now = time.time()
            for topic, record in appends:
                verb = "INSERT OR IGNORE" if topic == FINDINGS else "INSERT"
                db.execute(
                    f"{verb} INTO {_TABLES[topic]} (tenant, key, value, stored_at) VALUES (?, ?, ?, ?)",
                    (record.tenant, record.key, record.value, now),
                )
            for key, value in (states or {}).items():
                if value is None:
                    db.execute("DELETE FROM detection_state WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT INTO detection_state (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
            done = also(db) if also is not None else None
            if group is not None:
                _set_offset(db, group, offset)
            return done

        done = await self._db.transaction(txn)
        for topic in {topic for topic, _ in appends}:
            self._changed[topic].set()
        return done

    async def load_states(self, prefix: str = "") -> dict[str, bytes]:
        """Stored detection state, of the keys starting with ``prefix`` (a tenant's: ``"acme|"``)."""
        rows = await self._db.query(
            "SELECT key, value FROM detection_state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return dict(rows)

    async def query_findings(
        self,
        tenant: str | None = None,
        detection: str | None = None,
        tier: str | None = None,
        since: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; ``since`` is compared with the finding's event time (ISO-8601, sorts as time)."""
        where, params = [], []
        for clause, value in (
            ("tenant = ?", tenant),
            ("json_extract(value, '$.detection') = ?", detection),
            ("json_extract(value, '$.tier') = ?", tier),
            ("json_extract(value, '$.time') >= ?", since),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = "SELECT value FROM findings" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._db.query(sql + " ORDER BY offset DESC LIMIT ?", (*params, limit))
        return [orjson.loads(value) for (value,) in rows]

    # --- tenant status (detector.ops.status.StatusStore) ---------------------

    async def load_status(self) -> dict[str, dict[str, Any]]:
        rows = await self._db.query("SELECT tenant, value FROM tenant_status")
        return {tenant: orjson.loads(value) for tenant, value in rows}

    async def save_status(self, tenant: str, value: dict[str, Any]) -> None:
        def txn(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO tenant_status (tenant, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (tenant, orjson.dumps(value), time.time()),
            )

        await self._db.transaction(txn)

    async def prune_events(self, keep_seconds: float, groups: Sequence[str]) -> int:
        """Drop consumed events older than the dedupe window (their uuids stop guarding against repeats)."""

        def txn(db: sqlite3.Connection) -> int:
            offsets = [
                row[0] if row else 0
                for row in (
                    db.execute("SELECT offset FROM consumer_offsets WHERE grp = ?", (g,)).fetchone() for g in groups
                )
            ]
            floor = min(offsets, default=0)
            cur = db.execute(
                "DELETE FROM events WHERE offset <= ? AND stored_at < ?", (floor, time.time() - keep_seconds)
            )
            return cur.rowcount

        return await self._db.transaction(txn)

    async def count(self, topic: str) -> int:
        return (await self._db.run(lambda: self._db.conn.execute(f"SELECT COUNT(*) FROM {_TABLES[topic]}").fetchone()))[
            0
        ]


def _set_offset(db: sqlite3.Connection, group: str, offset: int) -> None:
    db.execute(
        "INSERT INTO consumer_offsets (grp, offset) VALUES (?, ?) "
        "ON CONFLICT (grp) DO UPDATE SET offset = excluded.offset",
        (group, offset),
    )


def run_sync(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Read-only query for tests and `detector` inspection commands, outside the event loop."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()
