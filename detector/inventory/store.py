"""The durable inventory: records per (tenant, kind, id), the sync status and the resume checkpoint.

Why generations: a full sync must forget what Okta no longer has, without emptying the inventory first
(detections and posture read it meanwhile). Each sync takes the next generation number and writes every
record it reads with it; when one part of the sync (users, groups, apps, ...) has read all its pages, the
rows that part wrote in older generations are what Okta deleted, and they go. A part that was skipped
(a 403) keeps its old rows: not seeing them is not knowing they are gone.

Why a checkpoint: a large org takes a long time to read. Each page's records are committed together with
the checkpoint (the generation, the parts finished, the part in progress and Okta's ``next`` URL after the
page), so a killed sync goes on where it stopped, in the same generation, without reading finished parts
again.

Records written from System Log events between syncs take the newest generation, so a sync in progress
never sweeps them; ``mark_stale`` notes a record an event changed without saying enough, and the next sync
that reads its part clears the note.

This SQLite store is embedded mode's; Kafka mode's implements the same ``InventoryStore`` on the compacted
``itdr.inventory`` topic (kafka_store.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from detector.inventory.model import KIND_OF, Inventory, decode, encode, owner_of, record_id
from detector.sqlite import SqliteThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory_records (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
    part TEXT NOT NULL, generation INTEGER NOT NULL, value TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',  -- the user or group a record hangs off (a factor's user, a role's assignee)
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX IF NOT EXISTS inventory_records_part ON inventory_records (tenant, part, generation);
CREATE INDEX IF NOT EXISTS inventory_records_owner ON inventory_records (tenant, owner) WHERE owner != '';
CREATE TABLE IF NOT EXISTS inventory_generation (tenant TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_checkpoint (tenant TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_sync_status (tenant TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_stale (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, part TEXT NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);
"""


@dataclass
class Checkpoint:
    """Where a sync stands: its generation, the parts done or skipped (and why), the part in progress and
    the ``next`` URL after its last stored page (None: the part starts from its first page)."""

    generation: int
    started: float
    done: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)  # parts read the slower way, and why (Okta's refusal)
    part: str | None = None
    next_url: str | None = None
    malformed: dict[str, int] = field(default_factory=dict)  # objects skipped by the parser, per kind
    resumed: int = 0  # how many times this sync was taken up again after a stop
    elapsed_s: float = 0.0  # time spent syncing over all its runs (not the time it was stopped)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Checkpoint:
        data = orjson.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class InventoryStore(Protocol):
    """What the sync, the event path, status and the CLI need from a store (the Kafka-mode seam)."""

    async def begin_sync(self, tenant: str, now: float) -> Checkpoint: ...
    async def write_page(self, tenant: str, checkpoint: Checkpoint, records: Iterable[tuple[str, Any]]) -> None: ...
    async def finish_part(self, tenant: str, checkpoint: Checkpoint, part: str, swept: Iterable[str] = ()) -> int: ...
    async def skip_part(self, tenant: str, checkpoint: Checkpoint, part: str, reason: str) -> None: ...
    async def end_sync(self, tenant: str, status: dict[str, Any], *, keep_checkpoint: bool) -> None: ...
    async def put(self, tenant: str, part: str, records: Iterable[Any]) -> None: ...
    async def delete(self, tenant: str, kind: str, ids: Iterable[str]) -> None: ...
    async def mark_stale(self, tenant: str, kind: str, rid: str, part: str, reason: str, at: float) -> None: ...
    async def load(self, tenant: str) -> Inventory: ...
    async def get(self, tenant: str, kind: str, rid: str) -> Any | None: ...
    async def owned_by(self, tenant: str, owner: str) -> list[tuple[str, Any]]: ...
    async def records(self, tenant: str, kind: str | None = None) -> list[tuple[str, Any]]: ...
    async def counts(self, tenant: str) -> dict[str, int]: ...
    async def sync_status(self, tenant: str | None = None) -> dict[str, dict[str, Any]]: ...


