"""Figure 9: `detector replay` over a large export: peak memory, events/s, and the parse floor.

A System Log export of about `--size-mb` MB (default 1024; quick 50) is written to a temp dir before any
timing, twice with the same events: JSON lines, and one JSON array (an item per line, as a tool saving the
API's pages would). The events are the simulator's background traffic (`detector.sim.traffic`, 2 000 users,
`RATE` events/s of event time) with a push-bombing attack every ~20 000 events. Each file is replayed by
`python -m detector.cli replay FILE --output jsonl --out /dev/null` as a child process, whose peak RSS is
read from its own rusage (`os.wait4`: ru_maxrss of that child alone), with its wall and CPU time. The floor
is `orjson.loads` of each record of the same file, in this process, in CPU time: what parsing the bytes costs
before any detection runs.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python bench/replay.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import SEED, Figure, bystanders, jittered, machine_facts, population, push_bombing
from detector.replay_order import DEFAULT_EVENTS
from detector.sim.traffic import TrafficConfig, TrafficGenerator

RATE = 50.0  # events/s of event time: a large tenant (4.3 M events a day); the reorder window holds 10 min of it
EVENTS_PER_ATTACK = 20_000
AVG_EVENT_BYTES = 2_300  # what the simulator's events weigh as JSON, to place the attacks in time
ROOT = Path(__file__).resolve().parent.parent


def _events(size_mb: float) -> Iterator[bytes]:
    """Serialized events in `published` order until about `size_mb` MB have been yielded."""
    target = int(size_mb * 1e6)
    expected = max(1, target // AVG_EVENT_BYTES)
    span_s = expected / RATE
    start = datetime.now(UTC) - timedelta(seconds=span_s + 3600)
    pop = population(2_000)
    n_attacks = max(1, expected // EVENTS_PER_ATTACK)
    attacks = push_bombing(pop, start, jittered(n_attacks, span_s / n_attacks)).emissions
    generator = TrafficGenerator(bystanders(pop, n_attacks), random.Random(SEED + 9), TrafficConfig(rate=RATE))
    background = generator.stream(start)
    written = 0
    for emission in heapq.merge(background, attacks, key=lambda e: e.at):
        blob = orjson.dumps(emission.event)
        yield blob
        written += len(blob) + 2
        if written >= target:
            return


def generate(directory: Path, size_mb: float) -> tuple[Path, Path, int]:
    """The JSON-lines and the JSON-array file, same events; and how many."""
    lines_path, array_path = directory / "export.jsonl", directory / "export.json"
    n = 0
    with lines_path.open("wb") as lines, array_path.open("wb") as array:
        array.write(b"[\n")
        for blob in _events(size_mb):
            lines.write(blob + b"\n")
            array.write((b",\n" if n else b"") + blob)
            n += 1
        array.write(b"\n]\n")
    return lines_path, array_path, n


def floor(path: Path) -> float:
    """CPU seconds to `orjson.loads` every record of the file (read line by line, an array's items likewise)."""
    t0 = time.process_time()
    with path.open("rb") as f:
        for line in f:
            item = line.rstrip(b",\n")
            if item not in (b"[", b"]", b""):
                orjson.loads(item)
    return time.process_time() - t0


def replay_child(path: Path) -> tuple[float, float, int, str]:
    """Wall and CPU seconds, peak RSS (bytes) and stderr of `detector replay` over `path` in a fresh
    interpreter (its start-up included: about 1 s of imports)."""
    argv = [sys.executable, "-m", "detector.cli", "replay", str(path), "--output", "jsonl", "--out", os.devnull]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"replay of {path} exited {proc.returncode}: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, stderr  # Linux: ru_maxrss in KiB


def _summary(stderr: str, label: str) -> str:
    found = re.findall(re.escape(label) + r"\s*│[^│]*│\s*(\d+)", stderr)
    return found[-1] if found else "?"


def run(size_mb: float = 1024.0) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="itdr-bench-replay-") as tmp:
        t0 = time.perf_counter()
        lines_path, array_path, n = generate(Path(tmp), size_mb)
        gen_s = time.perf_counter() - t0
        print(f"  generated {n:,} events, {lines_path.stat().st_size / 1e6:,.0f} MB each way in {gen_s:.0f} s")
        for kind, path in (("JSON lines", lines_path), ("JSON array", array_path)):
            mb = path.stat().st_size / 1e6
            wall, cpu, rss, stderr = replay_child(path)
            floor_s = floor(path)
            findings = _summary(stderr, "findings")
            late = _summary(stderr, "late (behind the reorder window)")
            held = _summary(stderr, "held at most (reorder window)")
            held = held if held.isdigit() else "nan"
            sec = "9 replay"
            note = f"{mb:,.0f} MB, {n:,} events"
            figures += [
                Figure(sec, f"{kind}: peak RSS", rss / 2**20, "MiB", f"{note}; {rss / 2**20 / mb:.2f} MiB per MB"),
                Figure(sec, f"{kind}: events/s", n / wall, "ev/s", f"{mb / wall:.1f} MB/s, {wall:.0f} s wall"),
                Figure(sec, f"{kind}: events per CPU s", n / cpu, "ev/s", f"{cpu:.0f} s of CPU (other load aside)"),
                Figure(sec, f"{kind}: orjson.loads floor", n / floor_s, "ev/CPU s", f"{mb / floor_s:.0f} MB/s"),
                Figure(sec, f"{kind}: replay / floor", cpu / floor_s, "x CPU", f"{findings} findings, late {late}"),
                Figure(sec, f"{kind}: reorder window peak", float(held), "events", f"of {DEFAULT_EVENTS:,}, 10 min"),
            ]
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(prog="bench.replay", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mb", type=float, default=1024.0, help="export size in MB (default 1024; quick 50)")
    args = p.parse_args(argv)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine_facts().items()))
    figures = run(args.size_mb)
    for f in figures:
        print(f"  [{f.section}] {f.name}: {f.value:,.2f} {f.unit}" + (f" ({f.note})" if f.note else ""))
    return figures


if __name__ == "__main__":
    main()
