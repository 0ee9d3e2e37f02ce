"""Figure 20: what compiling the hot ``detections`` modules with mypyc would give, measured, not shipped.

The repository's ``detections/`` is copied into a temporary folder and ``MODULES`` are compiled there with mypyc
(the rest of the package stays Python, as mypyc allows); then the same work runs against the repository and
against the copy, each in its own interpreter: figure 19's stages under cachegrind (bench/instructions.py) and
figure 2's events/s (bench/engine.py), the two alternating. The copy must judge identically: the findings' count
and digest of both are printed, and a copy that does not import its compiled modules is an error, not a figure.
Nothing here builds the daemon's install; ``python -m bench.compiled`` runs it alone (``--modules``: a subset).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench import instructions
from bench.child import ROOT, emit
from bench.common import Figure

SECTION = "20 compiled"
# The engine's core, in the order measured step by step in bench/README.md, then every other module that compiles
# and runs: not the ten detections with row classes (a dataclass's ClassVar COLUMNS: mypyc 2.4 makes it a field,
# and the class fails at import), nor the tooling (catalogue, corpus, testkit: they read the detections' source).
CORE = ("event", "debugdata", "window", "common", "actor_record", "baseline", "engine", "columns")
MODULES = (
    *CORE,
    *("admin_privilege_granted", "anonymizer_signin", "api_token_created", "confidence", "config_change"),
    *("directory", "directory_signin", "expiring", "finding", "geo", "lifecycle", "okta_support_access"),
    *("okta_threat_signals", "redaction", "registry", "routing", "scoring", "tenant_profile", "tenant_tampering"),
    *("threat_signals", "user_reported_suspicious"),
)
MYPYC_FLAGS = ("--follow-imports=silent",)  # the Python modules they import are checked only as far as they use
COMPILE_TIMEOUT_S = 1800.0
RATE_EVENTS = 50_000  # figure 2's stream at `--only 2 --events 50000 --start` figure 19's start
STAGE_NAMES = ("orjson.loads", "parse_event", "Engine.process", "total")  # figure 19's, a row each
ROUNDS = 3  # of figure 2's events/s, interpreted and compiled alternating: the best of each


def missing() -> str | None:
    """Why mypyc cannot build here, else None."""
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc not installed (it is part of mypy: .venv/bin/pip install -e '.[bench]')"
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools not installed (mypyc builds with it)"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler: {compiler!r} (this Python's CC) is not on PATH"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return f"no Python.h in {sysconfig.get_paths()['include']} (the Python headers)"
    return None


def compile_copy(dest: Path, modules: Sequence[str]) -> float:
    """Copy ``detections/`` into ``dest`` and compile ``modules`` of it in place; the seconds it took."""
    shutil.copytree(ROOT / "detections", dest / "detections", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    cmd = [sys.executable, "-m", "mypyc", *MYPYC_FLAGS, *(f"detections/{m}.py" for m in modules)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    built = {p.name.split(".")[0] for p in (dest / "detections").glob("*" + sysconfig.get_config_var("EXT_SUFFIX"))}
    if not set(modules) <= built:
        raise RuntimeError(f"mypyc built no extension for {sorted(set(modules) - built)}")
    return time.perf_counter() - t0


def run(
    n_events: int = instructions.N_EVENTS,
    modules: Sequence[str] = MODULES,
    rounds: int = ROUNDS,
    rate_events: int = RATE_EVENTS,
    keep: Path | None = None,
    interpreted: bool = True,
) -> list[Figure]:
    """``keep``: build the copy there (an empty or new folder) and leave it, with ``tests`` beside it so the
    detections' own tests run against it (``cd KEEP && PYTHONPATH=ROOT pytest detections -p no:cacheprovider``)."""
    why = missing()
    if why is not None:
        print(f"figure 20 skipped: {why}")
        return [Figure(SECTION, "compiled", math.nan, "", f"skipped: {why}")]
    with tempfile.TemporaryDirectory() as tmp:
        copy = keep if keep is not None else Path(tmp) / "copy"
        copy.mkdir(parents=True, exist_ok=True)
        seconds = compile_copy(copy, modules)
        if keep is not None and not (copy / "tests").exists():
            (copy / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
        print(f"figure 20: compiled {len(modules)} modules in {seconds:.0f} s")
        names = "bench.compiled.MODULES" if tuple(modules) == MODULES else ", ".join(modules)
        figures = [Figure(SECTION, "compile", seconds, "s", f"mypyc, {len(modules)} modules: {names}")]
        blobs = instructions.stream_blobs(max(n_events, rate_events))
        figures += _instructions(Path(tmp), copy, blobs[:n_events], modules, interpreted)
        figures += _rates(Path(tmp), copy, rounds, blobs[:rate_events])
    return figures


def _instructions(
    tmp: Path, copy: Path, blobs: list[bytes], modules: Sequence[str], interpreted: bool = True
) -> list[Figure]:
    """Figure 19's stages and findings, interpreted (the repository: unless not ``interpreted``, for a series of
    steps against one full run) and compiled (the copy)."""
    n_events = len(blobs)
    events = instructions.write_events(blobs, tmp)
    judged = {where: instructions.findings_of(events, where) for where in (ROOT, copy)}
    chosen = {f"detections.{m}" for m in modules}
    ran, plain = set(judged[copy]["compiled"]), set(judged[copy]["interpreted"])
    if judged[ROOT]["compiled"] or not ran or not ran <= chosen or plain & chosen:
        raise RuntimeError(f"the copy ran {sorted(ran)} compiled and {sorted(plain & chosen)} as Python")
    same = "equal" if judged[ROOT]["digest"] == judged[copy]["digest"] else "DIFFERENT"
    figures = [
        Figure(SECTION, f"findings, {kind}", judged[w]["count"], "", f"digest {judged[w]['digest']} ({same})")
        for kind, w in (("interpreted", ROOT), ("compiled", copy))
    ]
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print(f"figure 20: no instructions per event: {instructions.NO_VALGRIND}")
        return figures
    wheres = {"interpreted": ROOT, "compiled": copy} if interpreted else {"compiled": copy}
    with ThreadPoolExecutor(max_workers=2) as pool:
        sets = {
            kind: instructions.count_stages(pool, valgrind, events, _mkdir(tmp / kind), where)
            for kind, where in wheres.items()
        }
        per = {kind: instructions.per_event(counts.result(), n_events) for kind, counts in sets.items()}
    rows = {kind: (*values, sum(values)) for kind, values in per.items()}  # the three stages and their total
    for kind, values in rows.items():
        for i, (stage, value) in enumerate(zip(STAGE_NAMES, values, strict=True)):
            plain = rows.get("interpreted") if kind == "compiled" else None
            note = f"{n_events} events" if plain is None else _change(plain[i], value)
            figures.append(Figure(SECTION, f"{stage}, {kind}", value, "instr/ev", note))
    return figures


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _rates(tmp: Path, copy: Path, rounds: int, blobs: list[bytes]) -> list[Figure]:
    """Figure 2's events/s, interpreted and compiled, alternating ``rounds`` times: the best of each."""
    if rounds <= 0:
        return []
    n_events = len(blobs)
    events = tmp / "rate.jsonl"
    events.write_bytes(b"\n".join(blobs))
    best: dict[str, dict[str, float]] = {"interpreted": {}, "compiled": {}}
    notes: dict[str, str] = {}
    for _ in range(rounds):
        for kind, where in (("interpreted", ROOT), ("compiled", copy)):
            stdout = instructions.run_child(
                [sys.executable, "-m", "bench.compiled", "--rate-child", str(events)], where
            )
            _, figures = orjson.loads(stdout.splitlines()[-1])
            for name, value, note in figures:
                if name == "findings":
                    notes[kind] = f"{value:.0f}, {note.split(', ')[-1]}"
                else:
                    best[kind][name] = max(best[kind].get(name, 0.0), value)
    out = []
    for name in best["interpreted"]:
        plain, fast = best["interpreted"][name], best["compiled"][name]
        out += [
            Figure(SECTION, f"{name}, interpreted", plain, "ev/s", f"best of {rounds}, {n_events} events"),
            Figure(SECTION, f"{name}, compiled", fast, "ev/s", f"{fast / plain:.2f}x"),
        ]
    same = "equal" if len({note.split()[-1] for note in notes.values()}) == 1 else "DIFFERENT"
    return out + [
        Figure(SECTION, f"figure 2 findings, {kind}", math.nan, "", f"{note} ({same})") for kind, note in notes.items()
    ]


def _change(before: float, after: float) -> str:
    return f"{(after - before) / before:+.1%}" if before else ""


def _rate_child(events: Path) -> None:
    """Figure 2 over the events in ``events`` (this folder's ``detections``): its events/s and findings."""
    from bench import engine  # here, not at the top: the child's own imports are the ones it measures

    stream = [orjson.loads(line) for line in events.read_bytes().split(b"\n")]
    wanted = {"loads + parse_event", "loads + parse + Engine.process", "findings"}
    figures = [f for f in engine.run(stream, attacks=0, users={}) if f.name in wanted]
    emit("rate", [(f.name, f.value, f.note) for f in figures])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.compiled", description=__doc__)
    p.add_argument("--modules", help=f"comma-separated detections modules to compile (default {','.join(MODULES)})")
    p.add_argument("--events", type=int, default=instructions.N_EVENTS, help="events counted under cachegrind")
    p.add_argument("--rounds", type=int, default=ROUNDS, help="figure 2 runs of each (0: none)")
    p.add_argument("--no-interpreted", action="store_true", help="count the compiled copy only (a series of steps)")
    p.add_argument("--keep", type=Path, help="build the compiled copy in this folder and leave it")
    p.add_argument("--rate-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rate_child is not None:
        _rate_child(args.rate_child)
        return
    modules = tuple(args.modules.split(",")) if args.modules else MODULES
    for f in run(args.events, modules, args.rounds, keep=args.keep, interpreted=not args.no_interpreted):
        value = "n/a" if f.value != f.value else f"{f.value:,.0f}"
        print(f"  [{f.section}] {f.name}: {value} {f.unit}" + (f" ({f.note})" if f.note else ""))


if __name__ == "__main__":
    main()
