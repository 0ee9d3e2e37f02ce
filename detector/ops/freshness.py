"""How far behind a tenant's poller is, read at scrape time so that it keeps growing while polls fail.

A gauge set on each successful poll freezes at its last value when the polls stop succeeding (a revoked
token, Okta down): the lag would look fine exactly when it is not. So the poller records what it has read
(the newest ``published`` its cursor covers, and up to when it has read the log) and the two gauges compute
``now - that`` when Prometheus scrapes. A gauge appears with the first thing known: a stored cursor at start,
or the first page.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Gauge


class PollFreshness:
    def __init__(self, tenant: str, lag: Gauge, cursor_age: Gauge, clock: Callable[[], float] = time.time) -> None:
        self._tenant, self._lag, self._cursor_age, self._clock = tenant, lag, cursor_age, clock
        self._newest: float | None = None  # the newest `published` the cursor covers
        self._read_until: float | None = None  # the log is read up to this time

    def resumed(self, published: float | None) -> None:
        """A stored cursor covers events up to ``published``: until a poll succeeds, the log is read up to there."""
        if published is None:
            return
        self._cover(published)
        if self._read_until is None:
            self._read(published)

    def stored(self, newest: float | None, full: bool) -> None:
        """A successful poll stored a page whose newest event is ``newest``. Not full: everything Okta had is read,
        as of now; full: there is more, and the log is read only up to that event."""
        if newest is not None:
            self._cover(newest)
        self._read(newest if full and newest is not None else self._clock())

    def _cover(self, published: float) -> None:
        first = self._newest is None
        self._newest = max(self._now_at_most(published), self._newest or 0.0)
        if first:
            self._cursor_age.labels(self._tenant).set_function(lambda: self._clock() - (self._newest or 0.0))

    def _read(self, until: float) -> None:
        first = self._read_until is None
        self._read_until = self._now_at_most(until)
        if first:
            self._lag.labels(self._tenant).set_function(lambda: self._clock() - (self._read_until or 0.0))

    def _now_at_most(self, at: float) -> float:
        """A `published` ahead of our clock (skew, or a hostile event) must not hide the age for good."""
        return min(at, self._clock())
