"""State with a lifecycle: when a stored key is dead, and the index every store sweeps dead keys with.

A detection says, for one of its states, the event time after which that state can no longer contribute to a
finding (``expires_at``: its windows, suppressions and episodes are over). Stores never delete on wall-clock
time: a key is dead once the tenant's *watermark* (the newest event time seen, never ahead of the wall clock,
minus ``LATENESS_S``) has passed its horizon, so a replay of last month's export ages state exactly as the
daemon did live, and an event forged with a future ``published`` cannot sweep live state.

``ExpiryIndex`` finds the dead keys of a store with bounded work per batch: one heap entry per key, at the
earliest horizon it was given; an entry that comes due for a key whose horizon has since moved on is pushed
back once, so a key written a million times costs one entry, and a sweep pops at most ``limit`` entries.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

LATENESS_S = 3600.0  # how late an event may arrive after its key was swept: beyond every detection's lateness_s
SWEEP_LIMIT = 256  # index entries a store looks at per batch: flat per-event cost
NEVER = math.inf  # a horizon for state no event-time bound applies to
DEAD = -math.inf  # the horizon of state that holds nothing


def horizon(*times: float | None) -> float:
    """The latest of several horizons (None, as returned by a part that holds nothing, is ignored)."""
    return max((t for t in times if t is not None), default=DEAD)


def watermark(newest: float, now: float, lateness_s: float = LATENESS_S) -> float:
    """The event time before which a horizon means dead: the newest event seen, capped at the wall clock."""
    return min(newest, now) - lateness_s


class ExpiryIndex:
    """Store keys by horizon (event time); ``due`` hands back the keys whose horizon the watermark passed."""

    __slots__ = ("_at", "_heap")

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def note(self, key: str, at: float | None) -> None:
        """The key was written with this horizon (None or ``NEVER``: never swept)."""
        if at is None or at == NEVER:
            self._at.pop(key, None)
            return
        if key not in self._at or at < self._at[key]:
            heapq.heappush(self._heap, (at, key))
        self._at[key] = at

    def note_all(self, keys: Iterable[tuple[str, float | None]]) -> None:
        for key, at in keys:
            self.note(key, at)

    def forget(self, key: str) -> None:
        """The key was deleted by other means (its heap entry is skipped when it comes due)."""
        self._at.pop(key, None)

    def due(self, mark: float, limit: int = SWEEP_LIMIT) -> list[str]:
        """Keys whose horizon is before ``mark``, forgotten as they are returned; at most ``limit`` entries looked
        at."""
        dead: list[str] = []
        heap = self._heap
        for _ in range(limit):
            if not heap or heap[0][0] >= mark:
                break
            _, key = heapq.heappop(heap)
            at = self._at.get(key)
            if at is None:
                continue  # forgotten, or a second entry of a key already returned
            if at < mark:
                del self._at[key]
                dead.append(key)
            else:  # written since with a later horizon: due then
                heapq.heappush(heap, (at, key))
        return dead

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __len__(self) -> int:
        return len(self._at)
