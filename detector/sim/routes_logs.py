"""`GET /api/v1/logs`: polling (persistence order, endless `next` link) and bounded queries.

Cursors are opaque to clients: base64url of `p:<seq>` (polling: last persistence sequence
scanned) or `b:<published ms>:<seq>` (bounded: sort key of the last event returned).
`q` keywords match as case-insensitive substrings of any scalar value of the event (Okta's exact
tokenisation is undocumented). Events published more than 90 days ago are never returned.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from detector.sim.auth import LOGS_READ, authorized
from detector.sim.context import org_of
from detector.sim.errors import OktaError
from detector.sim.logstore import StoredEvent
from detector.sim.org import MAX_SINCE_DAYS, RETENTION_DAYS
from detector.sim.scim import FilterError, leaf_strings, parse_filter
from detector.sim.timefmt import parse_iso

DAY = 86400.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _bad(param: str) -> OktaError:
    return OktaError("E0000053", f"Invalid parameter: {param}")


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).rstrip(b"=").decode()


def decode_cursor(value: str, kind: str) -> tuple[int, ...]:
    """Decode an `after` cursor of the given kind ("p" or "b"); anything else → 400 E0000053."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        head, *nums = raw.split(":")
        parsed = tuple(int(n) for n in nums)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _bad("after") from exc
    if head != kind or len(parsed) != {"p": 1, "b": 2}[kind] or any(n < 0 for n in parsed):
        raise _bad("after")
    return parsed


@dataclass(frozen=True)
class LogQuery:
    since: float | None
    until: float | None
    after: str | None
    limit: int
    descending: bool
    keep: Callable[[StoredEvent], bool]

    @property
    def polling(self) -> bool:
        return self.until is None and not self.descending


def parse_query(query: dict[str, str], now: float) -> LogQuery:
    """Validate the query string as Okta does; every problem is a 400 E0000053 (or E0000031)."""
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError as exc:
        raise _bad("limit") from exc
    if not 0 <= limit <= MAX_LIMIT:
        raise _bad(f"limit must be between 0 and {MAX_LIMIT}")
    order = query.get("sortOrder", "ASCENDING").upper()
    if order not in {"ASCENDING", "DESCENDING"}:
        raise _bad("sortOrder")
    times: dict[str, float | None] = {}
    for name in ("since", "until"):
        try:
            times[name] = parse_iso(query[name]) if name in query else None
        except ValueError as exc:
            raise _bad(name) from exc
    since = times["since"]
    if since is not None and since < now - MAX_SINCE_DAYS * DAY:
        raise OktaError("E0000053", "Invalid parameter: The since parameter is over 180 days prior to the current day.")
    checks: list[Callable[[StoredEvent], bool]] = []
    oldest = now - RETENTION_DAYS * DAY
    checks.append(lambda s: s.published_at >= oldest)
    if "filter" in query:
        try:
            pred = parse_filter(query["filter"])
        except FilterError as exc:
            raise OktaError(exc.code, f"Invalid parameter: {exc}" if exc.code == "E0000053" else str(exc)) from exc
        checks.append(lambda s: pred(s.event))
    if "q" in query:
        words = [w.lower() for w in query["q"].split()]
        if len(words) > 10 or any(len(w) > 40 for w in words):
            raise _bad("q (at most 10 keywords of at most 40 characters)")
        checks.append(lambda s: all(any(w in v for v in leaf_strings(s.event)) for w in words))
    return LogQuery(
        since, times["until"], query.get("after"), limit, order == "DESCENDING", lambda s: all(c(s) for c in checks)
    )


def _link(request: web.Request, after: str) -> str:
    params = [(k, v) for k, v in request.query.items() if k != "after"]
    return str(request.url.with_query([*params, ("after", after)]))


async def list_log_events(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, LOGS_READ)
    now = org.clock()
    q = parse_query(dict(request.query), now)
    next_after: str | None
    if q.polling:
        after_seq = decode_cursor(q.after, "p")[0] if q.after else 0
        # With a cursor, only an explicit `since` applies: the cursor already marks the position.
        since = q.since if (q.since is not None or q.after) else now - 7 * DAY
        page, cursor = org.log.poll(after_seq, since, q.limit, q.keep)
        next_after = encode_cursor("p", cursor)
    else:
        until = q.until if q.until is not None else now
        since = q.since if q.since is not None else until - 7 * DAY
        hits = org.log.by_published(since, until, q.descending, q.keep)
        if q.after:
            pub_ms, seq = decode_cursor(q.after, "b")
            key = (pub_ms, seq)
            hits = [s for s in hits if ((_key(s) < key) if q.descending else (_key(s) > key))]
        page = hits[: q.limit]
        more = len(hits) > len(page) and page
        next_after = encode_cursor("b", *_key(page[-1])) if more else None
    resp = web.Response(body=orjson.dumps([s.event for s in page]), content_type="application/json")
    resp.headers.add("Link", f'<{request.url}>; rel="self"')
    if next_after is not None:
        resp.headers.add("Link", f'<{_link(request, next_after)}>; rel="next"')
    return resp


def _key(stored: StoredEvent) -> tuple[int, int]:
    return round(stored.published_at * 1000), stored.seq


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/logs", list_log_events, allow_head=False)
