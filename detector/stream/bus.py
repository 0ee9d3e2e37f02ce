"""The bus contract shared by embedded mode (SQLite) and Kafka mode.

Topics: ``okta.events`` (raw LogEvents keyed ``tenant:actor_id``),
``itdr.findings`` (keyed by dedup key), ``itdr.actions`` (audit trail) and
``itdr.deadletter`` (malformed events with their reason). The poller only needs
an ``EventSink``: the one promise it relies on is that a page's cursor is
stored together with, or after, the events it covers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

EVENTS = "okta.events"
FINDINGS = "itdr.findings"
ACTIONS = "itdr.actions"
DEADLETTER = "itdr.deadletter"


@dataclass(frozen=True, slots=True)
class EventRecord:
    tenant: str
    uuid: str
    key: str  # tenant:actor_id, so one user's events stay in one partition
    value: bytes  # the LogEvent as Okta sent it (re-serialised JSON)
    published: str | None = None

    @classmethod
    def from_raw(cls, tenant: str, event: Any, value: bytes) -> EventRecord:
        """Never drop a record here: one without a uuid gets a content hash and reaches the dead letter."""
        uuid = event.get("uuid") if isinstance(event, dict) else None
        actor = event.get("actor") if isinstance(event, dict) else None
        actor_id = actor.get("id") if isinstance(actor, dict) else None
        published = event.get("published") if isinstance(event, dict) else None
        if not isinstance(uuid, str) or not uuid:
            uuid = "sha1:" + hashlib.sha1(value).hexdigest()
        return cls(
            tenant=tenant,
            uuid=uuid,
            key=f"{tenant}:{actor_id if isinstance(actor_id, str) and actor_id else '-'}",
            value=value,
            published=published if isinstance(published, str) else None,
        )


class BusUnavailable(Exception):
    """The bus could not take a page (e.g. Kafka is down); nothing was committed, the poller retries."""


@dataclass(frozen=True, slots=True)
class Cursor:
    next_url: str
    last_published: str | None  # fallback restart point if Okta ever rejects the stored cursor


class EventSink(Protocol):
    async def load_cursor(self, tenant: str) -> Cursor | None: ...

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        """Store the records and the cursor that follows them; return how many were new."""
