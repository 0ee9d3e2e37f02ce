"""The action ledger: every decision about an action, recorded before and after Okta is called. The audit trail.

The action id is derived from (tenant, action, user, finding), so a finding
delivered twice maps to the same ledger row and Okta is called once. A row
left ``pending`` by a crash mid-call is retried on redelivery: the worker's
calls are check-then-act, so repeating one is safe. A row waiting for approval,
approved, denied, expired or undone is decided: a redelivered finding leaves it
as it is. In embedded mode the ledger is also the audit trail; in Kafka mode
every transition is also published to ``itdr.actions`` before ``record``
returns, and an action worker rebuilds its ledger from that topic (``merge``)
when it starts, so a finding redelivered to another worker still maps to the
row the first one wrote.

The same file keeps one-time claims (``claim``): a signed link used, a Slack
request handled. A claim is made once; the second attempt is refused.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from detector.sqlite import SqliteThread


class Status(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DRY_RUN = "dry_run"
    SHADOW = "shadow"
    SKIPPED = "skipped"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # enough approvers: Okta is being called
    DENIED = "denied"
    EXPIRED = "expired"
    UNDONE = "undone"


FINAL = frozenset(
    {
        Status.DONE,
        Status.DRY_RUN,
        Status.SHADOW,
        Status.SKIPPED,
        Status.AWAITING_APPROVAL,
        Status.APPROVED,
        Status.DENIED,
        Status.EXPIRED,
        Status.UNDONE,
    }
)
TAKEN = frozenset({Status.DONE, Status.DRY_RUN, Status.SHADOW, Status.AWAITING_APPROVAL, Status.APPROVED})


def action_id(tenant: str, action: str, principal: str, finding_key: str) -> str:
    return hashlib.sha256(f"{tenant}|{action}|{principal}|{finding_key}".encode()).hexdigest()[:32]


def request_id(action_id: str) -> str:
    """The approval request of an action: one per action, the same on every worker."""
    return "apr-" + hashlib.sha256(f"approval|{action_id}".encode()).hexdigest()[:24]


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
    mode: str = "auto"  # auto | approve | shadow (off is never recorded)
    incident: str = ""  # the incident's key, when the finding named one
    # while awaiting approval: request_id, expires (ISO), approvers_needed, approved_by, approve_url, deny_url;
    # after the decision the same without the links
    approval: dict[str, Any] | None = None
    undo_url: str = ""  # the signed undo link, when done, reversible and http.public_url is set
    reversible: bool = False  # this action changed the user and can change it back
    by: str = ""  # who made the latest decision: "policy", an approver, who denied or undid, "sweep"
    okta_error: dict[str, Any] | None = None  # a failed call's {error_code, request_id}

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
CREATE TABLE IF NOT EXISTS one_time_claims (key TEXT PRIMARY KEY, at REAL NOT NULL);
"""
# Columns added after the first release: (name, SQL type and default). An older file gains them at open.
_ADDED = (
    ("mode", "TEXT NOT NULL DEFAULT 'auto'"),
    ("incident", "TEXT NOT NULL DEFAULT ''"),
    ("approval", "TEXT"),
    ("undo_url", "TEXT NOT NULL DEFAULT ''"),
    ("reversible", "INTEGER NOT NULL DEFAULT 0"),
    ("by", "TEXT NOT NULL DEFAULT ''"),
    ("okta_error", "TEXT"),
    ("request_id", "TEXT"),
)
_FIELDS = [f.name for f in fields(ActionRecord)]
_COLUMNS = ", ".join(f'"{name}"' for name in _FIELDS)
_JSON = frozenset({"approval", "okta_error"})


Publish = Callable[["ActionRecord"], Awaitable[None]]
KAFKA_LEDGER_FILE = "actions-ledger.sqlite"  # the Kafka action worker's file in data_dir (embedded: itdr.sqlite)


