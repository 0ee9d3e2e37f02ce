"""A batch that fails ends the worker process before Faust acknowledges it; restarted, the worker judges every
record the failure left (detector/stream/fail_stop.py). Without it, faust-streaming committed the failed batch
and every record after it behind the dead agent."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from detector.stream.fail_stop import EXIT_CODE

RECORDS = 20
TOPIC = "failstop.in"


async def _worker(bootstrap: str, fail_on: int, judged: Path, timeout: float = 90) -> int | None:
    """Run the worker until it exits, or until it has judged every record (then SIGTERM); its exit code."""
    args = [sys.executable, "-m", "tests.kafka.fail_stop_app", bootstrap, "failstop", TOPIC, str(fail_on), str(judged)]
    process = await asyncio.create_subprocess_exec(*args)
    deadline = asyncio.get_running_loop().time() + timeout
    while process.returncode is None and not _judged_all(judged):
        assert asyncio.get_running_loop().time() < deadline, (
            f"the worker neither exited nor judged all: {_judged(judged)}"
        )
        await asyncio.sleep(0.2)
    if process.returncode is None:
        process.terminate()
    return await process.wait()


async def _committed(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets("failstop")
        return max((meta.offset for tp, meta in offsets.items() if tp.topic == TOPIC), default=0)
    finally:
        await admin.close()


def _judged(judged: Path) -> list[str]:
    return judged.read_text().split() if judged.exists() else []


def _judged_all(judged: Path) -> bool:
    return set(_judged(judged)) >= {str(i) for i in range(RECORDS)}


async def test_a_failed_batch_ends_the_worker_and_is_judged_after_the_restart(kafka_bootstrap: str, tmp_path: Path):
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(TOPIC, str(i).encode(), key=b"k", partition=0)
    finally:
        await producer.stop()
    judged = tmp_path / "judged.txt"

    assert await _worker(kafka_bootstrap, 7, judged) == EXIT_CODE  # at the batch holding record 7
    assert "7" not in _judged(judged)
    assert await _committed(kafka_bootstrap) <= 7  # nothing from the failed batch on was taken as done

    await _worker(kafka_bootstrap, -1, judged)  # restarted: from the last commit on, everything left is judged
    assert _judged_all(judged), _judged(judged)
