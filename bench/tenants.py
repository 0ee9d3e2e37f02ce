"""Figure 7: tenants per poller process at a 1 s poll cadence: CPU and memory per tenant, cadence and lag.

For each N: a child process serves N simulated orgs (one `SimServer` each, live background traffic,
`bench/sim_fleet.py`), and another runs the daemon's pollers for N tenants over real HTTP into one
`EmbeddedBus` (`bench/poller_fleet.py`). After a warm-up, the poller process measures itself over
a steady window; the bench then joins what each org received (and when) with what the bus stored.

.venv/bin/python -m bench.tenants                                  # N = 10, 50, 100, 250, 500, 1000; 30 s each
.venv/bin/python -m bench.tenants --tenants 100,500 --seconds 15
.venv/bin/python -m bench.tenants --quick                          # N = 10, 50; 5 s each
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import sim_fleet
from bench.child import Child
from bench.common import Figure, Stopwatch, cpu_seconds, cpu_wait_seconds
from bench.latency import pct
from bench.poller_fleet import Window
from bench.sim_fleet import FleetRecord
from detector.config import parse_config
from detector.stream.embedded import run_sync

SECTION = "7 tenants"
DEFAULT_TENANTS = (10, 50, 100, 250, 500, 1000)
QUICK_TENANTS = (10, 50)
BEHIND = 3  # an event that waited more than 3 poll intervals: its tenant fell behind
TOKEN_ENV = "ITDR_BENCH_FLEET_TOKEN"
NAN = float("nan")


@dataclass(frozen=True)
class Outside:
    """What the bench reads of the two children from /proc over the window."""

    sim_cpu_s: float
    sim_cpu_wait_s: float  # runnable but not running: other processes had the cores
    poller_cpu_wait_s: float

    @classmethod
    def read(cls, sim: Child, poller: Child) -> Outside:
        return cls(cpu_seconds(sim.pid), cpu_wait_seconds(sim.pid), cpu_wait_seconds(poller.pid))

    def since(self, before: Outside) -> Outside:
        return Outside(
            self.sim_cpu_s - before.sim_cpu_s,
            self.sim_cpu_wait_s - before.sim_cpu_wait_s,
            self.poller_cpu_wait_s - before.poller_cpu_wait_s,
        )


@dataclass(frozen=True)
class Step:
    """One N, measured."""

    tenants: int
    interval_s: float
    window: Window
    outside: Outside
    sim_loop_lag: list[float]  # the simulator's event loop in the window: is it the limit?
    waits: list[float]  # per event that arrived in the window: arrival in the org → stored on the bus
    unstored: int  # of those, not stored by the end of the drain
    behind: int  # tenants with an event that waited more than BEHIND intervals (or was never stored)
    lag: list[float]  # per tenant at the end: now − newest `published` stored
    floor: list[float]  # per tenant at the end: now − newest `published` the org had
    sim_late: list[float]  # per event: how long after its `published` the simulator appended it

    @property
    def cadence(self) -> float:
        return sum(self.window.polls.values()) / self.tenants / self.window.wall_s

    @property
    def cpu_share(self) -> float:
        return self.window.cpu_s / self.window.wall_s


def quantile(values: list[float], q: float) -> float:
    return pct(values, q) if values else NAN


def config_dict(orgs: list[tuple[str, str, str]], data_dir: Path, interval_s: float) -> dict[str, Any]:
    """One tenant per simulated org, read-only SSWS (alert only: the pollers never enforce)."""
    tenants = [
        {
            "name": name,
            "org_url": url,
            "read": {"kind": "ssws", "token": {"env": TOKEN_ENV}, "token_id": token_id},
            "poll": {"interval_s": interval_s},
        }
        for name, url, token_id in orgs
    ]
    return {"data_dir": str(data_dir), "log_level": "warning", "tenants": tenants}


def measure(n: int, rate: float, interval_s: float, warmup_s: float, window_s: float) -> Step:
    os.environ[TOKEN_ENV] = sim_fleet.TOKEN
    drain_s = BEHIND * interval_s  # an event not stored by then waited too long anyway
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        sim = Child("bench.sim_fleet", "--tenants", str(n), "--rate", str(rate))
        poller: Child | None = None
        try:
            config = config_dict(sim.receive("ready"), Path(tmp) / "data", interval_s)
            (Path(tmp) / "config.json").write_bytes(orjson.dumps(config))
            timing = ("--warmup", str(warmup_s), "--window", str(window_s), "--drain", str(drain_s))
            poller = Child("bench.poller_fleet", str(Path(tmp) / "config.json"), *timing)
            start = poller.receive("window")
            before = Outside.read(sim, poller)
            poller.receive("ended")
            outside = Outside.read(sim, poller).since(before)
            window = Window(**poller.receive("result"))
            poller.join()
            sim.send("stop")
            fleet = FleetRecord.from_json(sim.receive("done"))
            sim.join()
            rows = run_sync(parse_config(config).db_path, "SELECT tenant, uuid, stored_at FROM events")
        finally:
            for child in (poller, sim):
                if child is not None:
                    child.kill()
    stored = {(tenant, uuid): at for tenant, uuid, at in rows}
    return _step(n, interval_s, window, start, outside, fleet, stored)


def _step(
    n: int,
    interval_s: float,
    window: Window,
    start: float,
    outside: Outside,
    fleet: FleetRecord,
    stored: dict[tuple[str, str], float],
) -> Step:
    end = window.ended_at
    waits: list[float] = []
    unstored = behind = 0
    lag, floor, late = [], [], []
    for tenant, events in fleet.appended.items():
        fell_behind = False
        for uuid, published, at in events:
            if not start <= at <= end:
                continue
            late.append(at - published)
            got = stored.get((tenant, uuid))
            if got is None:
                unstored += 1
                fell_behind = True
            else:
                waits.append(got - at)
                fell_behind |= got - at > BEHIND * interval_s
        behind += fell_behind
        had = [published for _, published, at in events if at <= end]
        newest = window.newest_stored.get(tenant)
        if had and newest is not None:
            floor.append(end - max(had))
            lag.append(end - newest)
    sim_lag = [late_by for at, late_by in fleet.loop_lag if start <= at <= end]
    return Step(n, interval_s, window, outside, sim_lag, waits, unstored, behind, lag, floor, late)


def figures(step: Step) -> list[Figure]:
    w, n = step.window, step.tenants
    polls = sum(w.polls.values())
    per_tenant_ms = 1000 * w.cpu_s / (n * w.wall_s)
    tag = f"N={n}"
    return [
        Figure(
            SECTION,
            f"{tag} poller CPU",
            100 * step.cpu_share,
            "% core",
            f"{per_tenant_ms:.2f} ms per tenant-s, {1e6 * w.cpu_s / max(polls, 1):.0f} µs per poll,"
            f" ~{n / max(step.cpu_share, 1e-9):,.0f} tenants per core; loop lag p99"
            f" {1000 * quantile(w.loop_lag, 0.99):.0f} ms, waited for a CPU"
            f" {_share(step.outside.poller_cpu_wait_s, w)}",
        ),
        Figure(
            SECTION,
            f"{tag} RSS per tenant",
            (w.rss_end - w.rss_baseline) / n / 1024,
            "KiB",
            f"baseline {w.rss_baseline / 2**20:.0f} MiB, end {w.rss_end / 2**20:.0f} MiB",
        ),
        Figure(
            SECTION,
            f"{tag} polls per tenant per s",
            step.cadence,
            "/s",
            f"slowest tenant {min(w.polls.values()) / w.wall_s:.2f}/s, interval {step.interval_s:g} s;"
            f" {w.errors:.0f} poll errors, {w.budget_waits} budget waits",
        ),
        Figure(
            SECTION,
            f"{tag} wait p50 arrival → stored",
            quantile(step.waits, 0.5),
            "s",
            f"{len(step.waits)} events, {len(step.sim_late) / w.wall_s:.0f} ev/s into the orgs",
        ),
        Figure(
            SECTION,
            f"{tag} wait p99 arrival → stored",
            quantile(step.waits, 0.99),
            "s",
            f"max {max(step.waits, default=NAN):.2f} s; {step.unstored} not stored;"
            f" {step.behind} tenants behind, an event waiting > {BEHIND} intervals",
        ),
        Figure(
            SECTION,
            f"{tag} lag p50 now − newest stored",
            quantile(step.lag, 0.5),
            "s",
            f"the orgs' own newest event: p50 {quantile(step.floor, 0.5):.2f} s, gaps in the traffic",
        ),
        Figure(
            SECTION,
            f"{tag} lag p99 now − newest stored",
            quantile(step.lag, 0.99),
            "s",
            f"the orgs' own: p99 {quantile(step.floor, 0.99):.2f} s; {n - len(step.lag)} tenants without an event yet",
        ),
        Figure(
            SECTION,
            f"{tag} simulator CPU",
            100 * step.outside.sim_cpu_s / w.wall_s,
            "% core",
            f"loop lag p99 {1000 * quantile(step.sim_loop_lag, 0.99):.0f} ms, waited for a CPU"
            f" {_share(step.outside.sim_cpu_wait_s, w)};"
            f" events appended p99 {1000 * quantile(step.sim_late, 0.99):.0f} ms late",
        ),
    ]


def _share(seconds: float, window: Window) -> str:
    return f"{100 * seconds / window.wall_s:.0f} % of the time"


def knee(steps: list[Step]) -> Figure:
    """The first N whose cadence or wait degrades against the smallest N's, or where a tenant fell behind."""
    base = steps[0]
    base_p99 = quantile(base.waits, 0.99)
    for step in steps:
        why = []
        if step.cadence < 0.9 * base.cadence:
            why.append(f"cadence {step.cadence:.2f}/s < 90 % of N={base.tenants}'s {base.cadence:.2f}/s")
        p99 = quantile(step.waits, 0.99)
        if step is not base and p99 > 2 * base_p99:
            why.append(f"p99 wait {p99:.2f} s > 2x N={base.tenants}'s {base_p99:.2f} s")
        if step.behind:
            why.append(f"{step.behind} tenants behind")
        if why:
            return Figure(SECTION, "knee", step.tenants, "tenants", "; ".join(why))
    return Figure(SECTION, "knee", NAN, "tenants", f"none up to N={steps[-1].tenants}")


