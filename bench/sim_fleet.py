"""Figure 7's Okta side: N simulated orgs, one `SimServer` each, with live background traffic, in one process.

It runs as a child process of the bench so the poller process's CPU is measured alone
(`python -m bench.sim_fleet --tenants N --rate R`; messages in `bench/child.py`). Each org gets
its own loopback port, Okta's default rate limits, the same read token and its own `TrafficGenerator`
(one shared population, a seed per org). Every event's wall time of arrival is noted, so the bench
can tell how long each event waited in the org before the poller stored it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.child import emit
from bench.common import loop_lag, population
from detector.logsetup import configure_logging
from detector.sim import RateLimits, SimOrg, SimServer
from detector.sim.timefmt import parse_iso
from detector.sim.traffic import TrafficConfig, TrafficGenerator

TOKEN = "bench-fleet-read-token-0123456789abcdef"
PEOPLE = 200

# (uuid, published epoch s, appended wall time)
Appended = tuple[str, float, float]


@dataclass(frozen=True)
class FleetRecord:
    """What the orgs received, and how late the simulator's own event loop ran (wall time, seconds late)."""

    appended: dict[str, list[Appended]]
    loop_lag: list[tuple[float, float]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetRecord:
        appended = {tenant: [(u, p, a) for u, p, a in events] for tenant, events in data["appended"].items()}
        return cls(appended, [(at, lag) for at, lag in data["loop_lag"]])


@dataclass
class NotingOrg:
    """The traffic's sink: stores into the org and notes when each event arrived.

    No `open_session`: the population is not registered as org users, and only the System Log is read."""

    org: SimOrg
    appended: list[Appended] = field(default_factory=list)

    def append(self, event: dict[str, Any], persist_delay: float = 0.0) -> None:
        self.org.append(event, persist_delay)
        self.appended.append((str(event["uuid"]), parse_iso(str(event["published"])), time.time()))


def tenant_name(i: int) -> str:
    return f"t{i:04d}"


def main(argv: list[str] | None = None) -> None:
    """Emit ("ready", [(tenant, url, token id)]), serve until a "stop" line on stdin, emit ("done", FleetRecord)."""
    parser = argparse.ArgumentParser(prog="bench.sim_fleet", description=__doc__)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="events/s per org")
    args = parser.parse_args(argv)
    configure_logging("warning")
    asyncio.run(_serve(args.tenants, args.rate))


async def _serve(tenants: int, rate: float) -> None:
    people = population(PEOPLE)
    # No late events: a persist delay would be Okta's wait, not the poller's, and blur the figure.
    traffic = TrafficConfig(rate=rate, late_fraction=0.0)
    sinks: dict[str, NotingOrg] = {}
    servers: list[SimServer] = []
    ready: list[tuple[str, str, str]] = []
    stop = asyncio.Event()
    players: list[asyncio.Task[int]] = []
    lags: list[tuple[float, float]] = []
    ticker = asyncio.create_task(loop_lag(lags))
    try:
        for i in range(tenants):
            name = tenant_name(i)
            org = SimOrg(name=name, seed=i, rate_limits=RateLimits())  # Okta's defaults: 120 log requests/min
            token_id = org.add_api_token(TOKEN)
            server = SimServer(org)
            await server.start()
            servers.append(server)
            sinks[name] = NotingOrg(org)
            ready.append((name, server.url, token_id))
        for i, sink in enumerate(sinks.values()):
            gen = TrafficGenerator(people, random.Random(1000 + i), traffic)
            players.append(asyncio.create_task(gen.run(sink, stop=stop)))
        emit("ready", ready)
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if command != "stop":
            raise RuntimeError(f"sim fleet: unexpected command {command!r}")
    finally:
        stop.set()
        ticker.cancel()
        await asyncio.gather(ticker, *players, return_exceptions=True)
        for server in servers:
            await server.stop()
    emit("done", {"appended": {name: sink.appended for name, sink in sinks.items()}, "loop_lag": lags})


if __name__ == "__main__":
    main()