class SqliteInventoryStore:
    """The inventory in the data directory's SQLite file (its own tables beside the bus and the ledger)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteThread(path, _SCHEMA, "inventory")

    async def open(self) -> SqliteInventoryStore:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> SqliteInventoryStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- a full sync ------------------------------------------------------------------------------

    async def begin_sync(self, tenant: str, now: float) -> Checkpoint:
        """The stored checkpoint of a sync that stopped (resumed), else a new sync in the next generation."""

        def begin(db: sqlite3.Connection) -> Checkpoint:
            row = db.execute("SELECT value FROM inventory_checkpoint WHERE tenant = ?", (tenant,)).fetchone()
            if row is not None:
                checkpoint = Checkpoint.from_json(row[0])
                checkpoint.resumed += 1
            else:
                checkpoint = Checkpoint(_generation(db, tenant) + 1, now)
                db.execute(
                    "INSERT INTO inventory_generation (tenant, generation) VALUES (?, ?) "
                    "ON CONFLICT (tenant) DO UPDATE SET generation = excluded.generation",
                    (tenant, checkpoint.generation),
                )
            _save_checkpoint(db, tenant, checkpoint)
            return checkpoint

        return await self._db.transaction(begin)

    async def write_page(self, tenant: str, checkpoint: Checkpoint, records: Iterable[tuple[str, Any]]) -> None:
        """One page's (part, record) pairs and the checkpoint after it (``checkpoint.next_url``), in one
        transaction: a page is stored whole with the cursor that follows it, or not at all."""
        rows = [row for part, record in records for row in _rows(tenant, part, checkpoint.generation, (record,))]

        def write(db: sqlite3.Connection) -> None:
            _upsert(db, rows)
            _save_checkpoint(db, tenant, checkpoint)

        await self._db.transaction(write)

    async def finish_part(self, tenant: str, checkpoint: Checkpoint, part: str, swept: Iterable[str] = ()) -> int:
        """Every page of ``part`` is stored: the rows of ``part`` and of ``swept`` (the parts read with it,
        e.g. each user's factors) of older generations are gone from Okta and deleted, and their stale marks
        made before this sync started are cleared. Returns how many rows were deleted."""
        checkpoint.done.append(part)
        checkpoint.part, checkpoint.next_url = None, None
        parts = [part, *swept]

        def finish(db: sqlite3.Connection) -> int:
            gone = 0
            for name in parts:
                gone += db.execute(
                    "DELETE FROM inventory_records WHERE tenant = ? AND part = ? AND generation < ?",
                    (tenant, name, checkpoint.generation),
                ).rowcount
                db.execute(
                    "DELETE FROM inventory_stale WHERE tenant = ? AND part = ? AND at < ?",
                    (tenant, name, checkpoint.started),
                )
            _save_checkpoint(db, tenant, checkpoint)
            return gone

        return await self._db.transaction(finish)

    async def skip_part(self, tenant: str, checkpoint: Checkpoint, part: str, reason: str) -> None:
        """``part`` could not be read (its scope is not granted): its old rows stay, the reason is kept."""
        checkpoint.skipped[part] = reason
        checkpoint.part, checkpoint.next_url = None, None
        await self._db.transaction(lambda db: _save_checkpoint(db, tenant, checkpoint))

    async def end_sync(self, tenant: str, status: dict[str, Any], *, keep_checkpoint: bool) -> None:
        """Store the sync's status; a finished sync drops its checkpoint, a failed one keeps it to resume."""

        def end(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO inventory_sync_status (tenant, value) VALUES (?, ?) "
                "ON CONFLICT (tenant) DO UPDATE SET value = excluded.value",
                (tenant, orjson.dumps(status).decode()),
            )
            if not keep_checkpoint:
                db.execute("DELETE FROM inventory_checkpoint WHERE tenant = ?", (tenant,))

        await self._db.transaction(end)

    async def set_status(self, tenant: str, status: dict[str, Any]) -> None:
        """The status of a sync in progress (its checkpoint untouched)."""
        await self.end_sync(tenant, status, keep_checkpoint=True)

    async def checkpoint(self, tenant: str) -> Checkpoint | None:
        rows = await self._db.query("SELECT value FROM inventory_checkpoint WHERE tenant = ?", (tenant,))
        return Checkpoint.from_json(rows[0][0]) if rows else None

    # -- between syncs: System Log events -----------------------------------------------------------

    async def put(self, tenant: str, part: str, records: Iterable[Any]) -> None:
        """Records an event described, in the newest generation (a sync in progress keeps them)."""

        def write(db: sqlite3.Connection) -> None:
            _upsert(db, _rows(tenant, part, _generation(db, tenant), records))

        await self._db.transaction(write)

    async def delete(self, tenant: str, kind: str, ids: Iterable[str]) -> None:
        keys = [(tenant, kind, rid) for rid in ids]
        await self._db.run(
            lambda: self._db.conn.executemany(
                "DELETE FROM inventory_records WHERE tenant = ? AND kind = ? AND id = ?", keys
            )
        )

    async def mark_stale(self, tenant: str, kind: str, rid: str, part: str, reason: str, at: float) -> None:
        await self._db.run(
            lambda: self._db.conn.execute(
                "INSERT INTO inventory_stale (tenant, kind, id, part, reason, at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, kind, id) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                (tenant, kind, rid, part, reason[:200], at),
            )
        )

    async def stale(self, tenant: str) -> list[tuple[str, str, str]]:
        """(kind, id, reason) of each record to re-read at the next sync."""
        rows = await self._db.query(
            "SELECT kind, id, reason FROM inventory_stale WHERE tenant = ? ORDER BY at", (tenant,)
        )
        return [(k, i, r) for k, i, r in rows]

    # -- reading ------------------------------------------------------------------------------------

    async def get(self, tenant: str, kind: str, rid: str) -> Any | None:
        rows = await self._db.query(
            "SELECT value FROM inventory_records WHERE tenant = ? AND kind = ? AND id = ?", (tenant, kind, rid)
        )
        return decode(kind, orjson.loads(rows[0][0])) if rows else None

    async def owned_by(self, tenant: str, owner: str) -> list[tuple[str, Any]]:
        """(kind, record) of every record that belongs to a user or group (its factors, memberships, roles,
        app assignments, tokens): what goes with it when it is deleted."""
        rows = await self._db.query(
            "SELECT kind, value FROM inventory_records WHERE tenant = ? AND owner = ? AND owner != ''", (tenant, owner)
        )
        return [(k, decode(k, orjson.loads(v))) for k, v in rows]

    async def records(self, tenant: str, kind: str | None = None) -> list[tuple[str, Any]]:
        """(kind, record) of the tenant, by kind and id."""
        where, params = ("tenant = ?", (tenant,)) if kind is None else ("tenant = ? AND kind = ?", (tenant, kind))
        return await self._db.run(lambda: list(self._decoded(where, params)))

    def _decoded(self, where: str, params: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        """Rows decoded on the store's thread: a 50k-user org is 250k records, seconds of work kept off the loop."""
        sql = f"SELECT kind, value FROM inventory_records WHERE {where} ORDER BY kind, id"
        for k, v in self._db.conn.execute(sql, params):
            yield k, decode(k, orjson.loads(v))

    async def load(self, tenant: str) -> Inventory:
        """The tenant's whole inventory in memory, indexed (``synced_at``: when the last full sync finished);
        read, decoded and indexed on the store's thread, not the event loop's."""

        def build() -> Inventory:
            inventory = Inventory(tenant)
            for _, record in self._decoded("tenant = ?", (tenant,)):
                inventory.put(record)
            return inventory

        inventory = await self._db.run(build)
        status = (await self.sync_status(tenant)).get(tenant, {})
        inventory.synced_at = status.get("last_success")
        return inventory

    async def counts(self, tenant: str) -> dict[str, int]:
        rows = await self._db.query(
            "SELECT kind, COUNT(*) FROM inventory_records WHERE tenant = ? GROUP BY kind", (tenant,)
        )
        return dict(rows)

    async def sync_status(self, tenant: str | None = None) -> dict[str, dict[str, Any]]:
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = await self._db.query(f"SELECT tenant, value FROM inventory_sync_status {where}", params)
        return {t: orjson.loads(v) for t, v in rows}


def _generation(db: sqlite3.Connection, tenant: str) -> int:
    row = db.execute("SELECT generation FROM inventory_generation WHERE tenant = ?", (tenant,)).fetchone()
    return row[0] if row else 0


def _save_checkpoint(db: sqlite3.Connection, tenant: str, checkpoint: Checkpoint) -> None:
    db.execute(
        "INSERT INTO inventory_checkpoint (tenant, value) VALUES (?, ?) "
        "ON CONFLICT (tenant) DO UPDATE SET value = excluded.value",
        (tenant, checkpoint.to_json().decode()),
    )


def _rows(tenant: str, part: str, generation: int, records: Iterable[Any]) -> list[tuple[Any, ...]]:
    rows = []
    for r in records:
        kind = KIND_OF[type(r)]
        rows.append((tenant, kind, record_id(r), part, generation, orjson.dumps(encode(r)).decode(), owner_of(r)))
    return rows


def _upsert(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    db.executemany(
        "INSERT INTO inventory_records (tenant, kind, id, part, generation, value, owner) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, kind, id) DO UPDATE SET part = excluded.part, generation = excluded.generation, "
        "value = excluded.value, owner = excluded.owner",
        rows,
    )
