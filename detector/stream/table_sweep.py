"""Kafka mode's sweep of dead keys from a Faust table: ``del table[key]``, so the changelog gets a tombstone
and a rebuilt table no longer holds them.

Faust sends a table change to the changelog partition of its *current event*; a swept key's tombstone
belongs in the partition its writes went to (the partition of the records that changed it), so each key
remembers that partition and the deletion runs under a stand-in event of it (``Origin``). Only keys of
partitions this worker has as actives are swept (a standby's copy is the other worker's to delete).

Which keys are dead comes from one ``ExpiryIndex`` per tenant, fed by the batches' writes. What the table
already held when the worker got its partitions (rebuilt from the changelog) is indexed by a scan of a
bounded slice per batch, so the cost per event stays flat however large the table.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import faust.streams as faust_streams
import structlog
from faust.types import TP

from detections.engine import Engine
from detections.lifecycle import SWEEP_LIMIT, ExpiryIndex

log = structlog.get_logger(__name__)


@contextlib.contextmanager
def as_current(record: Any) -> Iterator[None]:
    """Make ``record`` Faust's current event: a table write goes to the changelog partition (and store
    partition) of the current event, and in a batch that must be the event that changed the key, not the
    last one buffered. (Faust keeps it in a context variable; there is no public setter.)"""
    token = faust_streams._current_event.set(weakref.ref(record))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    partition: int


class Origin:
    """Stands in for the record that wrote a key, for Faust to find the key's partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


def stored_keys(table: Any) -> Iterator[tuple[bytes, int]]:
    """(key, partition) of what the table's store holds: the in-memory store knows the partition of every key
    it recovered from the changelog (copied at once: a dict may not change while it is iterated), RocksDB keeps
    one database per partition (read lazily: its iterators read a snapshot)."""
    store = table.data
    by_partition = getattr(store, "_key_partition", None)
    if by_partition is not None:
        yield from list(by_partition.items())
        return
    visible = getattr(store, "_visible_keys", None)  # skips the store's own offset key
    for partition, db in list(getattr(store, "_dbs", {}).items()):
        for key in visible(db) if visible is not None else ():
            yield key, partition


class TableSweeper:
    """The dead keys of one table (``tenant|store key``), swept after each batch's state is written."""

    def __init__(self, table: Any, topic: str, engines: Mapping[str, Engine], actives: Callable[[], set[TP]]) -> None:
        self.table = table
        self.topic = topic  # the source topic: its partition numbers are the changelog's
        self.engines = engines
        self.actives = actives
        self.indexes: dict[str, ExpiryIndex] = {}
        self.partition: dict[bytes, int] = {}  # stored key → the partition its writes went to
        self.swept = 0
        self._scan: Iterator[tuple[bytes, int]] = iter(())
        self._scanned: frozenset[int] | None = None  # the active partitions the last scan started for

    def wrote(self, tenant: str, key: str, state: Any, partition: int) -> None:
        engine = self.engines[tenant]
        self.indexes.setdefault(tenant, ExpiryIndex()).note(key, engine.expires_at(key, state))
        self.partition[f"{tenant}|{key}".encode()] = partition

    def deleted(self, tenant: str, key: str) -> None:
        self.indexes.setdefault(tenant, ExpiryIndex()).forget(key)
        self.partition.pop(f"{tenant}|{key}".encode(), None)

    def sweep(self, limit: int = SWEEP_LIMIT) -> list[bytes]:
        """Index a slice of what the table held, then delete up to ``limit`` dead keys per tenant."""
        active = {tp.partition for tp in self.actives() if tp.topic == self.topic}
        self._backfill(active, limit)
        dead: list[bytes] = []
        for tenant, index in self.indexes.items():
            engine = self.engines.get(tenant)
            if engine is None:
                continue
            for key in index.due(engine.watermark(), limit):
                stored = f"{tenant}|{key}".encode()
                partition = self.partition.pop(stored, None)
                if partition is None or partition not in active or stored not in self.table:
                    continue  # moved to another worker, or already gone
                with as_current(Origin(self.topic, partition)):
                    del self.table[stored]
                dead.append(stored)
        self.swept += len(dead)
        return dead

    def _backfill(self, active: set[int], limit: int) -> None:
        """Partitions came (or went): walk what the store holds again, ``limit`` keys per batch."""
        if self._scanned != frozenset(active):
            self._scanned = frozenset(active)
            self._scan = stored_keys(self.table)
        try:
            for stored, partition in itertools.islice(self._scan, limit):
                if partition in active and stored not in self.partition:  # else: indexed by a write since
                    self._index_stored(stored, partition)
        except Exception as exc:  # the store changed under the walk: the next rebalance walks it again
            log.warning("state.sweep_scan_failed", table=self.table.name, error=repr(exc)[:200])
            self._scan = iter(())

    def _index_stored(self, stored: bytes, partition: int) -> None:
        tenant, _, key = stored.decode(errors="replace").partition("|")
        engine = self.engines.get(tenant)
        raw = self.table.get(stored)
        if engine is None or raw is None:
            return
        try:
            state = engine.decode_state(key, raw)
        except Exception as exc:  # unreadable: the detection starts afresh on its next event anyway
            log.warning("state.unreadable", tenant=tenant, key=key.split("|", 1)[0], error=repr(exc)[:200])
            return
        self.wrote(tenant, key, state, partition)
