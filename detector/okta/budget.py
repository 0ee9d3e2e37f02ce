"""Client-side rate-limit budget of one Okta org, driven by Okta's ``X-Rate-Limit-*`` headers.

Okta counts each bucket org-wide, and a daemon that burns a whole bucket starves the admins and other
integrations of that tenant. So before each request we check the bucket's last known state and, when the
org has already used ``share × limit`` of the current window, wait for the window to reset. Requests are
reserved locally (optimistically decrementing ``remaining``) so concurrent callers cannot overshoot
between responses.

One budget serves every client of a tenant (log poller, action worker, inventory sync), because they draw
on the same buckets. Each request carries a ``Priority``: enforcement is never held by the share (it
contains an attacker, and the circuit breaker bounds how often it runs; it waits only after a real 429);
the tail (log poller, user reads for responding) keeps to the share; sync takes at most
``SyncLimits.share`` of the share, leaves ``SyncLimits.reserve`` requests of it in every window, and has
only ``SyncLimits.concurrency`` requests in flight, so it can neither delay the tail nor hold the org's
concurrency slots. Usage is read from the org-wide headers, so the rules hold across processes too (Kafka
mode's roles each have their own budget).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_EPOCH_FLOOR = 1_000_000_000  # an X-Rate-Limit-Reset below this is a relative delay, not an epoch

BUCKETS = ("logs", "user_get", "users", "groups", "apps", "default")  # every name bucket_for returns

# Told of every response: its bucket, the bucket's X-Rate-Limit-Remaining (None when the response says
# nothing of the time window, e.g. a concurrency 429) and whether it was a 429. A metrics hook: the client
# itself knows nothing of Prometheus.
RateObserver = Callable[[str, int | None, bool], None]


def bucket_for(method: str, path: str) -> str:
    """Name the Okta rate-limit bucket a request falls in (the one place that knows the mapping).

    Follows Okta's published management buckets: ``/api/v1/logs``; ``GET /api/v1/users/{id}``;
    everything else under ``/api/v1/users`` (list/create, lifecycle, sessions, factors); ``/api/v1/groups``
    and ``/api/v1/apps`` with everything under each; the rest. (tests/sim checks the simulator agrees.)
    """
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/api/v1/logs" or path.startswith("/api/v1/logs/"):
        return "logs"
    if path == "/api/v1/users" or path.startswith("/api/v1/users/"):
        rest = path[len("/api/v1/users/") :]
        if method.upper() == "GET" and rest and "/" not in rest:
            return "user_get"
        return "users"
    for bucket in ("groups", "apps"):
        if path == f"/api/v1/{bucket}" or path.startswith(f"/api/v1/{bucket}/"):
            return bucket
    return "default"


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None


def date_header(headers: Mapping[str, str]) -> float | None:
    """The server's ``Date`` as epoch seconds, or None."""
    raw = headers.get("Date")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def reset_wait(headers: Mapping[str, str]) -> float | None:
    """Okta SDK back-off: ``X-Rate-Limit-Reset − Date + 1`` seconds when both headers exist.

    Concurrency 429s may report the reset as a relative estimate; small values are taken as such.
    """
    reset = _int_header(headers, "X-Rate-Limit-Reset")
    if reset is None:
        return None
    if reset < _EPOCH_FLOOR:
        return max(0.0, float(reset)) + 1.0
    date = date_header(headers)
    if date is None:
        return None
    return max(0.0, reset - date) + 1.0


class Priority(IntEnum):
    """Whose request it is, most urgent first (the label of the wait metrics is the name, lower case)."""

    ENFORCE = 0  # a containment or undo call: suspend, clear sessions, quarantine
    TAIL = 1  # the System Log poller, and the user reads a response makes
    SYNC = 2  # the inventory sync: bulk reads that may take whatever the others leave

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class SyncLimits:
    """What SYNC may take of each bucket, per window, so that the tail and enforcement never wait behind it."""

    share: float = 0.5  # of the daemon's share (``share × limit``) of a bucket
    reserve: int = 10  # requests of the daemon's share SYNC leaves unused in each window
    concurrency: int = 2  # SYNC requests in flight at once, org-wide (Okta also caps the org's in-flight requests)

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1 or self.reserve < 0 or self.concurrency < 1:
            raise ValueError("sync share must be within (0, 1], reserve >= 0, concurrency >= 1")


# Told of every wait the budget makes a request take: its bucket, its priority and the seconds of this wait.
# An acquire that waits several times is told each time; ``first`` marks the first, so a counter of waits
# counts requests held back, not polling rounds. A metrics hook, as RateObserver.
WaitObserver = Callable[[str, Priority, float, bool], None]


@dataclass
class BucketState:
    limit: int
    remaining: int
    reset: float | None  # server epoch seconds; None = a new window whose reset we have not seen yet
    offset: float  # server clock − local clock (underestimated: Date has 1 s resolution)
    waits: int = 0
    waited_seconds: float = 0.0
    sync_used: int = 0  # SYNC requests reserved in this window
    exhausted: bool = False  # a 429 said this window is spent: even ENFORCE waits for its reset


