"""Smoke test of the session's real Kafka broker with the client settings the daemon uses."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from .support import consume_all, create_topic

pytestmark = pytest.mark.timeout(180)

PARTITIONS = 3
RECORDS = 100
KEYS = 20  # 5 records per key; these 20 keys hash onto all 3 partitions


async def test_keyed_records_exactly_once_and_in_order_per_key(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:12]}"
    await create_topic(kafka_bootstrap, topic, PARTITIONS)

    # Keys as in the events topic (tenant:actor); value = key|per-key sequence number.
    sent: dict[str, list[int]] = defaultdict(list)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(RECORDS):
            key = f"tenant-a:user-{i % KEYS}"
            seq = len(sent[key])
            sent[key].append(seq)
            futures.append(await producer.send(topic, key=key.encode(), value=f"{key}|{seq}".encode()))
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert {m.partition for m in metadata} == set(range(PARTITIONS)), "keys should reach every partition"

    group = f"smoke-group-{uuid.uuid4().hex[:12]}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records = await consume_all(consumer, RECORDS)
        await consumer.commit()
        committed = {p: await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        await consumer.stop()

    values = [r.value.decode() for r in records]
    duplicates = {v: n for v, n in Counter(values).items() if n > 1}
    assert not duplicates, f"records delivered more than once: {duplicates}"
    assert len(values) == RECORDS, f"expected {RECORDS} records, got {len(values)}"

    received: dict[str, list[int]] = defaultdict(list)
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    for record in records:
        key, seq = record.value.decode().split("|")
        assert record.key.decode() == key
        received[key].append(int(seq))
        partitions_of_key[key].add(record.partition)
    assert received == sent, "same-key records must arrive in the order they were produced"
    assert all(len(parts) == 1 for parts in partitions_of_key.values()), partitions_of_key

    # The group's commit landed on the broker: offsets cover every record.
    assert sum(offset or 0 for offset in committed.values()) == RECORDS, committed


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_compression_codecs_roundtrip(kafka_bootstrap: str, codec: str) -> None:
    """The codecs of aiokafka's [lz4,snappy,zstd] extras work against the broker both ways."""
    topic = f"codec-{codec}-{uuid.uuid4().hex[:8]}"
    await create_topic(kafka_bootstrap, topic, 1)
    payloads = [f"{codec}-{i}-".encode() * 50 for i in range(20)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, compression_type=codec)
    await producer.start()
    try:
        batch = [await producer.send(topic, value=p) for p in payloads]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = await consume_all(consumer, len(payloads), settle=0.5)
    finally:
        await consumer.stop()
    assert [r.value for r in records] == payloads
