"""A role starts by making sure its topics exist (``ensure_topics``): a broker away for a moment at that point
(a restart) is waited for, as the running roles ride it out; one that stays away ends in a clear error."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from deploy.kafka.broker import Broker, free_port, wait_ready
from detector.config import KafkaSettings
from detector.kafka_roles import worker_topic_plan
from detector.ops.metrics import Metrics
from detector.stream.faust_app import ACTOR_STATES, KEYED_STATES, build_app
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


async def test_a_worker_creates_its_table_changelogs_before_faust_starts(kafka_bootstrap: str, tmp_path) -> None:
    """Left to Faust, the changelogs appeared while its agents started, and an agent that read the metadata first
    crashed on a changelog of 0 partitions (PartitionsMismatch), leaving a worker alive that detected nothing."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, app_id="changelogs", topic_prefix="changelogs.", partitions=2)
    app = build_app(kafka, {}, Metrics(), datadir=tmp_path, web_port=free_port())
    await ensure_topics(kafka_bootstrap, worker_topic_plan(kafka, app))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = [f"changelogs-{table}-changelog" for table in (ACTOR_STATES, KEYED_STATES)]
        described = await admin.describe_topics(names)
        assert [(d["topic"], d["error_code"], len(d["partitions"])) for d in described] == [(n, 0, 2) for n in names]
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        policies = {
            name: value for response in configs for resource in response.resources for name, value, *_ in resource[4]
        }
        assert policies.get("cleanup.policy") == "compact", policies
    finally:
        await admin.close()
