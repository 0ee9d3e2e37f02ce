"""A Kafka worker's agent that fails ends the process before Faust can acknowledge what it did not judge.

Against a real broker (faust-streaming 0.15), an agent whose ``take_events`` batch raised was left dead while
the stream went on: 20 records, a failure in the second batch of 5, and all 20 offsets were committed with 5
judged. So the worker must stop at once, as a kill -9 would, for its records to be read again (against the
broker: tests/kafka/test_kafka_fail_stop.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from detector.stream import fail_stop


class _Exited(BaseException):
    """Stands in for the process ending (``os._exit`` never returns)."""


class _Stream:
    def __init__(self, batches: Sequence[Sequence[Any]], error: Exception | None = None) -> None:
        self.batches, self.error = batches, error

    async def take_events(self, max_: int, within: float) -> AsyncIterator[Sequence[Any]]:
        for batch in self.batches:
            yield batch
        if self.error is not None:
            raise self.error


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []

    def exit_(code: int) -> None:
        codes.append(code)
        raise _Exited

    monkeypatch.setattr(fail_stop.os, "_exit", exit_)
    return codes


async def test_a_batch_that_raises_ends_the_process_before_the_next_batch(exits: list[int]) -> None:
    judged: list[Sequence[Any]] = []

    async def step(batch: Sequence[Any]) -> None:
        if "bad" in batch:
            raise RuntimeError("the broker refused a forward")
        judged.append(batch)

    with pytest.raises(_Exited):
        await fail_stop.consume(_Stream([["a"], ["bad"], ["c"]]), step, "detect-by-actor", 5, 0.1)
    assert exits == [fail_stop.EXIT_CODE]
    assert judged == [["a"]]  # nothing after the failed batch was taken as judged


async def test_a_stream_that_fails_ends_the_process_too(exits: list[int]) -> None:
    """E.g. Faust's PartitionsMismatch, raised from inside the stream rather than by a batch."""

    async def step(batch: Sequence[Any]) -> None:
        return None

    with pytest.raises(_Exited):
        await fail_stop.consume(_Stream([["a"]], KeyError("changelog")), step, "detect-by-key", 5, 0.1)
    assert exits == [fail_stop.EXIT_CODE]


async def test_a_cancelled_agent_stops_without_ending_the_process(exits: list[int]) -> None:
    """A stop or a rebalance cancels the agent; Faust finishes and commits the batch itself."""

    async def step(batch: Sequence[Any]) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await fail_stop.consume(_Stream([["a"]]), step, "detect-by-actor", 5, 0.1)
    assert exits == []
