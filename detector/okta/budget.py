"""Client-side rate-limit budget driven by Okta's ``X-Rate-Limit-*`` headers.

Okta lets one token/app use at most a share of each org-wide bucket, and a daemon that burns a
whole bucket starves the admins and other integrations of that tenant. So before each request we
check the bucket's last known state and, when this client has already used ``share × limit`` of
the current window, wait for the window to reset. Requests are reserved locally (optimistically
decrementing ``remaining``) so concurrent callers cannot overshoot between responses.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
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


@dataclass
class BucketState:
    limit: int
    remaining: int
    reset: float | None  # server epoch seconds; None = a new window whose reset we have not seen yet
    offset: float  # server clock − local clock (underestimated: Date has 1 s resolution)
    waits: int = 0
    waited_seconds: float = 0.0


class RateBudget:
    """Per-bucket budget for one credential on one tenant."""

    def __init__(
        self,
        share: float = 0.5,
        *,
        jitter: float = 0.2,
        unknown_reset_poll: float = 0.05,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        observe: RateObserver | None = None,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("budget share must be within (0, 1]")
        self.share = share
        self._jitter = jitter
        self._poll = unknown_reset_poll
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._observe: RateObserver = observe or (lambda bucket, remaining, limited: None)
        self._buckets: dict[str, BucketState] = {}

    async def acquire(self, bucket: str) -> float:
        """Reserve one request in ``bucket``, waiting for the window reset if the share is spent.

        Returns the seconds waited.
        """
        waited = 0.0
        while True:
            st = self._buckets.get(bucket)
            if st is None:
                return waited  # nothing known yet: the first response teaches us the bucket
            server_now = self._clock() + st.offset
            if st.reset is not None and server_now >= st.reset:
                st.remaining, st.reset = st.limit, None  # window rolled over
            used = st.limit - st.remaining
            if used < self.share * st.limit:
                st.remaining -= 1
                return waited
            # A fresh window exhausted before any response told us its reset: poll until one does.
            jitter = self._rng.uniform(0, self._jitter)
            delay = self._poll if st.reset is None else st.reset - server_now + jitter
            st.waits += 1
            st.waited_seconds += delay
            waited += delay
            log.info(
                "okta.budget.wait",
                bucket=bucket,
                seconds=round(delay, 3),
                used=used,
                limit=st.limit,
                share=self.share,
            )
            await self._sleep(delay)

    def update(self, bucket: str, headers: Mapping[str, str], *, limited: bool = False) -> None:
        """Learn the bucket state from a response's headers; ``limited``: the response was a 429."""
        limit = _int_header(headers, "X-Rate-Limit-Limit")
        remaining = _int_header(headers, "X-Rate-Limit-Remaining")
        reset = _int_header(headers, "X-Rate-Limit-Reset")
        if limit is None or remaining is None or reset is None or limit <= 0:
            self._observe(bucket, None, limited)  # absent, or a concurrency 429 (Limit 0): no time window
            return
        self._observe(bucket, remaining, limited)
        date = date_header(headers)
        offset = (date - self._clock()) if date is not None else 0.0
        st = self._buckets.get(bucket)
        if st is None:
            self._buckets[bucket] = BucketState(limit, remaining, float(reset), offset)
            return
        st.offset = offset
        if st.reset is None or reset == st.reset:
            st.remaining = min(st.remaining, remaining)  # keep local in-flight reservations
        elif reset > st.reset:
            st.remaining = remaining  # a newer window
        else:
            return  # a late response from an older window
        st.limit, st.reset = limit, float(reset)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per-bucket state for metrics: limit, remaining, reset (epoch s), waits, waited_seconds."""
        return {
            name: {
                "limit": st.limit,
                "remaining": st.remaining,
                "reset": st.reset,
                "waits": st.waits,
                "waited_seconds": round(st.waited_seconds, 3),
            }
            for name, st in self._buckets.items()
        }
