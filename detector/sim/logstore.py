"""System Log storage with Okta's two clocks: `published` (event time) and persistence time.

An event appended with `persist_delay` is committed (given its persistence sequence number) only
once the org clock reaches `appended_at + persist_delay`; until then no query can see it. Committed
events form an append-only list ordered by persistence, so a polling cursor is just a sequence
number and nothing is skipped or repeated however appends and reads interleave.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    seq: int  # 1-based persistence sequence number; the polling cursor
    persisted_at: float
    published_at: float
    event: dict[str, Any] = field(compare=False)


StoredPredicate = Callable[[StoredEvent], bool]


class LogStore:
    """Committed events in persistence order plus a heap of not-yet-persisted (late) events."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._committed: list[StoredEvent] = []
        self._pending: list[tuple[float, int, float, dict[str, Any]]] = []
        self._order = 0

    def add(self, event: dict[str, Any], published_at: float, persist_delay: float = 0.0) -> None:
        now = self._clock()
        self._order += 1
        heapq.heappush(self._pending, (now + max(0.0, persist_delay), self._order, published_at, event))
        self.commit_due()

    def commit_due(self) -> None:
        """Persist every pending event whose time has come, in persistence-time order."""
        now = self._clock()
        while self._pending and self._pending[0][0] <= now:
            due, _, published_at, event = heapq.heappop(self._pending)
            last = self._committed[-1].persisted_at if self._committed else due
            seq = len(self._committed) + 1
            self._committed.append(StoredEvent(seq, max(due, last), published_at, event))

    def committed(self) -> list[StoredEvent]:
        self.commit_due()
        return list(self._committed)

    @property
    def high_water(self) -> int:
        """Sequence number of the newest committed event (0 when empty)."""
        self.commit_due()
        return len(self._committed)

    def poll(
        self, after_seq: int, since: float | None, limit: int, keep: StoredPredicate
    ) -> tuple[list[StoredEvent], int]:
        """Events after `after_seq` persisted at/after `since` that pass `keep`, in persistence order.

        Returns the page and the cursor for the next page: the last sequence number *scanned*, so
        filtered-out events are not rescanned and an empty page still moves to the high-water mark.
        """
        self.commit_due()
        start = after_seq
        if since is not None:
            start = max(start, bisect.bisect_left(self._committed, since, key=lambda s: s.persisted_at))
        page: list[StoredEvent] = []
        cursor = after_seq
        if limit == 0:
            return page, cursor
        for stored in self._committed[start:]:
            cursor = stored.seq
            if keep(stored):
                page.append(stored)
                if len(page) >= limit:
                    break
        else:
            cursor = max(cursor, len(self._committed))
        return page, cursor

    def by_published(self, since: float, until: float, descending: bool, keep: StoredPredicate) -> list[StoredEvent]:
        """Committed events with since <= published < until, ordered by (published, seq)."""
        self.commit_due()
        hits = [s for s in self._committed if since <= s.published_at < until and keep(s)]
        hits.sort(key=lambda s: (s.published_at, s.seq), reverse=descending)
        return hits
