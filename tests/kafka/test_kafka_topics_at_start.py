"""A role starts by making sure its topics exist (``ensure_topics``): a broker away for a moment at that point
(a restart) is waited for, as the running roles ride it out; one that stays away ends in a clear error."""

from __future__ import annotations

import asyncio
import time

import pytest

from deploy.kafka.broker import Broker, wait_ready
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics, read_topic


async def test_no_broker_at_start_is_a_clear_error_after_the_wait() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Kafka at 127\.0\.0\.1:1 did not answer for 2 s"):
        await ensure_topics("127.0.0.1:1", TopicPlan(Topics("nobroker."), 1), timeout=2)
    assert time.monotonic() - started >= 2  # waited, did not give up at the first refusal


async def test_a_broker_restarting_at_start_is_waited_for(kafka_broker: Broker) -> None:
    await asyncio.to_thread(kafka_broker.stop, remove=False)
    try:
        starting = asyncio.create_task(ensure_topics(kafka_broker.bootstrap, TopicPlan(Topics("late."), 1), 120))
        await asyncio.sleep(3)
        assert not starting.done()  # still waiting for the broker, not crashed
    finally:
        kafka_broker.start_again()  # not in a thread: the broker dies with the thread that started it
    await wait_ready(kafka_broker.bootstrap, 90, broker=kafka_broker)
    await asyncio.wait_for(starting, 120)
    assert await read_topic(kafka_broker.bootstrap, Topics("late.").events) == []  # created, and empty
