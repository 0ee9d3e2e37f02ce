"""A Faust worker whose one agent judges batches through ``fail_stop.consume`` and fails on a chosen record:
``python -m tests.kafka.fail_stop_app BOOTSTRAP APP_ID TOPIC FAIL_ON JUDGED_FILE`` (FAIL_ON -1: never).
Each judged record's value is appended to JUDGED_FILE as a line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import faust
from faust.types import EventT

from detector.stream.fail_stop import consume


def main(bootstrap: str, app_id: str, topic_name: str, fail_on: int, judged: Path) -> None:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=1,
        web_enabled=False,
        broker_commit_interval=0.2,
        broker_session_timeout=6.0,  # the exited member's partition is handed to the restarted one quickly
        broker_heartbeat_interval=1.0,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def step(batch: Sequence[EventT]) -> None:
        values = [int(event.value) for event in batch]
        if fail_on in values:
            raise RuntimeError(f"record {fail_on}")
        with judged.open("a") as out:
            out.writelines(f"{v}\n" for v in values)

    async def agent(stream: faust.StreamT) -> None:
        await consume(stream, step, "test-agent", 5, 0.2)

    app.agent(topic, name="test-agent")(agent)
    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
