"""Okta-style rate limiting: fixed per-minute windows per endpoint bucket, plus an in-flight cap.

Counting is per bucket per org (not per token/app share): one counter per bucket, its window
starting at the first request after the previous window ended, as Okta's counters "aren't
necessarily synchronized with wall clock minutes". Rejected (429) requests don't consume quota.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

_USER_BY_ID = re.compile(r"^/api/v1/users/[^/]+/?$")


@dataclass(frozen=True)
class RateLimits:
    """Per-window request limits per bucket (defaults: Okta's published Workforce org numbers)."""

    logs: int = 120
    user_get: int = 2000
    users: int = 600
    groups: int = 500  # /api/v1/groups and everything under it
    apps: int = 100  # /api/v1/apps and everything under it (Okta publishes small per-endpoint app limits)
    default: int = 1200
    window_seconds: float = 60.0
    concurrency: int = 75
    token: int = 600  # POST /oauth2/v1/token; Okta meters the org authorization server separately


def bucket_for(method: str, path: str) -> str:
    """Map a request to its bucket name (a RateLimits field), longest-prefix style as Okta does."""
    if path == "/api/v1/logs" or path.startswith("/api/v1/logs/"):
        return "logs"
    if path.startswith("/api/v1/users"):
        return "user_get" if method == "GET" and _USER_BY_ID.match(path) else "users"
    if path == "/api/v1/groups" or path.startswith("/api/v1/groups/"):
        return "groups"
    if path == "/api/v1/apps" or path.startswith("/api/v1/apps/"):
        return "apps"
    if path.startswith("/oauth2/"):
        return "token"
    return "default"


@dataclass(frozen=True)
class Verdict:
    """What to put in the X-Rate-Limit-* headers, and whether the request may proceed."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


class RateLimiter:
    """Fixed-window counters per bucket and an in-flight counter for the whole org."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # bucket -> (window end, used)
        self.in_flight = 0

    def admit(self, bucket: str) -> Verdict:
        """Count one request against `bucket` if quota remains."""
        now = self._clock()
        limit = int(getattr(self.limits, bucket))
        end, used = self._windows.get(bucket, (0.0, 0))
        if now >= end:
            end, used = now + self.limits.window_seconds, 0
        reset = math.ceil(end)
        if used >= limit:
            self._windows[bucket] = (end, used)
            return Verdict(False, limit, 0, reset)
        used += 1
        self._windows[bucket] = (end, used)
        return Verdict(True, limit, limit - used, reset)

    def enter(self) -> Verdict | None:
        """Take an in-flight slot; returns a concurrency-429 verdict (0/0/estimate) when full."""
        if self.in_flight >= self.limits.concurrency:
            return Verdict(False, 0, 0, math.ceil(self._clock() + 1.0))
        self.in_flight += 1
        return None

    def leave(self) -> None:
        self.in_flight -= 1