class SqliteLedger:
    def __init__(self, path: Path, publish: Publish | None = None) -> None:
        self.path = path
        self.publish = publish  # the audit trail beyond this file (itdr.actions), awaited on every record
        self._db = SqliteThread(path, _SCHEMA, "ledger")

    async def open(self) -> SqliteLedger:
        await self._db.open()

        def migrate() -> None:
            have = {row[1] for row in self._db.conn.execute("PRAGMA table_info(action_ledger)")}
            for name, kind in _ADDED:
                if name not in have:
                    self._db.conn.execute(f'ALTER TABLE action_ledger ADD COLUMN "{name}" {kind}')
            self._db.conn.execute("CREATE INDEX IF NOT EXISTS action_ledger_request ON action_ledger (request_id)")

        await self._db.run(migrate)
        return self

    async def close(self) -> None:
        await self._db.close()

    async def get(self, action_id: str) -> ActionRecord | None:
        return await self._one("action_id = ?", action_id)

    async def by_request(self, request_id: str) -> ActionRecord | None:
        return await self._one("request_id = ?", request_id)

    async def _one(self, where: str, value: str) -> ActionRecord | None:
        rows = await self._db.query(f"SELECT {_COLUMNS} FROM action_ledger WHERE {where}", (value,))
        return _record(rows[0]) if rows else None

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
        mutable = [n for n in _FIELDS if n not in ("action_id", "created_at")] + ["request_id"]
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in mutable)
        values = [_column(name, getattr(record, name)) for name in _FIELDS]
        values.append((record.approval or {}).get("request_id"))
        marks = ", ".join("?" for _ in values)
        sql = (
            f"INSERT INTO action_ledger ({_COLUMNS}, request_id) VALUES ({marks}) "
            f"ON CONFLICT (action_id) DO UPDATE SET {updates}{guard}"
        )
        await self._db.run(lambda: self._db.conn.execute(sql, values))

    async def count_since(self, tenant: str, since: float, statuses: frozenset[Status]) -> int:
        marks = ",".join("?" for _ in statuses)
        rows = await self._db.query(
            f"SELECT COUNT(*) FROM action_ledger WHERE tenant = ? AND updated_at >= ? AND status IN ({marks})",
            (tenant, since, *(s.value for s in statuses)),
        )
        return rows[0][0]

    async def recent_for(self, tenant: str, principal: str, action: str, detection: str, since: float) -> bool:
        """Was this action taken (or asked for) on this user for this detection recently (once per 24 h)?"""
        marks = ",".join("?" for _ in TAKEN)
        rows = await self._db.query(
            "SELECT 1 FROM action_ledger WHERE tenant = ? AND principal = ? AND action = ? AND detection = ? "
            f"AND status IN ({marks}) AND updated_at >= ? LIMIT 1",
            (tenant, principal, action, detection, *(s.value for s in TAKEN), since),
        )
        return bool(rows)

    async def in_status(self, statuses: frozenset[Status]) -> list[ActionRecord]:
        marks = ",".join("?" for _ in statuses)
        rows = await self._db.query(
            f"SELECT {_COLUMNS} FROM action_ledger WHERE status IN ({marks}) ORDER BY created_at",
            tuple(s.value for s in statuses),
        )
        return [_record(r) for r in rows]

    async def all(self, tenant: str | None = None, limit: int = -1) -> list[ActionRecord]:
        """Oldest first; with ``limit`` the newest ``limit`` rows."""
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = await self._db.query(
            f"SELECT * FROM (SELECT {_COLUMNS} FROM action_ledger {where} ORDER BY created_at DESC, action_id "
            "LIMIT ?) ORDER BY created_at, action_id",
            (*params, limit),
        )
        return [_record(r) for r in rows]

    async def claim(self, key: str, at: float) -> bool:
        """Take a one-time token (a link used, a Slack request handled); False when it was taken before."""
        cursor = await self._db.run(
            lambda: self._db.conn.execute("INSERT OR IGNORE INTO one_time_claims (key, at) VALUES (?, ?)", (key, at))
        )
        return cursor.rowcount == 1

    async def forget_claims(self, before: float) -> None:
        """Claims older than every link's life: nothing they guard can be presented again."""
        await self._db.run(lambda: self._db.conn.execute("DELETE FROM one_time_claims WHERE at < ?", (before,)))


def record_from_dict(data: dict[str, Any]) -> ActionRecord:
    known = {k: v for k, v in data.items() if k in _FIELDS}
    return ActionRecord(**{**known, "status": Status(data["status"])})


def _column(name: str, value: Any) -> Any:
    if name in _JSON:
        return None if value is None else orjson.dumps(value).decode()
    if name == "status":
        return value.value
    return value


def _record(row: tuple) -> ActionRecord:
    values = dict(zip(_FIELDS, row, strict=True))
    for name in _JSON:
        values[name] = orjson.loads(values[name]) if values[name] else None
    values["status"] = Status(values["status"])
    values["reversible"] = bool(values["reversible"])
    return ActionRecord(**values)
