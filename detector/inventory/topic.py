"""The records of the compacted ``itdr.inventory`` topic (Kafka mode's inventory store), no I/O.

Why one topic for everything a tenant's inventory is: a record and the sync status that declares it synced
are on one partition in the order they were written, so a reader at any offset sees a state the writer passed
through, and compaction keeps exactly the latest of each. Keys are ``tenant|kind|id`` (a tenant name has no
``|``; an id may, so a key splits at its first two); a record that went is a tombstone (no value). Per tenant,
keys whose kind starts with ``~`` are not records: ``~status`` (the sync status), ``~checkpoint`` (a sync in
progress: tombstoned when it finishes), ``~posture`` (the posture results of the last review) and
``~stale|kind|id`` (what an event changed without saying enough).

A record's value carries the part of the sync that owns it, its generation, the user or group it hangs off,
and whether a sync or an event wrote it (``src``): a reader of the facts keeps the sync's last sign-in when an
event rewrites a user (see ``facts.keep_synced_login``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from detector.inventory.model import KIND_OF, RECORD_KINDS, decode, encode, owner_of, record_id

STATUS, CHECKPOINT, POSTURE, STALE = "~status", "~checkpoint", "~posture", "~stale"
SYNC, EVENT = "sync", "event"


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored record and what the store needs to sweep, find and re-read it."""

    part: str
    generation: int
    owner: str
    src: str
    record: Any


def key(tenant: str, kind: str, rid: str) -> bytes:
    return f"{tenant}|{kind}|{rid}".encode()


def split_key(raw: bytes) -> tuple[str, str, str] | None:
    """(tenant, kind, id) of a key, None for one that is not ours (never crash on the topic's content)."""
    parts = raw.decode(errors="replace").split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def record_item(tenant: str, part: str, generation: int, src: str, record: Any) -> tuple[bytes, bytes]:
    """(key, value) of one record as the topic holds it."""
    kind = KIND_OF[type(record)]
    value = {"part": part, "gen": generation, "owner": owner_of(record), "src": src, "record": encode(record)}
    return key(tenant, kind, record_id(record)), orjson.dumps(value)


def entry_of(kind: str, value: bytes) -> Entry | None:
    """The record a value holds; None when it is not one of ours (an unknown kind, a broken value)."""
    if kind not in RECORD_KINDS:
        return None
    try:
        data = orjson.loads(value)
        return Entry(
            str(data["part"]), int(data["gen"]), str(data["owner"]), str(data["src"]), decode(kind, data["record"])
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def meta_of(value: bytes | None) -> dict[str, Any] | None:
    """A meta value (status, checkpoint, posture, stale mark) as a dict; None for a tombstone or junk."""
    if value is None:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def last_success(status: dict[str, Any] | None) -> float | None:
    """When the tenant's last full sync finished, per its ``~status`` (None: never, or not a time)."""
    value = (status or {}).get("last_success")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
