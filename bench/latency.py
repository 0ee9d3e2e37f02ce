"""Figure 3: detection latency, push accept appended to the simulator → finding delivered by the pipeline."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Figure, bystanders, is_push_accept, jittered, population, push_bombing
from detector.config import parse_config
from detector.pipeline import EmbeddedPipeline
from detector.sim import RateLimits, SimOrg, SimServer
from detector.sim.traffic import Emission, TrafficConfig, TrafficGenerator, play

READ_TOKEN = "bench-read-token-0123456789abcdef"
ENFORCE_TOKEN = "bench-enforce-token-fedcba9876543210"


class AcceptClock:
    """An org sink that notes the wall time each attack's accept event was appended, by user id."""

    def __init__(self, org: SimOrg) -> None:
        self.org = org
        self.appended: dict[str, float] = {}

    def append(self, event: dict[str, Any], persist_delay: float = 0.0) -> None:
        self.org.append(event, persist_delay)
        if is_push_accept(event):
            self.appended.setdefault(str(event["actor"]["id"]), time.time())

    def open_session(self, user_id: str, session_id: str | None = None) -> str:
        return self.org.open_session(user_id, session_id)


def config_dict(url: str, data_dir: Path, read_id: str, enforce_id: str, interval_s: float) -> dict[str, Any]:
    """One simulator tenant, dry-run; tokens in ITDR_BENCH_READ_TOKEN / ITDR_BENCH_ENFORCE_TOKEN."""
    os.environ["ITDR_BENCH_READ_TOKEN"] = READ_TOKEN
    os.environ["ITDR_BENCH_ENFORCE_TOKEN"] = ENFORCE_TOKEN
    tenant = {
        "name": "acme",
        "org_url": url,
        "read": {"kind": "ssws", "token": {"env": "ITDR_BENCH_READ_TOKEN"}, "token_id": read_id},
        "enforce": {"kind": "ssws", "token": {"env": "ITDR_BENCH_ENFORCE_TOKEN"}, "token_id": enforce_id},
        "poll": {"interval_s": interval_s, "lookback_minutes": 60},
        "response": {"dry_run": True},
    }
    return {"data_dir": str(data_dir), "tenants": [tenant]}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(
    attacks: int,
    spacing_s: float,
    prompt_interval_s: float,
    poll_interval_s: float,
    background_rate: float,
    users: int = 500,
) -> list[Figure]:
    pop = population(users)
    org = SimOrg(name="acme", seed=2, rate_limits=RateLimits(logs=100_000))
    read_id = org.add_api_token(READ_TOKEN, name="itdr-reader")
    enforce_id = org.add_api_token(ENFORCE_TOKEN, name="itdr-enforcer")
    pop.register(org)
    clock = AcceptClock(org)
    found: dict[str, float] = {}

    def on_finding(finding: dict[str, Any]) -> None:
        if finding["detection"] == "mfa_push_accepted":
            found.setdefault(finding["principal"], time.time())

    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        async with SimServer(org) as server:
            config = parse_config(config_dict(server.url, Path(tmp), read_id, enforce_id, poll_interval_s))
            pipeline = EmbeddedPipeline(config, on_finding=on_finding)
            stop = asyncio.Event()
            daemon = asyncio.create_task(pipeline.run(stop))
            traffic = TrafficGenerator(bystanders(pop, attacks), random.Random(3), TrafficConfig(rate=background_rate))
            bg = asyncio.create_task(traffic.run(org, stop=stop))
            await asyncio.sleep(1.2 * poll_interval_s)  # the tailer has made its first poll: steady state
            start = datetime.now(UTC) + timedelta(seconds=0.1)
            compiled = push_bombing(pop, start, jittered(attacks, spacing_s), prompt_interval_s)
            victims = {p.id for p in pop.people[:attacks]}
            emissions: list[Emission] = compiled.emissions
            await play(iter(emissions), clock)
            deadline = time.monotonic() + 30
            while not victims <= found.keys() and time.monotonic() < deadline and not daemon.done():
                await asyncio.sleep(0.05)
            stop.set()
            background_events = await bg
            await asyncio.wait_for(daemon, 15)

    lat = [found[v] - clock.appended[v] for v in victims if v in found and v in clock.appended]
    missed = attacks - len(lat)
    note = f"{len(lat)}/{attacks} attacks; poll interval {poll_interval_s} s; background {background_rate:g} ev/s"
    if missed:
        note += f", {missed} MISSED"
    nan = float("nan")
    figs = [
        Figure("3 latency", "p50 accept → finding", pct(lat, 0.5) if lat else nan, "s", note),
        Figure("3 latency", "p99 accept → finding", pct(lat, 0.99) if lat else nan, "s", "includes the poll wait"),
        Figure("3 latency", "max accept → finding", max(lat, default=float("nan")), "s"),
    ]
    if lat:
        figs.append(
            Figure(
                "3 latency",
                "mean accept → finding",
                statistics.fmean(lat),
                "s",
                f"{background_events} background events stored meanwhile",
            )
        )
    return figs
