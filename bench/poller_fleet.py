"""Figure 7's poller process: every tenant's `TenantPoller` in one process, as the daemon wires them.

Config parsed by `detector.config`, one `OktaClient` per tenant from `OktaClients`, the tenant's
poller settings and redactor, all into one `EmbeddedBus` (the poller half of `detector/pipeline.py`;
`detector poller` is the same loop into Kafka). The process measures itself, so nothing outside
it is charged: CPU from `os.times()` (every thread), RSS from /proc/self/status.

`python -m bench.poller_fleet CONFIG.json --warmup S --window S --drain S` (messages in `bench/child.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import Counter
from prometheus_client.samples import Sample

from bench.child import emit
from bench.common import loop_lag, rss_bytes
from detector.config import Config, parse_config
from detector.ingest.poller import TenantPoller
from detector.logsetup import configure_logging
from detector.ops.metrics import Metrics
from detector.redaction_key import redaction_key
from detector.sim.timefmt import parse_iso
from detector.stream.embedded import EmbeddedBus
from detector.tenants import OktaClients, poller_settings, redactor_for


@dataclass(frozen=True)
class Window:
    """What the poller process did in the measured window."""

    wall_s: float
    cpu_s: float
    polls: dict[str, float]  # per tenant
    errors: float
    budget_waits: int  # since the start, all tenants: times a client held a request back for its share
    rss_baseline: int
    rss_end: int
    ended_at: float  # wall time the window ended
    newest_stored: dict[str, float | None]  # per tenant at the end: the cursor's `last_published`, epoch s
    loop_lag: list[float]  # how late a 50 ms sleep woke in the window: the event loop's backlog


def main(argv: list[str] | None = None) -> None:
    """Emit ("window", wall time) as the window starts, ("ended", wall time) as it ends, then ("result",
    Window) once the pollers stopped."""
    parser = argparse.ArgumentParser(prog="bench.poller_fleet", description=__doc__)
    parser.add_argument("config", type=Path, help="the daemon config, as JSON")
    parser.add_argument("--warmup", type=float, required=True, help="s of polling before the window")
    parser.add_argument("--window", type=float, required=True, help="s measured")
    parser.add_argument("--drain", type=float, required=True, help="s of polling after it, before stopping")
    args = parser.parse_args(argv)
    configure_logging("warning")
    raw = orjson.loads(args.config.read_bytes())
    emit("result", asdict(asyncio.run(_run(raw, args.warmup, args.window, args.drain))))


async def _run(raw: dict[str, Any], warmup_s: float, window_s: float, drain_s: float) -> Window:
    config = parse_config(raw)
    bus = await EmbeddedBus(config.db_path).open()
    baseline = rss_bytes()  # interpreter, imports, the parsed config and an open bus: before any tenant runs
    metrics = Metrics()
    stop = asyncio.Event()
    try:
        async with OktaClients() as clients:
            pollers = _pollers(config, clients, bus, metrics)
            tasks = [asyncio.create_task(p.run(stop), name=f"poller:{p.tenant}") for p in pollers]
            await asyncio.sleep(warmup_s)
            emit("window", time.time())
            polls0, errors0 = _polls(metrics), _errors(metrics)
            lags: list[tuple[float, float]] = []
            ticker = asyncio.create_task(loop_lag(lags))
            t0, cpu0 = time.monotonic(), _cpu()
            await asyncio.sleep(window_s)
            t1, cpu1, ended = time.monotonic(), _cpu(), time.time()
            ticker.cancel()
            polls1, errors1 = _polls(metrics), _errors(metrics)
            emit("ended", ended)
            cursors = await asyncio.gather(*(bus.load_cursor(p.tenant) for p in pollers))
            window = Window(
                wall_s=t1 - t0,
                cpu_s=cpu1 - cpu0,
                polls={p.tenant: polls1.get(p.tenant, 0.0) - polls0.get(p.tenant, 0.0) for p in pollers},
                errors=errors1 - errors0,
                budget_waits=sum(p.client.budget.snapshot().get("logs", {}).get("waits", 0) for p in pollers),
                rss_baseline=baseline,
                rss_end=rss_bytes(),
                ended_at=ended,
                newest_stored={
                    p.tenant: parse_iso(c.last_published) if c and c.last_published else None
                    for p, c in zip(pollers, cursors, strict=True)
                },
                loop_lag=[lag for _, lag in lags],
            )
            await asyncio.sleep(drain_s)  # events that arrived just before the end get their poll
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        await bus.close()
    return window


def _pollers(config: Config, clients: OktaClients, bus: EmbeddedBus, metrics: Metrics) -> list[TenantPoller]:
    """As `detector/pipeline.py` and `detector/kafka_roles.py` build them."""
    key = redaction_key(config)
    return [
        TenantPoller(t.name, clients.reader(t), bus, metrics, poller_settings(t), redactor=redactor_for(t, key))
        for t in config.tenants
    ]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _polls(metrics: Metrics) -> dict[str, float]:
    """Pages fetched per tenant, in one pass (a registry lookup per tenant would walk every tenant's series)."""
    return {s.labels["tenant"]: s.value for s in _samples(metrics.pages, "itdr_log_pages_total")}


def _errors(metrics: Metrics) -> float:
    return sum(s.value for s in _samples(metrics.poll_errors, "itdr_poll_errors_total"))


def _samples(metric: Counter, name: str) -> list[Sample]:
    return [s for family in metric.collect() for s in family.samples if s.name == name]


if __name__ == "__main__":
    main()
