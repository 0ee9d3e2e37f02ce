"""The bounded reorder window that puts replayed events in ``published`` order without holding the input.

Okta exports are in storage order, which is ``published`` order give or take seconds
(docs/okta-quirks.md#storage-order), so a window of minutes sorts them. An event is held until the window
is full (``max_events``) or the newest event seen is more than ``max_seconds`` ahead of it; then the oldest
held goes to the engine. One that arrives older than the last event already released is *late*: it is
released at once, out of order (the detections' own lateness margins still count it), and counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_SECONDS = 600.0
DEFAULT_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class WindowLimits:
    max_seconds: float = DEFAULT_SECONDS
    max_events: int = DEFAULT_EVENTS


class ReorderWindow(Generic[T]):
    """A min-heap of (time, arrival, item); ties keep arrival order, items are never compared."""

    def __init__(self, limits: WindowLimits = WindowLimits()) -> None:
        if limits.max_events < 1 or not limits.max_seconds >= 0:
            raise ValueError("a reorder window holds at least one event for 0 s or more")
        self.limits = limits
        self._heap: list[tuple[float, int, T]] = []
        self._arrivals = 0
        self._newest = float("-inf")
        self.released_up_to = float("-inf")  # the time of the last event released in order
        self.late = 0
        self.peak = 0  # most events held at once

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time: float, item: T) -> Iterator[T]:
        """Take one event; yields what it lets go, in time order (a late event itself, at once)."""
        if time < self.released_up_to:
            self.late += 1
            yield item
            return
        self._arrivals += 1
        self._newest = max(self._newest, time)
        entry = (time, self._arrivals, item)
        if len(self._heap) >= self.limits.max_events:  # full: the oldest of the held and this one goes
            yield self._release(heapq.heappushpop(self._heap, entry))
        else:
            heapq.heappush(self._heap, entry)
            self.peak = max(self.peak, len(self._heap))
        horizon = self._newest - self.limits.max_seconds
        while self._heap and self._heap[0][0] < horizon:
            yield self._release(heapq.heappop(self._heap))

    def drain(self) -> Iterator[T]:
        """The rest, in time order, at the end of the input."""
        while self._heap:
            yield self._release(heapq.heappop(self._heap))

    def _release(self, entry: tuple[float, int, T]) -> T:
        self.released_up_to = entry[0]
        return entry[2]
