"""Figure 19: CPU instructions per event of parse and engine, counted by valgrind's cachegrind.

Figure 2's events/s move by 2x with the box's load; the instructions of the same work do not, so this is the
figure to judge a change of per-event work by. Each stage runs in its own interpreter under cachegrind over the
same events (the first 10 000 of figure 2's stream at ``--events 50000``, from a fixed start so the stream is
the same every run), and a stage's cost is the difference to the run without it: start-up, imports and building
the engine cancel out. ``python -m bench.instructions STAGE FILE`` is that child; its stage ``findings`` (not
counted) prints the findings' count and digest and which ``detections`` modules it ran compiled
(bench/compiled.py runs the same stages against a compiled copy of the package).
"""

from __future__ import annotations

import gc
import importlib.machinery
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.child import ROOT, emit
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
NO_VALGRIND = "valgrind not found on PATH (Debian: apt-get install valgrind)"


def run(n_events: int = N_EVENTS) -> list[Figure]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        note = f"skipped: {NO_VALGRIND}"
        print(f"figure 19 {note}")
        return [Figure(SECTION, "instructions per event", math.nan, "", note)]
    blobs = stream_blobs(n_events)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        counts = count_stages(pool, valgrind, write_events(blobs, Path(tmp)), Path(tmp)).result()
    n = len(blobs)
    loads, parse, engine = per_event(counts, n)
    findings = _detect(blobs, Engine(build_detections(profile=PROFILE), TenantContext(TENANT, profile=PROFILE)))
    return [
        Figure(SECTION, "loads + parse_event", loads + parse, "instr/ev", f"orjson.loads {loads:,.0f}; {n} events"),
        Figure(SECTION, "Engine.process", engine, "instr/ev", "every detection of build_detections()"),
        Figure(SECTION, "total", loads + parse + engine, "instr/ev", "loads + parse + process"),
        Figure(SECTION, "findings", len(findings), "", f"of these events, digest {digest(findings)}"),
    ]


def stream_blobs(n_events: int) -> list[bytes]:
    """The first ``n_events`` of figure 2's stream from the fixed start, serialized: the same bytes every run."""
    return [orjson.dumps(e) for e in mixed_stream(STREAM_EVENTS, START).events[:n_events]]


def write_events(blobs: list[bytes], folder: Path) -> Path:
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(blobs))
    return path


class StageCounts:
    """Every stage's instruction count, each a cachegrind run started on a pool (so several sets share one)."""

    def __init__(self, futures: dict[str, Future[int]]) -> None:
        self._futures = futures

    def result(self) -> dict[str, int]:
        return {stage: future.result() for stage, future in self._futures.items()}


def count_stages(pool: Executor, valgrind: str, events: Path, out: Path, where: Path = ROOT) -> StageCounts:
    """Start every stage's run on ``pool``, cachegrind's files in the folder ``out`` (one per set). The children
    import the ``detections`` package of ``where`` (a compiled copy: bench/compiled.py), and the bench from ROOT."""
    return StageCounts({s: pool.submit(_count, valgrind, s, events, out / f"cachegrind.{s}", where) for s in STAGES})


def per_event(counts: dict[str, int], n_events: int) -> tuple[float, float, float]:
    """orjson.loads, parse_event and Engine.process in instructions per event: each stage less the one before."""
    loads, parse, engine = ((counts[b] - counts[a]) / n_events for a, b in itertools.pairwise(STAGES))
    return loads, parse, engine


def child_env(where: Path) -> dict[str, str]:
    """A child's environment: string hashes (set and dict layouts) the same every run; for a folder other than ROOT,
    the bench importable from ROOT behind it (``-m`` puts the child's own folder first on sys.path)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if where != ROOT:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def run_child(cmd: list[str], where: Path) -> bytes:
    """Run a child in ``where`` (its ``detections``); its stdout, or an error that carries its stderr's end."""
    done = subprocess.run(cmd, cwd=where, env=child_env(where), capture_output=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-4:])} in {where} exited {done.returncode}:\n{done.stderr[-3000:].decode()}")
    return done.stdout


def findings_of(events: Path, where: Path = ROOT) -> dict[str, Any]:
    """The child's ``findings`` stage in ``where``: the findings' count and digest, and the modules it imported."""
    stdout = run_child([sys.executable, "-m", "bench.instructions", "findings", str(events)], where)
    tag, value = orjson.loads(stdout.splitlines()[-1])
    if tag != "findings":
        raise RuntimeError(f"the findings child sent {tag!r}")
    return value


def _count(valgrind: str, stage: str, events: Path, out: Path, where: Path) -> int:
    """Instructions the child executed for `stage`, start to exit."""
    cmd = [valgrind, "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
    cmd += [sys.executable, "-m", "bench.instructions", stage, str(events)]
    run_child(cmd, where)
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


def imported_modules() -> dict[str, list[str]]:
    """The ``detections`` modules this interpreter imported, ``compiled`` (extension modules: mypyc's) and
    ``interpreted``, by name."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    out: dict[str, list[str]] = {"compiled": [], "interpreted": []}
    for name, module in sorted(sys.modules.items()):
        if name.startswith("detections.") and module is not None:
            kind = "compiled" if (getattr(module, "__file__", None) or "").endswith(suffixes) else "interpreted"
            out[kind].append(name)
    return out


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
    elif stage == "findings":
        found = _detect(blobs, engine)
        emit("findings", {"count": len(found), "digest": digest(found), **imported_modules()})
    elif stage != "setup":
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)}, findings")


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
