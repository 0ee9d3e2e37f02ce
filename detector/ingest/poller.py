"""One System Log tailer per tenant.

It only ever makes *polling* requests (no ``until``): Okta filters those on
persistence time, so delayed events are never skipped, and the ``rel="next"``
link always exists, even on an empty page. The cursor is that link, stored by
the sink together with the events of the page it follows, so a kill -9 at any
point either redoes a whole page (its uuids are already stored and dropped) or
nothing. Cadence: a full page means Okta has more, so ask again at once;
otherwise wait ``interval_s``. The client's rate budget bounds both.

Passwords typed into the username field are redacted here, before the page
reaches the sink (detections.redaction): nothing downstream ever sees them.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import structlog

from detections.redaction import Redactor
from detector.okta.client import LogPage, OktaClient
from detector.okta.errors import OktaApiError, OktaAuthError, OktaBadResponse
from detector.ops.freshness import PollFreshness
from detector.ops.labels import BUS, error_code
from detector.ops.metrics import Metrics
from detector.ops.status import PollReport
from detector.stream.bus import BusUnavailable, Cursor, EventRecord, EventSink

log = structlog.get_logger(__name__)

CURSOR_REJECTED_OVERLAP = timedelta(minutes=10)
MAX_CLOCK_SKEW_S = 86400.0  # as the event model: a `published` further ahead is not a real one


@dataclass(frozen=True, slots=True)
class PollerSettings:
    interval_s: float = 1.0
    lookback: timedelta = timedelta(minutes=15)
    page_limit: int = 1000
    error_backoff_s: float = 1.0  # doubles per consecutive failure, up to max_backoff_s
    auth_backoff_s: float = 60.0
    max_backoff_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PollResult:
    fetched: int
    added: int
    full: bool
    newest: float | None = None  # epoch s of the page's newest `published`


class TenantPoller:
    def __init__(
        self,
        tenant: str,
        client: OktaClient,
        sink: EventSink,
        metrics: Metrics,
        settings: PollerSettings | None = None,
        *,
        redactor: Redactor | None = None,
        on_poll: Callable[[PollReport], Awaitable[None]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tenant = tenant
        self.redactor = redactor or Redactor(secrets.token_bytes(32))  # no key given: markers last one run
        self.client = client
        self.sink = sink
        self.metrics = metrics
        self.settings = settings or PollerSettings()
        self._now = now
        self._on_poll = on_poll
        self._wake = asyncio.Event()
        self.freshness = PollFreshness(tenant, metrics.poll_lag, metrics.cursor_age)
        self.healthy = True
        self.last_error: str | None = None
        self._failures = 0

    def sync_now(self) -> None:
        """Poll at once instead of waiting out the interval (``POST /api/v1/tenants/{name}/sync``)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; errors are logged and retried, never fatal."""
        log.info("poller.start", tenant=self.tenant)
        while not stop.is_set():
            delay = self.settings.interval_s
            started, clock = time.time(), time.monotonic()
            result: PollResult | None = None
            failure: tuple[str, str] | None = None
            try:
                result = await self.poll_once()
                self.healthy, self.last_error, self._failures = True, None, 0
                self.metrics.poll_succeeded(self.tenant)
                if result.full:
                    delay = 0.0
            except OktaAuthError as exc:
                delay = self._failed(exc, error_code(exc), self.settings.auth_backoff_s)
                failure = (error_code(exc), exc.error_summary or str(exc))
            except OktaApiError as exc:
                delay = self._failed(exc, error_code(exc), self.settings.error_backoff_s)
                failure = (error_code(exc), exc.error_summary or str(exc))
            except BusUnavailable as exc:
                delay = self._failed(exc, BUS, self.settings.error_backoff_s)
                failure = (BUS, str(exc))
            await self._report(started, time.monotonic() - clock, result, failure)
            if delay > 0:
                await self._sleep(stop, delay)
        log.info("poller.stop", tenant=self.tenant)

    async def _sleep(self, stop: asyncio.Event, delay: float) -> None:
        """Wait out ``delay``, unless stopped or asked to sync now."""
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _report(
        self, started: float, duration: float, result: PollResult | None, failure: tuple[str, str] | None
    ) -> None:
        if self._on_poll is None:
            return
        remaining = {bucket: int(b["remaining"]) for bucket, b in self.client.budget.snapshot().items()}
        await self._on_poll(
            PollReport(
                self.tenant,
                started,
                duration,
                result.added if result else 0,
                bool(result and result.full),
                result.newest if result else None,
                failure[0] if failure else None,
                failure[1][:300] if failure else None,
                remaining,
            )
        )

    async def poll_once(self) -> PollResult:
        """Fetch one page after the stored cursor and store it with its successor cursor."""
        cursor = await self.sink.load_cursor(self.tenant)
        if cursor is not None:
            self.freshness.resumed(_epoch(cursor.last_published))
        page = await self._fetch(cursor)
        self.metrics.pages.labels(self.tenant).inc()
        redacted = self.redactor.redact_page(page.events)
        records = [
            EventRecord.from_raw(self.tenant, event, raw if event is original else orjson.dumps(event))
            for event, original, raw in zip(redacted, page.events, page.raw_events, strict=True)
        ]
        last_published = _newest(r.published for r in records)
        next_url = page.next_url or (cursor.next_url if cursor else None)
        if next_url is None:
            raise OktaBadResponse(None, error_summary="no rel=next link on a polling response", path="/api/v1/logs")
        added = await self.sink.commit_page(self.tenant, records, Cursor(next_url, last_published))
        self.metrics.events_ingested.labels(self.tenant).inc(added)
        newest = _epoch(last_published)
        full = len(records) >= self.settings.page_limit
        self.freshness.stored(newest, full)
        return PollResult(len(records), added, full, newest)

    async def _fetch(self, cursor: Cursor | None) -> LogPage:
        if cursor is None:
            since = self._now() - self.settings.lookback
            log.info("poller.first_start", tenant=self.tenant, since=since.isoformat())
            return await self.client.fetch_log_page(since=since, limit=self.settings.page_limit)
        try:
            return await self.client.fetch_log_page(cursor.next_url)
        except OktaApiError as exc:
            if exc.status != 400 or cursor.last_published is None:
                raise
            # Okta documents no cursor expiry; if it ever rejects one, restart a little before the
            # last event we stored and let uuid dedupe drop the overlap.
            since = datetime.fromisoformat(cursor.last_published.replace("Z", "+00:00")) - CURSOR_REJECTED_OVERLAP
            log.warning("poller.cursor_rejected", tenant=self.tenant, code=exc.error_code, since=since.isoformat())
            return await self.client.fetch_log_page(since=since, limit=self.settings.page_limit)

    def _failed(self, exc: Exception, code: str, backoff: float) -> float:
        """The client already retried transient errors; back off harder on each further failure.

        ``code`` is a bounded label (detector.ops.labels); the log keeps the whole error."""
        self.healthy, self.last_error = False, str(exc)
        self._failures += 1
        self.metrics.poll_errors.labels(self.tenant, code).inc()
        log.error("poller.error", tenant=self.tenant, code=code, error=str(exc), failures=self._failures)
        delay = min(backoff * 2 ** (self._failures - 1), max(backoff, self.settings.max_backoff_s))
        return delay * (1 + random.random() * 0.2)


def _newest(published: Iterable[str | None]) -> str | None:
    """The newest plausible ``published`` of a page: the cursor's fallback restart point must not be a
    hostile record's far-future time (a restart "since 9999" would skip everything)."""
    latest = time.time() + MAX_CLOCK_SKEW_S
    times = [(t, p) for p in published if p is not None and (t := _epoch(p)) is not None and t <= latest]
    return max(times)[1] if times else None


def _epoch(published: str | None) -> float | None:
    """An event's ``published`` as epoch seconds; None when absent or not a time (it is Okta's field)."""
    if not published:
        return None
    try:
        return datetime.fromisoformat(published.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None
