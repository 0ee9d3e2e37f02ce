"""Figure 13: the simulator's directory at inventory scale: build time, and a page served at the start and
near the end of a large collection over real HTTP (equal when a page costs O(page)), and a full crawl.

`build_directory(org, users, groups)` (default 50 000 users, 2 000 groups; quick 5 000 / 300), then a
SimServer on loopback with rate limits out of the way and one SSWS token. Page times are the median of
`ROUNDS` GETs of one page (limit 200 users / 1 000 members), the first page and a full page near the end
of the collection, measured from request to the parsed JSON in this process (client work included).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/sim_directory.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import SEED, Figure
from detector.sim import RateLimits, SimOrg, SimServer
from detector.sim.org_population import build_directory
from detector.sim.pagination import OrderedIds

ROUNDS = 15
UNLIMITED = RateLimits(logs=10**9, user_get=10**9, users=10**9, groups=10**9, apps=10**9, default=10**9)


async def _median_ms(http: aiohttp.ClientSession, url: str, params: dict[str, str]) -> float:
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        async with http.get(url, params=params) as resp:
            await resp.json()
            assert resp.status == 200
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _last_page_cursor(ids: OrderedIds, limit: int) -> str:
    """The cursor whose page is the last full one (a few skipped DEPROVISIONED users aside)."""
    items = list(ids)
    return items[-limit - 50]


async def _crawl(http: aiohttp.ClientSession, url: str) -> int:
    pages = 0
    next_url: str | None = url
    while next_url:
        async with http.get(next_url) as resp:
            await resp.json()
            pages += 1
            links = [link for link in resp.headers.getall("Link", []) if link.endswith('rel="next"')]
        next_url = links[0][1 : links[0].index(">")] if links else None
    return pages


async def measure(users: int, groups: int) -> list[Figure]:
    org = SimOrg(seed=SEED, rate_limits=UNLIMITED)
    t0 = time.perf_counter()
    made = build_directory(org, users=users, groups=groups, seed=SEED)
    build_s = time.perf_counter() - t0
    org.add_api_token("bench-token")
    everyone = org.directory.groups["Everyone"]
    sec = "13 sim directory"
    async with SimServer(org) as server, aiohttp.ClientSession(headers={"Authorization": "SSWS bench-token"}) as http:
        users_url, members_url = f"{server.url}/api/v1/users", f"{server.url}/api/v1/groups/{everyone.id}/users"
        first = await _median_ms(http, users_url, {"limit": "200"})
        near_end = _last_page_cursor(org.directory.user_order, 200)
        deep = await _median_ms(http, users_url, {"limit": "200", "after": near_end})
        m_first = await _median_ms(http, members_url, {"limit": "1000"})
        near_end = _last_page_cursor(everyone.members, 1000)
        m_deep = await _median_ms(http, members_url, {"limit": "1000", "after": near_end})
        t0 = time.perf_counter()
        pages = await _crawl(http, f"{users_url}?limit=200")
        crawl_s = time.perf_counter() - t0
    size = f"{users:,} users, {groups:,} groups, {made.memberships:,} memberships"
    return [
        Figure(sec, "build directory", build_s, "s", size),
        Figure(sec, "users page (200), first", first, "ms", f"median of {ROUNDS}"),
        Figure(sec, "users page (200), near the end", deep, "ms", f"median of {ROUNDS}"),
        Figure(sec, "Everyone members page (1000), first", m_first, "ms", f"median of {ROUNDS}"),
        Figure(sec, "Everyone members page (1000), near the end", m_deep, "ms", f"median of {ROUNDS}"),
        Figure(sec, "crawl all users", crawl_s, "s", f"{pages} pages of 200 over loopback HTTP"),
    ]


def run(users: int, groups: int) -> list[Figure]:
    return asyncio.run(measure(users, groups))


if __name__ == "__main__":
    for fig in run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000, 2_000):
        print(fig)
