"""Per-tenant status, as an operator asks for it: is each org being watched, since when, how far behind.

The poller reports every poll (``PollReport``); ``StatusBoard`` turns the reports into each tenant's
status and keeps it durable (``StatusStore``: SQLite in embedded mode, a compacted topic in Kafka mode)
so first-connected and the recent polls survive a restart:

* ``success``: the last poll worked and the tail is current (the page was not full);
* ``in_progress``: no poll has worked yet since start, or the poller is catching up (full pages);
* ``error``: the last poll failed; Okta's errorCode and summary and since when.

Lag is now minus the moment the tail was last known current (the start of the last poll that returned
a partial page; while catching up, the newest ``published`` stored), so it keeps growing while polls
fail or hang. A tenant is slow above ``slow_after_s``.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from detector.ops.metrics import Metrics

log = structlog.get_logger(__name__)

HISTORY = 20  # polls kept per tenant (and shown)
PERSIST_EVERY_S = 30.0  # besides every state change
RATE_WINDOW_S = 60.0


class State(enum.StrEnum):
    SUCCESS = "success"
    IN_PROGRESS = "in_progress"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PollReport:
    tenant: str
    started: float  # epoch s
    duration_s: float
    events: int  # new events stored
    full: bool  # a full page: Okta has more (catching up)
    newest_published: float | None  # epoch s of the newest event on the page
    error_code: str | None = None  # bounded (detector.ops.labels): a known Okta code, http_NNN, transport...
    error_summary: str | None = None  # Okta's errorSummary or our own reason; never a secret
    rate_limits: Mapping[str, int] = field(default_factory=dict)  # bucket → remaining

    @property
    def ok(self) -> bool:
        return self.error_code is None


class StatusStore(Protocol):
    async def load_status(self) -> dict[str, dict[str, Any]]: ...

    async def save_status(self, tenant: str, value: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class TenantStatus:
    tenant: str
    state: State = State.IN_PROGRESS
    error_code: str | None = None
    error_summary: str | None = None
    error_since: float | None = None
    first_connected: float | None = None
    last_success: float | None = None
    current_as_of: float | None = None  # when the tail was last known current
    polls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    events: deque[tuple[float, int]] = field(default_factory=deque)  # (poll start, events) in RATE_WINDOW_S
    rate_limits: dict[str, int] = field(default_factory=dict)
    connection: dict[str, Any] | None = None  # the last test-connection report
    inventory: dict[str, Any] | None = None  # the directory inventory's sync status (kept by its own store)
    polled_since_start: bool = False  # readiness: a poll worked in this process

    def lag_s(self, now: float) -> float | None:
        return None if self.current_as_of is None else max(0.0, now - self.current_as_of)

    def events_per_minute(self, now: float) -> int:
        return sum(n for t, n in self.events if t >= now - RATE_WINDOW_S)

    def to_dict(self, now: float, slow_after_s: float) -> dict[str, Any]:
        lag = self.lag_s(now)
        return {
            "tenant": self.tenant,
            "status": self.state.value,
            "error": (
                {"code": self.error_code, "summary": self.error_summary, "since": _iso(self.error_since)}
                if self.state is State.ERROR
                else None
            ),
            "first_connected": _iso(self.first_connected),
            "last_success": _iso(self.last_success),
            "lag_seconds": None if lag is None else round(lag, 1),
            "slow": lag is not None and lag > slow_after_s,
            "events_per_minute": self.events_per_minute(now),
            "rate_limit_remaining": dict(self.rate_limits),
            "recent_polls": list(self.polls),
            "connection": self.connection,
            "inventory": inventory_view(self.inventory),
        }

    def durable(self) -> dict[str, Any]:
        """What survives a restart (not the in-process readiness)."""
        return {
            "state": self.state.value,
            "error_code": self.error_code,
            "error_summary": self.error_summary,
            "error_since": self.error_since,
            "first_connected": self.first_connected,
            "last_success": self.last_success,
            "current_as_of": self.current_as_of,
            "polls": list(self.polls),
            "connection": self.connection,
        }

    @classmethod
    def restored(cls, tenant: str, data: Mapping[str, Any]) -> TenantStatus:
        """A restarted process starts in progress (nothing has polled yet here), with its history."""
        status = cls(tenant)
        status.first_connected = data.get("first_connected")
        status.last_success = data.get("last_success")
        status.current_as_of = data.get("current_as_of")
        status.polls.extend(data.get("polls") or ())
        status.connection = data.get("connection")
        if data.get("state") == State.ERROR:  # still failing until a poll says otherwise
            status.state = State.ERROR
            status.error_code, status.error_summary = data.get("error_code"), data.get("error_summary")
            status.error_since = data.get("error_since")
        return status


class StatusBoard:
    """Every configured tenant's status; fed by the pollers, read by the API, readiness and `detector status`."""

    def __init__(
        self,
        tenants: list[str],
        metrics: Metrics,
        store: StatusStore | None = None,
        *,
        slow_after_s: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics, self.store, self.clock = metrics, store, clock
        self.slow_after_s = dict(slow_after_s or {})
        self.tenants: dict[str, TenantStatus] = {t: TenantStatus(t) for t in tenants}
        self._saved_at: dict[str, float] = {}
        for tenant in tenants:
            self._gauge(self.tenants[tenant])

    def track(self, tenant: str, slow_after_s: float) -> None:
        """A tenant added by a reload (kept as it is when it was already tracked)."""
        self.slow_after_s[tenant] = slow_after_s
        if tenant not in self.tenants:
            self.tenants[tenant] = TenantStatus(tenant)
            self._gauge(self.tenants[tenant])

    def forget(self, tenant: str) -> None:
        """A tenant removed by a reload: no longer shown, and its status series go."""
        self.tenants.pop(tenant, None)
        for state in State:
            with contextlib.suppress(KeyError):
                self.metrics.tenant_status.remove(tenant, state.value)

    async def load(self) -> StatusBoard:
        if self.store is not None:
            for tenant, data in (await self.store.load_status()).items():
                if tenant in self.tenants:
                    self.tenants[tenant] = TenantStatus.restored(tenant, data)
                    self._gauge(self.tenants[tenant])
        return self

    async def record(self, report: PollReport) -> None:
        status = self.tenants.get(report.tenant)
        if status is None:
            return
        before = (status.state, status.error_code)
        status.polls.appendleft(
            {
                "at": _iso(report.started),
                "duration_s": round(report.duration_s, 3),
                "events": report.events,
                "error": None if report.ok else f"{report.error_code}: {report.error_summary}",
            }
        )
        status.rate_limits.update(report.rate_limits)
        if report.ok:
            self._succeeded(status, report)
        elif status.state is not State.ERROR or status.error_code != report.error_code:
            status.state, status.error_since = State.ERROR, report.started
            status.error_code, status.error_summary = report.error_code, report.error_summary
        else:
            status.error_summary = report.error_summary
        changed = (status.state, status.error_code) != before
        if changed:
            self._gauge(status)
            log.info("tenant.status", tenant=status.tenant, status=status.state.value, code=status.error_code)
        await self._persist(status, force=changed)

    def _succeeded(self, status: TenantStatus, report: PollReport) -> None:
        now_known = report.started if not report.full else report.newest_published
        status.current_as_of = max(filter(None, (status.current_as_of, now_known)), default=None)
        status.first_connected = status.first_connected or report.started
        status.last_success = report.started
        status.polled_since_start = True
        status.error_code = status.error_summary = status.error_since = None
        status.state = State.IN_PROGRESS if report.full else State.SUCCESS
        status.events.append((report.started, report.events))
        while status.events and status.events[0][0] < report.started - RATE_WINDOW_S:
            status.events.popleft()

    async def set_connection(self, tenant: str, report: dict[str, Any]) -> None:
        """The result of a test connection becomes part of the tenant's status."""
        status = self.tenants.get(tenant)
        if status is not None:
            status.connection = report
            await self._persist(status, force=True)

    def set_inventory(self, tenant: str, status: dict[str, Any]) -> None:
        """The inventory sync's status (in progress, success, error: counts, duration) joins the tenant's."""
        known = self.tenants.get(tenant)
        if known is not None:
            known.inventory = status

    def view(self, tenant: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        chosen = [self.tenants[tenant]] if tenant is not None else list(self.tenants.values())
        return [s.to_dict(now, self.slow_after_s.get(s.tenant, 300.0)) for s in chosen]

    def not_ready(self) -> list[str]:
        """Readiness: every tenant has polled successfully in this process."""
        return [
            f"tenant {s.tenant}: no successful poll yet"
            + (f" ({s.error_code}: {s.error_summary})" if s.state is State.ERROR else "")
            for s in self.tenants.values()
            if not s.polled_since_start
        ]

    def _gauge(self, status: TenantStatus) -> None:
        self.metrics.set_tenant_status(status.tenant, status.state.value)

    async def _persist(self, status: TenantStatus, *, force: bool) -> None:
        now = self.clock()
        if self.store is None or (not force and now - self._saved_at.get(status.tenant, 0.0) < PERSIST_EVERY_S):
            return
        self._saved_at[status.tenant] = now
        try:
            await self.store.save_status(status.tenant, status.durable())
        except Exception as exc:  # status is for operators: never let it stop a poller
            log.warning("tenant.status_not_saved", tenant=status.tenant, error=repr(exc)[:200])


def inventory_view(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An inventory sync status (detector/inventory/sync.py) as the API and ``detector status`` show it."""
    if not status:
        return None
    return {
        "state": status.get("state"),
        "generation": status.get("generation"),
        "started": _iso(status.get("started")),
        "finished": _iso(status.get("finished")),
        "duration_s": status.get("duration_s"),
        "counts": dict(status.get("counts") or {}),
        "skipped": dict(status.get("skipped") or {}),
        "malformed": dict(status.get("malformed") or {}),
        "error": status.get("error"),
        "resumed": status.get("resumed", 0),
        "last_success": _iso(status.get("last_success")),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
