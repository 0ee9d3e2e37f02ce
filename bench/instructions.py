"""Figure 19: CPU instructions per event of parse and engine, counted by valgrind's cachegrind.

Figure 2's events/s move by 2x with the box's load; the instructions of the same work do not, so this is the
figure to judge a change of per-event work by. Each stage runs in its own interpreter under cachegrind over the
same events (the first 10 000 of figure 2's stream at ``--events 50000``, from a fixed start so the stream is
the same every run), and a stage's cost is the difference to the run without it: start-up, imports and building
the engine cancel out. ``python -m bench.instructions STAGE FILE`` is that child.
"""

from __future__ import annotations

import gc
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.child import ROOT
from bench.common import Figure, mixed_stream
from bench.engine import PROFILE, TENANT, digest
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections

SECTION = "19 instructions"
N_EVENTS = 10_000
STREAM_EVENTS = 50_000  # figure 2's stream as `--only 2 --events 50000` makes it
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # fixed: the same bytes every run (figure 2 starts 2 h ago)
STAGES = ("setup", "loads", "parse", "engine")  # each one the previous plus one more step per event
TIMEOUT_S = 3600.0


def run(n_events: int = N_EVENTS) -> list[Figure]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        note = "skipped: valgrind not found on PATH (Debian: apt-get install valgrind)"
        print(f"figure 19 {note}")
        return [Figure(SECTION, "instructions per event", math.nan, "", note)]
    events = mixed_stream(STREAM_EVENTS, START).events[:n_events]
    blobs = [orjson.dumps(e) for e in events]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(blobs))
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = dict(zip(STAGES, pool.map(lambda s: _count(valgrind, s, path, Path(tmp)), STAGES), strict=True))
    n = len(blobs)
    loads, parse, engine = ((counts[b] - counts[a]) / n for a, b in itertools.pairwise(STAGES))
    findings = _detect(blobs, Engine(build_detections(profile=PROFILE), TenantContext(TENANT, profile=PROFILE)))
    return [
        Figure(SECTION, "loads + parse_event", loads + parse, "instr/ev", f"orjson.loads {loads:,.0f}; {n} events"),
        Figure(SECTION, "Engine.process", engine, "instr/ev", "every detection of build_detections()"),
        Figure(SECTION, "total", loads + parse + engine, "instr/ev", "loads + parse + process"),
        Figure(SECTION, "findings", len(findings), "", f"of these events, digest {digest(findings)}"),
    ]


def _count(valgrind: str, stage: str, events: Path, tmp: Path) -> int:
    """Instructions the child executed for `stage`, start to exit."""
    out = tmp / f"cachegrind.{stage}"
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # string hashes (set and dict layouts) the same every run
    cmd = [valgrind, "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
    cmd += [sys.executable, "-m", "bench.instructions", stage, str(events)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=TIMEOUT_S)
    found = re.search(r"^summary:\s*(\d+)", out.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no summary line in cachegrind's output for {stage}")
    return int(found.group(1))


def _detect(blobs: list[bytes], engine: Engine) -> list:
    states: dict = {}
    findings: list = []
    for blob in blobs:
        findings += engine.process(parse_event(orjson.loads(blob), TENANT), states)
    return findings


def _child(stage: str, events: Path) -> None:
    """Set up as every stage does, then run the stage's steps over every event."""
    blobs = events.read_bytes().split(b"\n")
    engine = Engine(build_detections(profile=PROFILE), TenantContext(TENANT, profile=PROFILE))
    gc.collect()
    gc.freeze()  # as figure 2: the input is not the daemon's heap
    if stage == "loads":
        for blob in blobs:
            orjson.loads(blob)
    elif stage == "parse":
        for blob in blobs:
            parse_event(orjson.loads(blob), TENANT)
    elif stage == "engine":
        _detect(blobs, engine)
    elif stage != "setup":
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
