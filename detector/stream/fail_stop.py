"""Fail-stop for the Kafka worker's agents: a batch that raised ends the process at once.

Faust acknowledges a ``take_events`` batch in the generator's ``finally``, which runs when the crashed agent's
generator is collected, and it keeps consuming behind a dead agent: the failed batch and everything after it
were committed without being judged, while the worker looked alive. Ending the process before any of that
(``os._exit``, as a kill -9 would) leaves the offsets where the last good batch put them; whoever runs the
worker restarts it, and the batch is judged again (at-least-once, repeats dropped by dedup key and replay
guard). A batch that fails every time keeps the worker down, which the lag and health alerts show.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import structlog

log = structlog.get_logger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE: an internal error, restart me


def fail_stop(agent: str, error: BaseException) -> NoReturn:
    log.critical("worker.fail_stop", agent=agent, error=repr(error)[:500], exit_code=EXIT_CODE)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say anyway
            stream.flush()
    os._exit(EXIT_CODE)


async def consume(
    stream: Any, step: Callable[[Sequence[Any]], Awaitable[None]], agent: str, size: int, within: float
) -> None:
    """Run ``step`` on each batch (``size`` records, or what came ``within`` seconds) of the Faust ``stream``;
    any failure, of a batch or of the stream itself, ends the process before Faust could acknowledge what was
    not judged."""
    try:
        async for batch in stream.take_events(size, within=within):
            await step(batch)
    except Exception as exc:  # not CancelledError: a stop or a rebalance lets Faust finish the batch
        fail_stop(agent, exc)
