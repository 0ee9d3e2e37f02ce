"""Event-time windows, shared by every detection that counts "N things within W".

Okta delivers the System Log in storage order, not ``published`` order, so a
window is kept in event time: entries sorted by time, the newest time seen (the
high-water mark), and a lateness bound behind it beyond which an event is too
late to count. One implementation, so that late events, trimming, the replay
guard and the cost per event are the same everywhere, and the cost does not grow
with the attack:

* ``Window.add`` is a binary search plus an insert (an append when events arrive
  in order); trimming is amortised O(1) per entry; ``count`` is O(log n) and
  ``between`` O(log n + k);
* ``LastSeen`` answers "how many distinct users (IPs, ...) since t" in O(log n);
* ``Episode`` is an attack that fired and goes on: it tallies what followed in
  O(1) per event and says when the finding it opened has grown enough to be
  reported again, so a spray of 3,000 users is reported as 3,000, not as the 10
  that crossed the threshold, without one finding per event.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar


class Timed(Protocol):
    time: float  # event time (epoch seconds)

    @property
    def key(self) -> str:  # a field, or a read-only property (mypy: a plain attribute here must be settable)
        """Identity for the replay guard: the uuid, or an attempt id shared by duplicate log lines."""
        ...


E = TypeVar("E", bound=Timed)
_time = operator.attrgetter("time")


class Window(Generic[E]):
    """Entries within ``horizon`` seconds of the high-water mark, at most ``max_entries`` (the newest kept)."""

    __slots__ = ("_keys", "_times", "entries", "high_water", "horizon", "max_entries")

    def __init__(self, horizon: float, max_entries: int, entries: Iterable[E] = (), high_water: float = 0.0) -> None:
        self.horizon = horizon
        self.max_entries = max_entries
        self.entries: list[E] = sorted(entries, key=_time)
        if not self.entries:  # a new state's windows: most of the windows made
            self._times: list[float] = []
            self._keys: set[str] = set()
            self.high_water = high_water
            return
        self._times = [e.time for e in self.entries]
        self._keys = {e.key for e in self.entries}
        self.high_water = max(high_water, self._times[-1])

    def too_late(self, time: float) -> bool:
        """Behind the high-water mark by more than the horizon: no window that still counts holds it."""
        return time < self.high_water - self.horizon

    def holds(self, key: str) -> bool:
        """The replay guard: this entry (uuid or attempt id) is already counted."""
        return key in self._keys

    def add(self, entry: E) -> bool:
        """Insert in time order; False (and nothing changes) when it is too late or already held."""
        time, key = entry.time, entry.key  # ``key`` may be a property: read once
        if time < self.high_water - self.horizon or key in self._keys:  # too late, or held
            return False
        times = self._times
        i = bisect.bisect_right(times, time)
        times.insert(i, time)
        self.entries.insert(i, entry)
        self._keys.add(key)
        if time > self.high_water:
            self.high_water = time
        if len(times) > self.max_entries or times[0] < self.high_water - self.horizon:  # _trim's test, inline
            self._trim()
        return True

    def _trim(self) -> None:
        times = self._times
        if len(times) <= self.max_entries and (not times or times[0] >= self.high_water - self.horizon):
            return  # the usual case: nothing has left the window
        cut = max(bisect.bisect_left(times, self.high_water - self.horizon), len(self.entries) - self.max_entries)
        if cut > 0:
            for old in self.entries[:cut]:
                self._keys.discard(old.key)
            del self.entries[:cut]
            del self._times[:cut]

    def count(self, start: float, end: float) -> int:
        """Entries with start <= time <= end."""
        return bisect.bisect_right(self._times, end) - bisect.bisect_left(self._times, start)

    def between(self, start: float, end: float) -> list[E]:
        """Entries with start <= time <= end, oldest first."""
        return self.entries[bisect.bisect_left(self._times, start) : bisect.bisect_right(self._times, end)]

    def advance(self, time: float) -> None:
        """Move the high-water mark (windows of one state that share a clock) and trim behind it."""
        if time > self.high_water:
            self.high_water = time
            self._trim()

    def expires_at(self) -> float:
        """When its newest entry leaves the window (event time); -inf when it holds none."""
        return self.high_water + self.horizon if self.entries else -math.inf

    def span_around(self, time: float, width: float) -> tuple[float, float]:
        """The latest [start, end] of this width that holds ``time``: ending at the high-water mark unless
        ``time`` is older than a width behind it. In-order events get the window that ends with them, late
        ones the live window they fall in: one binary search each, not a scan for the densest window."""
        end = min(max(self.high_water, time), time + width)
        return end - width, end

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[E]:
        return iter(self.entries)


class LastSeen:
    """Distinct keys with the newest time each was seen, oldest first; bounded to ``max_keys``."""

    __slots__ = ("_last", "_order", "max_keys")

    def __init__(self, max_keys: int, last: dict[str, float] | None = None) -> None:
        self.max_keys = max_keys
        self._last: dict[str, float] = dict(last or {})
        self._order = sorted((t, k) for k, t in self._last.items())

    def see(self, key: str, time: float) -> None:
        old = self._last.get(key)
        if old is not None:
            if old >= time:
                return
            del self._order[bisect.bisect_left(self._order, (old, key))]
        self._last[key] = time
        bisect.insort(self._order, (time, key))
        if len(self._order) > self.max_keys:
            self._drop(len(self._order) - self.max_keys)

    def count_since(self, time: float) -> int:
        """Keys seen at or after ``time``."""
        return len(self._order) - bisect.bisect_left(self._order, (time, ""))

    def forget_before(self, time: float) -> None:
        self._drop(bisect.bisect_left(self._order, (time, "")))

    def _drop(self, n: int) -> None:
        for _, key in self._order[:n]:
            del self._last[key]
        del self._order[:n]

    def __contains__(self, key: object) -> bool:
        return key in self._last

    def __len__(self) -> int:
        return len(self._order)

    def expires_at(self, horizon: float) -> float:
        """When the most recently seen key is ``horizon`` old (event time); -inf when it holds none."""
        return self._order[-1][0] + horizon if self._order else -math.inf

    def to_dict(self) -> dict[str, float]:
        return dict(self._last)


MAX_EPISODE_UUIDS = 100  # causing events a finding lists; the counts say how many there were in all
GROWTH = 2.0  # an episode is reported again each time its measure doubles


@dataclass(slots=True)
class Episode:
    """An attack that fired and is still going on, as one finding that is revised as it grows.

    ``anchor`` (the uuid of its first counted event) keys the finding, so every
    revision has the same dedup key. ``tally`` holds named counts and ``distinct``
    named sets (users, IPs), each set bounded by ``max_distinct`` so a flood cannot
    grow the state without limit (beyond it the count reads "at least").
    """

    anchor: str
    start: float
    last: float
    max_distinct: int
    revision: int = 0
    reported: int = 0  # the measure the last revision reported
    tier: str = ""  # the tier the last revision had
    tally: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, set[str]] = field(default_factory=dict)
    uuids: list[str] = field(default_factory=list)

    def ongoing(self, time: float, gap_s: float) -> bool:
        """Still the same attack: within ``gap_s`` of its first and last events."""
        return self.start - gap_s <= time <= self.last + gap_s

    def add(self, uuid: str, time: float, tally: Iterable[str] = (), **distinct: str | None) -> None:
        self.start, self.last = min(self.start, time), max(self.last, time)
        self.note(*tally)
        for name, value in distinct.items():
            seen = self.distinct.setdefault(name, set())
            if value is not None and len(seen) < self.max_distinct:
                seen.add(value)
        if len(self.uuids) < MAX_EPISODE_UUIDS:
            self.uuids.append(uuid)

    def expires_at(self, gap_s: float) -> float:
        """When no event can be part of it any more (``ongoing`` is false from then on)."""
        return self.last + gap_s

    def note(self, *tally: str) -> None:
        """Count something about the attack that is not one of its events (e.g. a prompt's signals)."""
        for name in tally:
            self.tally[name] = self.tally.get(name, 0) + 1

    def count(self, name: str) -> int:
        return self.tally.get(name, 0)

    def distinct_count(self, name: str) -> int:
        return len(self.distinct.get(name, ()))

    def saturated(self, name: str) -> bool:
        return self.distinct_count(name) >= self.max_distinct

    def grown(self, measure: int, tier: str) -> bool:
        """Worth a new revision: the measure doubled since the last one, or the tier changed."""
        return measure >= self.reported * GROWTH or tier != self.tier

    def reported_as(self, measure: int, tier: str) -> int:
        """Record a revision; returns its number (0 for the finding that opened the episode)."""
        if self.reported:
            self.revision += 1
        self.reported, self.tier = measure, tier
        return self.revision

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.anchor,
            "s": self.start,
            "l": self.last,
            "m": self.max_distinct,
            "r": self.revision,
            "n": self.reported,
            "t": self.tier,
            "c": dict(self.tally),
            "d": {k: sorted(v) for k, v in self.distinct.items()},
            "u": list(self.uuids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Episode | None:
        if data is None:
            return None
        return cls(
            data["a"],
            data["s"],
            data["l"],
            data["m"],
            data["r"],
            data["n"],
            data["t"],
            dict(data["c"]),
            {k: set(v) for k, v in data["d"].items()},
            list(data["u"]),
        )
