"""Helpers for tests that talk to the session's real Kafka broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import ConsumerRecord, TopicPartition


async def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 15) -> None:
    """Create ``topic`` and wait until the broker's metadata serves all its partitions.

    CreateTopics answers once the controller committed the topic; the broker's metadata
    cache can lag a moment behind (UNKNOWN_TOPIC_OR_PARTITION), so poll until it agrees.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        errors = [(name, code) for name, code, *_ in response.topic_errors if code != 0]
        assert not errors, f"create_topics failed: {errors}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            (described,) = await admin.describe_topics([topic])
            ready = described["error_code"] == 0 and len(described["partitions"]) == partitions
            if ready and all(p["leader"] >= 0 for p in described["partitions"]):
                return
            assert loop.time() < deadline, f"topic {topic} not served after {timeout}s: {described}"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def consume_all(
    consumer: AIOKafkaConsumer, expected: int, timeout: float = 60, settle: float = 2.0
) -> list[ConsumerRecord]:
    """Everything the consumer gets until ``expected`` records arrived, plus ``settle`` s to catch extras."""
    records: list[ConsumerRecord] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settle_until: float | None = None
    while loop.time() < (settle_until if settle_until is not None else deadline):
        batches = await consumer.getmany(timeout_ms=500)
        for batch in batches.values():
            records.extend(batch)
        if settle_until is None and len(records) >= expected:
            settle_until = loop.time() + settle
    return records


async def group_lag(bootstrap: str, group: str, topic: str) -> int | None:
    """Records of ``topic`` the consumer ``group`` has not committed yet (None: it committed nothing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except GroupCoordinatorNotAvailableError:
            return None
        mine = {tp: meta.offset for tp, meta in committed.items() if tp.topic == topic}
        if not mine:
            return None
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        return sum(end - mine.get(tp, 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def group_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has right now (after a rebalance settled: state Stable)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        try:
            (described,) = await admin.describe_consumer_groups([group])
        except GroupCoordinatorNotAvailableError:  # a fresh broker creates __consumer_offsets on first use
            return 0
        (_error, _group, state, _protocol_type, _protocol, members, *_rest) = described.groups[0]
        return len(members) if state == "Stable" else 0
    finally:
        await admin.close()