def run(
    counts: list[int], window_s: float, rate: float = 0.5, interval_s: float = 1.0, warmup_s: float = 5.0
) -> list[Figure]:
    steps: list[Step] = []
    out: list[Figure] = []
    for n in counts:
        watch = Stopwatch()
        steps.append(measure(n, rate, interval_s, warmup_s, window_s))
        out += figures(steps[-1])
        print(
            f"  {n} tenants: {rate:g} ev/s each, warm-up {warmup_s:g} s, window {window_s:g} s,"
            f" done in {watch.elapsed:.0f} s",
            flush=True,
        )
    return [*out, knee(steps)]


def counts(value: str) -> list[int]:
    """`--tenants 10,50,100`: the tenant counts to measure, in increasing order."""
    try:
        out = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        out = []
    if not out or out[0] < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of tenant counts ≥ 1, e.g. 10,50,100")
    return out


def main(argv: list[str] | None = None) -> list[Figure]:
    from rich.console import Console

    from bench.common import machine_facts
    from bench.run import report

    fmt = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(prog="bench.tenants", description=__doc__, formatter_class=fmt)
    parser.add_argument("--tenants", type=counts, help="tenant counts (default 10,50,100,250,500,1000; quick 10,50)")
    parser.add_argument("--seconds", type=float, help="measured window per count, after a 5 s warm-up (default 30)")
    parser.add_argument("--rate", type=float, default=0.5, help="background events/s per org (default 0.5)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, s (default 1, the daemon's)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10 and 50 tenants, 2 s warm-up, 5 s each")
    args = parser.parse_args(argv)
    facts = machine_facts()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    figs = run(
        args.tenants or list(QUICK_TENANTS if args.quick else DEFAULT_TENANTS),
        args.seconds or (5.0 if args.quick else 30.0),
        args.rate,
        args.interval,
        warmup_s=2.0 if args.quick else 5.0,
    )
    report(Console(width=160), figs, facts)
    return figs


if __name__ == "__main__":
    main()
