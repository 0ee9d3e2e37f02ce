"""The action ledger: every enforcement is recorded before and after it is called.

The action id is derived from (tenant, action, user, finding), so a finding
delivered twice maps to the same ledger row and Okta is called once. A row
left ``pending`` by a crash mid-call is retried on redelivery: the worker's
calls are check-then-act, so repeating one is safe. In embedded mode the
ledger is also the audit trail; in Kafka mode every transition is also
published to ``itdr.actions`` before ``record`` returns, and an action worker
rebuilds its ledger from that topic (``merge``) when it starts, so a finding
redelivered to another worker still maps to the row the first one wrote.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from detector.sqlite import SqliteThread


class Status(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    FAILED = "failed"


FINAL = frozenset({Status.DONE, Status.DRY_RUN, Status.SKIPPED})


def action_id(tenant: str, action: str, principal: str, finding_key: str) -> str:
    return hashlib.sha256(f"{tenant}|{action}|{principal}|{finding_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ActionRecord:
    action_id: str
    tenant: str
    action: str
    principal: str
    principal_login: str
    detection: str
    finding_key: str
    status: Status
    detail: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS action_ledger (
    action_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL, action TEXT NOT NULL, principal TEXT NOT NULL, principal_login TEXT NOT NULL,
    detection TEXT NOT NULL, finding_key TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS action_ledger_recent ON action_ledger (tenant, updated_at);
"""
_COLUMNS = (
    "action_id, tenant, action, principal, principal_login, detection, finding_key, status, detail, "
    "created_at, updated_at"
)


Publish = Callable[["ActionRecord"], Awaitable[None]]


class SqliteLedger:
    def __init__(self, path: Path, publish: Publish | None = None) -> None:
        self.path = path
        self.publish = publish  # the audit trail beyond this file (itdr.actions), awaited on every record
        self._db = SqliteThread(path, _SCHEMA, "ledger")

    async def open(self) -> SqliteLedger:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def get(self, action_id: str) -> ActionRecord | None:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM action_ledger WHERE action_id = ?", (action_id,)
            ).fetchone()
        )
        return _record(row) if row else None

    async def record(self, record: ActionRecord) -> None:
        """Insert or move a row to a new status; durable (and published) when this returns."""
        await self._write(record, newer_only=False)
        if self.publish is not None:
            await self.publish(record)

    async def merge(self, record: ActionRecord) -> None:
        """Adopt a row another worker published, unless the one here is newer."""
        await self._write(record, newer_only=True)

    async def _write(self, record: ActionRecord, *, newer_only: bool) -> None:
        guard = " WHERE excluded.updated_at >= action_ledger.updated_at" if newer_only else ""

        def write() -> None:
            self._db.conn.execute(
                f"INSERT INTO action_ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (action_id) DO UPDATE SET status = excluded.status, detail = excluded.detail, "
                "updated_at = excluded.updated_at" + guard,
                (
                    record.action_id,
                    record.tenant,
                    record.action,
                    record.principal,
                    record.principal_login,
                    record.detection,
                    record.finding_key,
                    record.status.value,
                    record.detail,
                    record.created_at,
                    record.updated_at,
                ),
            )

        await self._db.run(write)

    async def count_since(self, tenant: str, since: float, statuses: frozenset[Status]) -> int:
        marks = ",".join("?" for _ in statuses)
        row = await self._db.run(
            lambda: self._db.conn.execute(
                f"SELECT COUNT(*) FROM action_ledger WHERE tenant = ? AND updated_at >= ? AND status IN ({marks})",
                (tenant, since, *(s.value for s in statuses)),
            ).fetchone()
        )
        return row[0]

    async def recent_for(self, tenant: str, principal: str, action: str, detection: str, since: float) -> bool:
        """Was this action already taken on this user for this detection recently (once per 24 h)?"""
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT 1 FROM action_ledger WHERE tenant = ? AND principal = ? AND action = ? AND detection = ? "
                "AND status IN ('done', 'dry_run') AND updated_at >= ? LIMIT 1",
                (tenant, principal, action, detection, since),
            ).fetchone()
        )
        return row is not None

    async def all(self) -> list[ActionRecord]:
        rows = await self._db.run(
            lambda: self._db.conn.execute(f"SELECT {_COLUMNS} FROM action_ledger ORDER BY created_at").fetchall()
        )
        return [_record(r) for r in rows]


def record_from_dict(data: dict[str, Any]) -> ActionRecord:
    return ActionRecord(**{**data, "status": Status(data["status"])})


def _record(row: tuple) -> ActionRecord:
    fields = list(row)
    fields[7] = Status(fields[7])
    return ActionRecord(*fields)