class RateBudget:
    """Per-bucket budget of one Okta org, shared by every client of the tenant (see the module docstring)."""

    def __init__(
        self,
        share: float = 0.5,
        *,
        sync: SyncLimits | None = None,
        jitter: float = 0.2,
        unknown_reset_poll: float = 0.05,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        observe: RateObserver | None = None,
        on_wait: WaitObserver | None = None,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("budget share must be within (0, 1]")
        self.share = share
        self.sync = sync or SyncLimits()
        self._jitter = jitter
        self._poll = unknown_reset_poll
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._observe: RateObserver = observe or (lambda bucket, remaining, limited: None)
        self._on_wait: WaitObserver = on_wait or (lambda bucket, priority, seconds, first: None)
        self._buckets: dict[str, BucketState] = {}
        self._sync_slots = asyncio.Semaphore(self.sync.concurrency)
        self._starved: set[str] = set()  # buckets whose share is no larger than sync's reserve (warned once)

    async def acquire(self, bucket: str, priority: Priority = Priority.TAIL) -> float:
        """Reserve one request in ``bucket``, waiting while ``priority`` may not spend more of this window.

        A SYNC request also takes an in-flight slot: call ``release(priority)`` once its response is in.
        Returns the seconds waited."""
        waited = 0.0
        while True:
            if priority is Priority.SYNC:
                await self._sync_slots.acquire()
            delay = self._reserve(bucket, priority)
            if delay is None:
                return waited
            if priority is Priority.SYNC:
                self._sync_slots.release()  # no slot held while waiting: other buckets' sync may go
            st = self._buckets[bucket]
            if not waited:
                st.waits += 1
            st.waited_seconds += delay
            self._on_wait(bucket, priority, delay, not waited)
            waited += delay
            (log.debug if priority is Priority.SYNC else log.info)(  # sync waiting is its normal state
                "okta.budget.wait",
                bucket=bucket,
                priority=priority.label,
                seconds=round(delay, 3),
                used=st.limit - st.remaining,
                limit=st.limit,
                share=self.share,
            )
            await self._sleep(delay)

    def release(self, priority: Priority) -> None:
        """The request ``acquire`` admitted is answered (or failed): a SYNC request gives its slot back."""
        if priority is Priority.SYNC:
            self._sync_slots.release()

    def _reserve(self, bucket: str, priority: Priority) -> float | None:
        """Reserve one request now (None) or say how long to wait before asking again."""
        st = self._buckets.get(bucket)
        if st is None:
            return None  # nothing known yet: the first response teaches us the bucket
        server_now = self._clock() + st.offset
        if st.reset is not None and server_now >= st.reset:
            st.remaining, st.reset, st.sync_used, st.exhausted = st.limit, None, 0, False  # window rolled over
        if self._may_spend(bucket, st, priority):
            st.remaining -= 1
            st.sync_used += priority is Priority.SYNC
            return None
        # A fresh window exhausted before any response told us its reset: poll until one does.
        return self._poll if st.reset is None else st.reset - server_now + self._rng.uniform(0, self._jitter)

    def _may_spend(self, bucket: str, st: BucketState, priority: Priority) -> bool:
        if priority is Priority.ENFORCE:
            return not st.exhausted
        used, allowance = st.limit - st.remaining, self.share * st.limit
        if priority is Priority.TAIL:
            return used < allowance
        if allowance - self.sync.reserve < 1 and bucket not in self._starved:
            self._starved.add(bucket)  # a misfit of poll.sync_reserve, not a wait: say so once
            log.warning(
                "okta.budget.sync_starved", bucket=bucket, limit=st.limit, share=self.share, reserve=self.sync.reserve
            )
        return used < allowance - self.sync.reserve and st.sync_used < self.sync.share * allowance

    def update(self, bucket: str, headers: Mapping[str, str], *, limited: bool = False) -> None:
        """Learn the bucket state from a response's headers; ``limited``: the response was a 429."""
        limit = _int_header(headers, "X-Rate-Limit-Limit")
        remaining = _int_header(headers, "X-Rate-Limit-Remaining")
        reset = _int_header(headers, "X-Rate-Limit-Reset")
        if limit is None or remaining is None or reset is None or limit <= 0:
            self._observe(bucket, None, limited)  # absent, or a concurrency 429 (Limit 0): no time window
            return
        self._observe(bucket, remaining, limited)
        if limited:
            remaining = 0  # whatever else it says, a 429 means this window is spent
        date = date_header(headers)
        offset = (date - self._clock()) if date is not None else 0.0
        st = self._buckets.get(bucket)
        if st is None:
            self._buckets[bucket] = BucketState(limit, remaining, float(reset), offset, exhausted=limited)
            return
        st.offset = offset
        if st.reset is None or reset == st.reset:
            st.remaining = min(st.remaining, remaining)  # keep local in-flight reservations
        elif reset > st.reset:
            st.remaining, st.sync_used, st.exhausted = remaining, 0, False  # a newer window
        else:
            return  # a late response from an older window
        st.limit, st.reset = limit, float(reset)
        st.exhausted = st.exhausted or limited

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per-bucket state for metrics: limit, remaining, reset (epoch s), waits, waited_seconds, sync_used."""
        return {
            name: {
                "limit": st.limit,
                "remaining": st.remaining,
                "reset": st.reset,
                "waits": st.waits,
                "waited_seconds": round(st.waited_seconds, 3),
                "sync_used": st.sync_used,
            }
            for name, st in self._buckets.items()
        }
