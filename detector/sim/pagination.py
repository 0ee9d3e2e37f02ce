"""Okta's cursor pagination: `limit` + `after`, answered with `Link: <...>; rel="self"` and `rel="next"`.

A collection keeps its ids in an `OrderedIds` (insertion order plus a position per id), so serving the page
after a cursor costs O(page), not O(collection): a 50,000-user directory is read page by page without a list
rebuild or a scan to find where the cursor is. The cursor is the id of the last object of the page (opaque
to clients, which follow the `next` link as Okta asks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web

from detector.sim.errors import OktaError

T = TypeVar("T")


class OrderedIds:
    """Ids in insertion order; add, remove and find a position in O(1) (amortised: removals leave holes
    that are compacted once they outnumber the live ids)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._slots: list[str | None] = []
        self._pos: dict[str, int] = {}
        for i in ids:
            self.add(i)

    def add(self, item: str) -> bool:
        """Append `item`; False when it is already there (its place is kept)."""
        if item in self._pos:
            return False
        self._pos[item] = len(self._slots)
        self._slots.append(item)
        return True

    def discard(self, item: str) -> bool:
        """Remove `item`; False when it was not there."""
        at = self._pos.pop(item, None)
        if at is None:
            return False
        self._slots[at] = None
        if len(self._slots) > 64 and len(self._pos) * 2 < len(self._slots):
            self._slots = [s for s in self._slots if s is not None]
            self._pos = {s: i for i, s in enumerate(self._slots)}  # type: ignore[misc]
        return True

    def __contains__(self, item: object) -> bool:
        return item in self._pos

    def __len__(self) -> int:
        return len(self._pos)

    def __iter__(self) -> Iterator[str]:
        return self.after(None)

    def after(self, cursor: str | None) -> Iterator[str]:
        """The ids after `cursor` (all of them for None; none for an unknown cursor, as a stale one gets)."""
        if cursor is None:
            start = 0
        else:
            at = self._pos.get(cursor)
            if at is None:
                return
            start = at + 1
        for i in range(start, len(self._slots)):
            item = self._slots[i]
            if item is not None:
                yield item


@dataclass(frozen=True)
class Limits:
    """An endpoint's page sizes (Okta's documented default, minimum and maximum `limit`)."""

    default: int
    maximum: int
    minimum: int = 1

    def parse(self, request: web.Request) -> int:
        """The request's `limit`, clamped into range; 400 E0000053 when it is not a positive number."""
        raw = request.query.get("limit")
        if raw is None:
            return self.default
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if limit < 1:
            raise OktaError("E0000053", "Invalid parameter: limit")
        return max(self.minimum, min(limit, self.maximum))


def take(
    ids: OrderedIds, after: str | None, limit: int, get: Callable[[str], T | None]
) -> tuple[list[tuple[str, T]], bool]:
    """Up to `limit` (id, object) pairs after the cursor whose `get` is not None, and whether more follow."""
    page: list[tuple[str, T]] = []
    for item_id in ids.after(after):
        obj = get(item_id)
        if obj is None:
            continue
        if len(page) == limit:
            return page, True
        page.append((item_id, obj))
    return page, False


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def page_response(request: web.Request, body: list[Any], next_after: str | None) -> web.Response:
    """A JSON array with Okta's `Link` headers: `self` always, `next` (this URL with `after`) when more follow."""
    resp = json_response(body)
    resp.headers.add("Link", f'<{request.url}>; rel="self"')
    if next_after is not None:
        query = {k: v for k, v in request.query.items() if k != "after"} | {"after": next_after}
        resp.headers.add("Link", f'<{request.url.with_query(query)}>; rel="next"')
    return resp


def paged(
    request: web.Request,
    ids: OrderedIds,
    limits: Limits,
    get: Callable[[str], T | None],
    render: Callable[[T], Any],
) -> web.Response:
    """Serve one page of a collection: parse `limit`/`after`, take the page, render it, link the next one."""
    limit = limits.parse(request)
    page, more = take(ids, request.query.get("after"), limit, get)
    return page_response(request, [render(obj) for _, obj in page], page[-1][0] if more and page else None)
