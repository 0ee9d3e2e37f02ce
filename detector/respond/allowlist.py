"""Allowlist entries: "this user is in Singapore until 10 Dec": no action runs on the user's findings until
the entry expires (or is removed). Per tenant, for a user id or login, optionally only some detections.

The finding is still recorded, alerted at info level and marked ``allowlisted: <reason>``; only enforcement
is held back. Entries are kept in the ledger's SQLite file (embedded: ``itdr.sqlite``; Kafka: the action
worker's ``actions-ledger.sqlite``), and never deleted: a removed or expired entry stays as audit (who
added it, when, why; who removed it, when). Matching reads the file each time, so an entry added by the
CLI applies at once and an expired one stops applying without a restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.respond.policy import finding_ids
from detector.sqlite import SqliteThread

MAX_DAYS = 366
MAX_TEXT = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS allowlist (
    entry_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, user TEXT NOT NULL, detections TEXT NOT NULL,
    reason TEXT NOT NULL, expires_at REAL NOT NULL, added_by TEXT NOT NULL, added_at REAL NOT NULL,
    removed_by TEXT NOT NULL DEFAULT '', removed_at REAL
);
CREATE INDEX IF NOT EXISTS allowlist_tenant ON allowlist (tenant, expires_at);
"""
_COLUMNS = "entry_id, tenant, user, detections, reason, expires_at, added_by, added_at, removed_by, removed_at"


class AllowlistRefused(ValueError):
    """An entry that cannot be added as asked; the message says which value and why."""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AllowEntry:
    entry_id: str
    tenant: str
    user: str  # an Okta user id or login
    detections: tuple[str, ...]  # () = every detection
    reason: str
    expires_at: float
    added_by: str
    added_at: float
    removed_by: str = ""
    removed_at: float | None = None

    def active(self, now: float) -> bool:
        return self.removed_at is None and now < self.expires_at

    def covers(self, finding: Mapping[str, Any], now: float) -> bool:
        users = {finding.get("principal", ""), (finding.get("principal_login") or "").lower()} - {""}
        return (
            self.active(now)
            and finding.get("tenant") == self.tenant
            and (self.user in users or self.user.lower() in users)
            and (not self.detections or finding.get("detection") in self.detections)
        )

    def label(self) -> str:
        """What a finding it suppresses is marked with."""
        return f"{self.reason} (until {iso(self.expires_at)}, by {self.added_by})"

    def to_dict(self, now: float) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            detections=list(self.detections),
            expires=iso(self.expires_at),
            added=iso(self.added_at),
            removed=iso(self.removed_at) if self.removed_at is not None else None,
            active=self.active(now),
        )
        for key in ("expires_at", "added_at", "removed_at"):
            del data[key]
        return data


class Allowlist:
    def __init__(self, path: Path) -> None:
        self._db = SqliteThread(path, _SCHEMA, "allowlist")

    async def open(self) -> Allowlist:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def add(
        self,
        tenant: str,
        user: str,
        reason: str,
        expires_at: float,
        by: str,
        now: float,
        detections: Collection[str] = (),
    ) -> AllowEntry:
        user, reason, by = user.strip(), reason.strip(), by.strip()
        for name, value in (("user", user), ("reason", reason), ("by", by)):
            if not value or len(value) > MAX_TEXT or not value.isprintable():
                raise AllowlistRefused(f"{name}: needs 1..{MAX_TEXT} printable characters")
        if not now < expires_at <= now + MAX_DAYS * 86_400:
            raise AllowlistRefused(f"expires: must be in the future and within {MAX_DAYS} days")
        unknown = sorted(set(detections) - finding_ids())
        if unknown:
            raise AllowlistRefused(f"detections: unknown detection(s) {', '.join(unknown)}")
        entry = AllowEntry(
            "al-" + secrets.token_hex(6), tenant, user, tuple(sorted(set(detections))), reason, expires_at, by, now
        )
        await self._db.run(
            lambda: self._db.conn.execute(
                f"INSERT INTO allowlist ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_row(entry),),
            )
        )
        return entry

    async def remove(self, entry_id: str, by: str, now: float) -> AllowEntry | None:
        """Stop an entry now; the row stays, with who removed it. None when there is no such active entry."""
        await self._db.run(
            lambda: self._db.conn.execute(
                "UPDATE allowlist SET removed_by = ?, removed_at = ? WHERE entry_id = ? AND removed_at IS NULL",
                (by, now, entry_id),
            )
        )
        entry = await self.get(entry_id)
        return entry if entry is not None and entry.removed_at == now else None

    async def get(self, entry_id: str) -> AllowEntry | None:
        rows = await self._db.query(f"SELECT {_COLUMNS} FROM allowlist WHERE entry_id = ?", (entry_id,))
        return _entry(rows[0]) if rows else None

    async def entries(self, tenant: str | None = None) -> list[AllowEntry]:
        """Every entry, active or not, oldest first."""
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
        rows = await self._db.query(f"SELECT {_COLUMNS} FROM allowlist {where} ORDER BY added_at", params)
        return [_entry(r) for r in rows]

    async def match(self, finding: Mapping[str, Any], now: float) -> AllowEntry | None:
        """The active entry that covers this finding, if any (the one that lasts longest)."""
        rows = await self._db.query(
            f"SELECT {_COLUMNS} FROM allowlist WHERE tenant = ? AND removed_at IS NULL AND expires_at > ? "
            "ORDER BY expires_at DESC",
            (finding.get("tenant", ""), now),
        )
        return next((e for e in map(_entry, rows) if e.covers(finding, now)), None)


def _row(entry: AllowEntry) -> tuple[Any, ...]:
    values = list(asdict(entry).values())
    values[3] = ",".join(entry.detections)
    return tuple(values)


def _entry(row: tuple) -> AllowEntry:
    values = list(row)
    values[3] = tuple(d for d in values[3].split(",") if d)
    return AllowEntry(*values)
