"""Kafka mode's inventory: ``InventoryStore`` on the compacted ``itdr.inventory`` topic, and the follower that
keeps every worker's ``InventoryFacts`` current from it.

Why the store reads its own writes back from the topic rather than applying them as it sends: several
processes write the topic (each syncing role its tenants, the inventory-event consumer whichever tenant's
events it is given), so the topic's order is the only order everyone agrees on. A write is sent, acknowledged,
and returns once this process's follower has read it back; the store's view is always a prefix of the topic,
never a local guess another writer's older record could be interleaved with.

What a page of the sync is: its records, then the checkpoint after it, sent in that order by one idempotent
producer onto one partition; a crash mid-way leaves a prefix, so a checkpoint on the topic always follows the
records of its page (the embedded store's one transaction, as Kafka gives it).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import structlog
from aiokafka.errors import KafkaError

from detector.inventory.facts import InventoryFacts, keep_synced_login
from detector.inventory.model import Inventory
from detector.inventory.store import Checkpoint
from detector.inventory.topic import (
    CHECKPOINT,
    EVENT,
    POSTURE,
    STALE,
    STATUS,
    SYNC,
    Entry,
    entry_of,
    key,
    last_success,
    meta_of,
    record_item,
    split_key,
)
from detector.stream.kafka_bus import follow_topic, idempotent_producer, read_records

log = structlog.get_logger(__name__)

RETRY_S = 2.0
READ_BACK_TIMEOUT_S = 30.0  # a write not read back by then fails the sync (it resumes from its checkpoint)

Item = tuple[bytes, bytes | None]


class KafkaInventoryStore:
    """The inventory of every tenant as this process has read ``itdr.inventory``; writes go through the topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._producer = idempotent_producer(bootstrap)
        self._records: dict[str, dict[tuple[str, str], Entry]] = {}
        self._meta: dict[str, dict[str, dict[str, Any]]] = {}
        self._position = 0  # the next offset of the (one) partition the follower will read
        self._moved = asyncio.Condition()
        self._follower: asyncio.Task[None] | None = None

    async def open(self) -> KafkaInventoryStore:
        await self._producer.start()
        for record in await read_records(self.bootstrap, self.topic):
            self._apply(record.key, record.value)
            self._position = record.offset + 1
        self._follower = asyncio.create_task(self._follow(), name="inventory-store-follower")
        return self

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        await self._producer.stop()

    async def __aenter__(self) -> KafkaInventoryStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _follow(self) -> None:
        while True:
            try:
                async for record in follow_topic(self.bootstrap, self.topic, {0: self._position}):
                    self._apply(record.key, record.value)
                    async with self._moved:
                        self._position = record.offset + 1
                        self._moved.notify_all()
            except KafkaError as exc:
                log.warning("inventory.topic_unavailable", error=repr(exc)[:200])
                await asyncio.sleep(RETRY_S)

    def _apply(self, raw_key: bytes | None, value: bytes | None) -> None:
        parsed = split_key(raw_key) if raw_key is not None else None
        if parsed is None:
            return
        tenant, kind, rid = parsed
        if kind.startswith("~"):
            meta = self._meta.setdefault(tenant, {})
            name = f"{STALE}|{rid}" if kind == STALE else kind
            data = meta_of(value)
            if data is None:
                meta.pop(name, None)
            else:
                meta[name] = data
            return
        records = self._records.setdefault(tenant, {})
        if value is None:
            records.pop((kind, rid), None)
        elif (entry := entry_of(kind, value)) is not None:
            records[(kind, rid)] = entry

    async def _send(self, items: Iterable[Item]) -> None:
        """Send in order, wait until every record is acknowledged, then until the follower has read them."""
        sent = [await self._producer.send(self.topic, value, key=k) for k, value in items]
        if not sent:
            return
        last = max(m.offset for m in await asyncio.gather(*sent))
        async with self._moved:
            await asyncio.wait_for(self._moved.wait_for(lambda: self._position > last), READ_BACK_TIMEOUT_S)

    def _meta_of(self, tenant: str) -> dict[str, dict[str, Any]]:
        return self._meta.get(tenant, {})

    def _generation(self, tenant: str) -> int:
        meta = self._meta_of(tenant)
        return max(int((meta.get(name) or {}).get("generation") or 0) for name in (STATUS, CHECKPOINT))

    @staticmethod
    def _checkpoint_item(tenant: str, checkpoint: Checkpoint) -> Item:
        return key(tenant, CHECKPOINT, ""), checkpoint.to_json()

    # -- a full sync ------------------------------------------------------------------------------

    async def begin_sync(self, tenant: str, now: float) -> Checkpoint:
        stored = self._meta_of(tenant).get(CHECKPOINT)
        if stored is not None:
            checkpoint = Checkpoint.from_json(orjson.dumps(stored))
            checkpoint.resumed += 1
        else:
            checkpoint = Checkpoint(self._generation(tenant) + 1, now)
        await self._send([self._checkpoint_item(tenant, checkpoint)])
        return checkpoint

    async def write_page(self, tenant: str, checkpoint: Checkpoint, records: Iterable[tuple[str, Any]]) -> None:
        items = [record_item(tenant, part, checkpoint.generation, SYNC, r) for part, r in records]
        await self._send([*items, self._checkpoint_item(tenant, checkpoint)])

    async def finish_part(self, tenant: str, checkpoint: Checkpoint, part: str, swept: Iterable[str] = ()) -> int:
        """Tombstones for the records of ``part`` (and ``swept``) from older generations, and for their stale
        marks made before this sync started; then the checkpoint. Returns how many records went."""
        checkpoint.done.append(part)
        checkpoint.part, checkpoint.next_url = None, None
        parts = {part, *swept}
        gone = [
            key(tenant, kind, rid)
            for (kind, rid), e in self._records.get(tenant, {}).items()
            if e.part in parts and e.generation < checkpoint.generation
        ]
        marks = [
            key(tenant, STALE, name.split("|", 1)[1])
            for name, mark in self._meta_of(tenant).items()
            if name.startswith(f"{STALE}|") and mark.get("part") in parts and mark.get("at", 0) < checkpoint.started
        ]
        await self._send([*((k, None) for k in gone + marks), self._checkpoint_item(tenant, checkpoint)])
        return len(gone)

    async def skip_part(self, tenant: str, checkpoint: Checkpoint, part: str, reason: str) -> None:
        checkpoint.skipped[part] = reason
        checkpoint.part, checkpoint.next_url = None, None
        await self._send([self._checkpoint_item(tenant, checkpoint)])

    async def end_sync(self, tenant: str, status: dict[str, Any], *, keep_checkpoint: bool) -> None:
        items: list[Item] = [(key(tenant, STATUS, ""), orjson.dumps(status))]
        if not keep_checkpoint:
            items.append((key(tenant, CHECKPOINT, ""), None))
        await self._send(items)

    async def checkpoint(self, tenant: str) -> Checkpoint | None:
        stored = self._meta_of(tenant).get(CHECKPOINT)
        return None if stored is None else Checkpoint.from_json(orjson.dumps(stored))

    # -- between syncs: System Log events -----------------------------------------------------------

    async def put(self, tenant: str, part: str, records: Iterable[Any]) -> None:
        generation = self._generation(tenant)
        await self._send([record_item(tenant, part, generation, EVENT, r) for r in records])

    async def delete(self, tenant: str, kind: str, ids: Iterable[str]) -> None:
        await self._send([(key(tenant, kind, rid), None) for rid in ids])

    async def mark_stale(self, tenant: str, kind: str, rid: str, part: str, reason: str, at: float) -> None:
        mark = {"part": part, "reason": reason[:200], "at": at}
        await self._send([(key(tenant, STALE, f"{kind}|{rid}"), orjson.dumps(mark))])

    async def stale(self, tenant: str) -> list[tuple[str, str, str]]:
        marks = [(name, m) for name, m in self._meta_of(tenant).items() if name.startswith(f"{STALE}|")]
        marks.sort(key=lambda pair: (pair[1].get("at", 0), pair[0]))
        out = []
        for name, mark in marks:
            _, kind, rid = name.split("|", 2) if name.count("|") >= 2 else ("", "", "")
            out.append((kind, rid, str(mark.get("reason", ""))))
        return out

    # -- reading ------------------------------------------------------------------------------------

    async def get(self, tenant: str, kind: str, rid: str) -> Any | None:
        entry = self._records.get(tenant, {}).get((kind, rid))
        return None if entry is None else entry.record

    async def owned_by(self, tenant: str, owner: str) -> list[tuple[str, Any]]:
        if not owner:
            return []
        return [(kind, e.record) for (kind, _), e in self._records.get(tenant, {}).items() if e.owner == owner]

    async def records(self, tenant: str, kind: str | None = None) -> list[tuple[str, Any]]:
        found = [(k, rid, e.record) for (k, rid), e in self._records.get(tenant, {}).items() if kind in (None, k)]
        return [(k, record) for k, _, record in sorted(found, key=lambda t: (t[0], t[1]))]

    async def load(self, tenant: str) -> Inventory:
        """The tenant's inventory indexed on a worker thread (250k records at 50k users: seconds), from a copy of
        the entries taken on the loop, where the topic's reader changes them."""
        records = [entry.record for entry in self._records.get(tenant, {}).values()]

        def build() -> Inventory:
            inventory = Inventory(tenant)
            for record in records:
                inventory.put(record)
            return inventory

        inventory = await asyncio.to_thread(build)
        inventory.synced_at = last_success(self._meta_of(tenant).get(STATUS))
        return inventory

    async def counts(self, tenant: str) -> dict[str, int]:
        return dict(Counter(kind for kind, _ in self._records.get(tenant, {})))

    async def sync_status(self, tenant: str | None = None) -> dict[str, dict[str, Any]]:
        tenants = self._meta if tenant is None else {tenant: self._meta_of(tenant)}
        return {t: meta[STATUS] for t, meta in tenants.items() if STATUS in meta}

    # -- posture results (beside the inventory they judged) -------------------------------------------

    def posture(self, tenant: str) -> dict[str, Any]:
        return dict((self._meta_of(tenant).get(POSTURE) or {}).get("results") or {})

    async def save_posture(self, tenant: str, results: dict[str, Any], at: float) -> None:
        await self._send([(key(tenant, POSTURE, ""), orjson.dumps({"results": results, "at": at}))])


