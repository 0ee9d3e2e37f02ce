"""Run the benchmark suite and print figures (never pass/fail).

.venv/bin/python -m bench.run            # default, 17-22 min (figure 4 ~1.5 min, 7 ~1, 8 ~40 s, 9 6-10, 12 ~3, 17 ~4)
.venv/bin/python -m bench.run --quick    # smoke run, a few seconds (7, 8, 12, 17: ~25, ~10, ~45, ~30 s more)
.venv/bin/python -m bench.run --only 9 --size-mb 50   # figure 9: replay of a 50 MB export (default 1 GB)
.venv/bin/python -m bench.run --only 12               # figure 12: a sync flood vs actions and the tail, ~3 min
.venv/bin/python -m bench.run --only 17               # figure 17: the real 50k-user sync on the budget, ~4 min
.venv/bin/python -m bench.run --only 20               # figure 20: the hot modules compiled with mypyc, ~10 min
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog
from rich.console import Console
from rich.table import Table

from bench import (
    adversarial,
    budget,
    compiled,
    corpus,
    deliveries,
    directory,
    engine,
    instructions,
    inventory_budget,
    inventory_sync,
    kafka,
    kafka_inventory,
    latency,
    memory,
    posture,
    replay,
    signals,
    sim_directory,
    tailer,
    tenants,
)
from bench.common import Figure, Stopwatch, machine_facts, mixed_stream

FIGURES = [str(i) for i in range(1, 21)]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.run", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few seconds")
    p.add_argument("--events", type=int, help="background events for figures 1 and 2 (default 100000, quick 5000)")
    p.add_argument("--attacks", type=int, help="push-bombing attacks for figure 3 (default 30, quick 5)")
    p.add_argument(
        "--start",
        type=datetime.fromisoformat,
        help="first event time of figures 1, 2 and 5's stream, ISO-8601 with offset (default: 2 h ago); a fixed"
        " start makes figure 2's findings digest comparable between runs",
    )
    p.add_argument("--poll-interval", type=float, default=1.0, help="tailer poll interval in figure 3 (s)")
    p.add_argument("--users", type=int, help="population for figure 4 (default 100000, quick 2000)")
    p.add_argument("--signins", type=int, default=1, help="sign-ins per user in figure 4, one a day (default 1)")
    p.add_argument("--kafka-events", type=int, help="events through Kafka in figure 5 (default 50000, quick 5000)")
    p.add_argument("--attempts", type=int, help="attempts per attack in figure 6 (default 20000, quick 4000)")
    p.add_argument("--tenants", type=tenants.counts, help="tenant counts for figure 7 (default 100,500, quick 10,50)")
    p.add_argument("--tenant-seconds", type=float, help="figure 7's window per tenant count (default 15, quick 5)")
    p.add_argument("--incidents", type=int, help="incidents for figure 8 (default 200, quick 50; 5 versions, quick 4)")
    p.add_argument("--size-mb", type=float, help="export size for figure 9 (default 1024 MB, quick 50)")
    p.add_argument("--window-s", type=float, help="figure 12's rate-limit window (default 10 s, quick 2 s)")
    p.add_argument("--directory-users", type=int, help="users for figure 13 (default 50000, quick 5000)")
    p.add_argument("--inventory-users", type=int, help="users for figure 14 (default 5000, quick 500)")
    p.add_argument("--posture-users", type=int, help="users for figure 15 (default 50000, quick 5000)")
    p.add_argument("--kafka-inventory-users", type=int, help="users for figure 17 (default 50000, quick 5000)")
    p.add_argument("--sync-window-s", type=float, help="figure 18's compressed 60 s window (default 5 s, quick 2 s)")
    p.add_argument("--only", choices=FIGURES, action="append", help="run only these figures")
    return p.parse_args(argv)


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def report(console: Console, figures: list[Figure], facts: dict[str, str]) -> None:
    table = Table(title="okta-itdr benchmarks (" + ", ".join(f"{k} {v}" for k, v in facts.items()) + ")")
    for col in ("figure", "measure", "value", "unit", "note"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for f in figures:
        table.add_row(f.section, f.name, _fmt(f.value), f.unit, f.note)
    console.print(table)
    print("\nsummary:")
    for f in figures:
        print(f"  [{f.section}] {f.name}: {_fmt(f.value)} {f.unit}" + (f" ({f.note})" if f.note else ""))


async def main(argv: list[str] | None = None) -> list[Figure]:
    args = _args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    only = set(args.only or FIGURES)
    n_events = args.events or (5_000 if args.quick else 100_000)
    n_attacks = args.attacks or (5 if args.quick else 30)
    facts = machine_facts()
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    figures: list[Figure] = []

    if only & {"1", "2", "5"}:
        watch = Stopwatch()
        stream = mixed_stream(n_events, args.start or datetime.now(UTC) - timedelta(hours=2))
        console.print(f"generated {len(stream.events)} events in {watch.elapsed:.1f} s (not timed)")
        if "1" in only:
            console.print("figure 1: tailer …")
            figures += await tailer.run(stream.background)
            console.print(f"  done at {watch.elapsed:.1f} s")
        mixed = stream.events
        if "2" in only:
            console.print(f"figure 2: engine ({stream.attacks} attacks over {stream.span_s:.0f} s of traffic) …")
            figures += engine.run(mixed, stream.attacks, stream.users)
            console.print(f"  done at {watch.elapsed:.1f} s")
        if "5" in only:
            n_kafka = args.kafka_events or (5_000 if args.quick else 50_000)
            console.print(f"figure 5: Kafka mode ({n_kafka} events, then {n_attacks} attacks for latency) …")
            figures += await kafka.run(mixed[:n_kafka], n_attacks, args.poll_interval)
            console.print(f"  done at {watch.elapsed:.1f} s")
    if "3" in only:
        console.print(f"figure 3: latency ({n_attacks} attacks, poll interval {args.poll_interval} s) …")
        figures += await latency.run(
            n_attacks,
            spacing_s=0.3 if args.quick else 1.0,
            prompt_interval_s=0.2 if args.quick else 1.0,
            poll_interval_s=args.poll_interval,
            background_rate=50.0,
        )
    if "4" in only:
        n_users = args.users or (2_000 if args.quick else 100_000)
        console.print(f"figure 4: memory ({n_users} users x {args.signins} sign-in(s)) …")
        figures += memory.run(n_users, args.signins)
    if "6" in only:
        n_attempts = args.attempts or (4_000 if args.quick else 20_000)
        console.print(f"figure 6: growing attacks ({n_attempts} attempts each) …")
        figures += adversarial.run(n_attempts)
    if "7" in only:
        counts = args.tenants or ([10, 50] if args.quick else [100, 500])
        window = args.tenant_seconds or (5.0 if args.quick else 15.0)
        console.print(f"figure 7: tenants per poller process ({', '.join(map(str, counts))} tenants) …")
        figures += tenants.run(counts, window, warmup_s=2.0 if args.quick else 5.0)
    if "8" in only:
        n_incidents, n_versions = args.incidents or (50 if args.quick else 200), 4 if args.quick else 5
        console.print(f"figure 8: incident deliveries ({n_incidents} incidents x {n_versions} versions) …")
        figures += await deliveries.run_async(n_incidents, n_versions, deliveries.RATE)
    if "9" in only:
        size_mb = args.size_mb or (50.0 if args.quick else 1024.0)
        console.print(f"figure 9: replay of a {size_mb:g} MB export (JSON lines, then a JSON array) …")
        figures += replay.run(size_mb)
    if "10" in only:
        console.print("figure 10: precision and recall per detection on the labelled corpus …")
        figures += corpus.run()
    if "11" in only:
        n_signins, n_signals = (4_000, 2_000) if args.quick else (20_000, 10_000)
        console.print(f"figure 11: threat signals ({n_signins} sign-ins, {n_signals} flagged IPs) …")
        figures += signals.run(n_signins, n_signals)
    if "12" in only:
        window = args.window_s or (2.0 if args.quick else 10.0)
        console.print(f"figure 12: a sync flood vs actions and the log tail ({window:g} s rate-limit windows) …")
        figures += await budget.run(window, windows=3)
    if "13" in only:
        n_users = args.directory_users or (5_000 if args.quick else 50_000)
        n_groups = 300 if args.quick else 2_000
        console.print(f"figure 13: simulator directory ({n_users} users, {n_groups} groups) …")
        figures += await sim_directory.measure(n_users, n_groups)
    if "14" in only:
        n_users = args.inventory_users or (500 if args.quick else 5_000)
        n_groups = 40 if args.quick else 300
        console.print(f"figure 14: inventory sync ({n_users} users, {n_groups} groups) …")
        figures += await inventory_sync.measure(n_users, n_groups)
    if "15" in only:
        n_users = args.posture_users or (5_000 if args.quick else 50_000)
        n_groups = 300 if args.quick else 2_000
        console.print(f"figure 15: posture checks and inventory changes ({n_users} users, {n_groups} groups) …")
        figures += posture.measure(n_users, n_groups)
    if "16" in only:
        n_users, n_groups, n_signins = (5_000, 200, 4_000) if args.quick else (50_000, 2_000, 20_000)
        console.print(f"figure 16: directory context ({n_users} users, {n_groups} groups, {n_signins} sign-ins) …")
        figures += await directory.run(n_users, n_groups, n_signins)
    if "17" in only:
        n_users = args.kafka_inventory_users or (5_000 if args.quick else 50_000)
        n_groups = 200 if args.quick else 2_000
        console.print(f"figure 17: Kafka-mode inventory ({n_users} users, {n_groups} groups) …")
        figures += await kafka_inventory.measure(n_users, n_groups)
    if "18" in only:
        n_users, n_groups, sync_s = inventory_budget.QUICK if args.quick else inventory_budget.FULL
        window = args.sync_window_s or (2.0 if args.quick else 5.0)
        console.print(
            f"figure 18: inventory sync ({n_users} users, {n_groups} groups) on the budget during a push bombing,"
            f" {window:g} s windows, at most {sync_s:g} s of sync …"
        )
        figures += await inventory_budget.measure(
            n_users, n_groups, window, sync_s, floor_windows=3 if args.quick else 6
        )
    if "19" in only:
        n_counted = 2_000 if args.quick else instructions.N_EVENTS
        console.print(f"figure 19: instructions per event under cachegrind ({n_counted} events, 4 runs) …")
        figures += instructions.run(n_counted)
    if "20" in only:
        n_counted = 2_000 if args.quick else instructions.N_EVENTS
        modules = compiled.CORE if args.quick else compiled.MODULES
        console.print(f"figure 20: {len(modules)} detections modules compiled with mypyc, against figures 19 and 2 …")
        rate_events = 5_000 if args.quick else compiled.RATE_EVENTS
        figures += compiled.run(
            n_counted, modules, rounds=1 if args.quick else compiled.ROUNDS, rate_events=rate_events
        )
    report(console, figures, facts)
    return figures


if __name__ == "__main__":
    asyncio.run(main())