class TopicPostureResults:
    """Each tenant's last posture results as a ``~posture`` record of the inventory topic (review.ResultsStore)."""

    def __init__(self, store: KafkaInventoryStore) -> None:
        self.store = store

    async def load(self, tenant: str) -> dict[str, Any]:
        return self.store.posture(tenant)

    async def save(self, tenant: str, results: dict[str, Any], at: float) -> None:
        await self.store.save_posture(tenant, results, at)


class InventoryFollower:
    """Every record of ``itdr.inventory`` into the ``InventoryFacts`` of the tenants given: what a detection worker
    and an action worker judge with. The topic is read whole into new inventories first (a half-read directory
    is not the directory), handed to the facts at once, then followed in place: a suspension, a sweep's tombstone
    or a new sync status is known as soon as it is on the topic."""

    def __init__(self, bootstrap: str, topic: str, facts: Mapping[str, InventoryFacts]) -> None:
        self.bootstrap, self.topic, self.facts = bootstrap, topic, facts
        self.ready = asyncio.Event()  # the topic was read whole once

    async def run(self) -> None:
        while True:
            try:
                await self._run()
            except KafkaError as exc:  # start again: the whole topic into new inventories
                log.warning("inventory.topic_unavailable", error=repr(exc)[:200])
                await asyncio.sleep(RETRY_S)

    async def _run(self) -> None:
        inventories = {tenant: Inventory(tenant) for tenant in self.facts}
        after = 0
        for record in await read_records(self.bootstrap, self.topic):
            self._apply(inventories, record.key, record.value)
            after = record.offset + 1
        for tenant, inventory in inventories.items():
            self.facts[tenant].load(inventory)
        self.ready.set()
        log.info("inventory.followed", tenants={t: len(i.users()) for t, i in inventories.items()})
        async for record in follow_topic(self.bootstrap, self.topic, {0: after}):
            self._apply(inventories, record.key, record.value)

    @staticmethod
    def _apply(inventories: Mapping[str, Inventory], raw_key: bytes | None, value: bytes | None) -> None:
        parsed = split_key(raw_key) if raw_key is not None else None
        if parsed is None or (inventory := inventories.get(parsed[0])) is None:
            return
        _, kind, rid = parsed
        if kind == STATUS:
            inventory.synced_at = last_success(meta_of(value))
        elif kind.startswith("~"):
            return
        elif value is None:
            if kind in inventory.records:
                inventory.remove(kind, rid)
        elif (entry := entry_of(kind, value)) is not None:
            inventory.put(keep_synced_login(inventory, entry.record) if entry.src == EVENT else entry.record)
