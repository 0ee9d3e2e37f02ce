"""Offline replay: run the detections over exported Okta System Log files.

Input is a JSON array as ``/api/v1/logs`` returns it, or JSON lines of
LogEvents; the format is told by the first non-space byte. Several files are
merged and, unless asked not to, sorted by ``published``. Unusable records are
reported (file, line or index, reason) and skipped; everything else is replayed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from detections.engine import Engine, TenantContext
from detections.event import Event, MalformedEvent, parse_event
from detections.finding import Finding
from detections.registry import DetectionSettings, build_detections
from detector.stderr import print_error

PROGRESS_THRESHOLD = 5_000  # show a progress bar above this many events
MAX_MALFORMED_SHOWN = 50


class ReplayError(Exception):
    """An input file could not be read at all (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Malformed:
    path: str
    position: int  # 1-based line number (JSON lines) or 0-based index (JSON array)
    is_index: bool
    reason: str

    def __str__(self) -> str:
        where = f"[{self.position}]" if self.is_index else f":{self.position}"
        return f"{self.path}{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    findings: list[Finding]
    malformed: list[Malformed]
    events: int  # events replayed (malformed records not included)


ProgressFn = Callable[[int, int], None]  # (done, total)


def replay(
    paths: Sequence[Path],
    tenant: str,
    settings: DetectionSettings | None = None,
    sort: bool = True,
    *,
    field: str | None = None,
    context: TenantContext | None = None,
    progress: ProgressFn | None = None,
) -> ReplayResult:
    """Parse every file, then feed the events through a fresh engine with empty state."""
    malformed: list[Malformed] = []
    events: list[Event] = []
    for path in paths:
        for raw, position, is_index in _records(path, field, malformed):
            try:
                events.append(parse_event(raw, tenant))
            except MalformedEvent as exc:
                malformed.append(Malformed(str(path), position, is_index, str(exc)))
    if sort:
        events.sort(key=lambda e: e.time)  # stable: ties keep file order
    context = context or TenantContext(tenant)
    engine = Engine(build_detections(settings or DetectionSettings(), context.profile), context)
    states: dict[str, Any] = {}
    findings: list[Finding] = []
    total = len(events)
    for done, event in enumerate(events, 1):
        findings.extend(engine.process(event, states))
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    return ReplayResult(findings, malformed, total)


def _records(path: Path, field: str | None, malformed: list[Malformed]) -> Iterator[tuple[Any, int, bool]]:
    """(LogEvent, position, is_index) for each record; bad records go to ``malformed``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    if data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ReplayError(f"{path}: starts with '[' but is not a valid JSON array: {exc}") from None
        rows: Iterator[tuple[Any, int, bool]] = ((item, i, True) for i, item in enumerate(items))
    else:
        rows = _json_lines(path, data, malformed)
    for item, position, is_index in rows:
        if field is not None:
            if not isinstance(item, dict):
                malformed.append(Malformed(str(path), position, is_index, f"a {_kind(item)}, not an object"))
                continue
            if not isinstance(item.get(field), dict):
                malformed.append(Malformed(str(path), position, is_index, f"no object in field {field!r}"))
                continue
            item = item[field]
        yield item, position, is_index


def _json_lines(path: Path, data: bytes, malformed: list[Malformed]) -> Iterator[tuple[Any, int, bool]]:
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line), number, False
        except orjson.JSONDecodeError as exc:
            malformed.append(Malformed(str(path), number, False, f"bad JSON: {exc}"))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --- CLI glue -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSON array or JSON lines of LogEvents")
    parser.add_argument("--tenant", help="tenant name for findings (and the --config tenant to use)")
    parser.add_argument("--output", choices=("jsonl", "table"), default="table")
    parser.add_argument("--out", type=Path, help="write findings here instead of stdout")
    parser.add_argument("--no-sort", action="store_true", help="replay in file order, not by published")
    parser.add_argument("--config", "-c", type=Path, help="take detection settings from this config's tenant")
    parser.add_argument("--field", help="each record wraps the LogEvent in this key (e.g. event)")


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        tenant, settings, context = _settings(args)
    except ReplayError as exc:
        print_error(f"error: {exc}")
        return 2

    bar: Progress | None = None
    task = None

    def on_progress(done: int, total: int) -> None:
        nonlocal bar, task
        if total <= PROGRESS_THRESHOLD:
            return
        if bar is None:
            bar = Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err)
            bar.start()
            task = bar.add_task("replay", total=total)
        bar.update(task, completed=done)

    try:
        result = replay(
            args.files, tenant, settings, sort=not args.no_sort, field=args.field, context=context, progress=on_progress
        )
    except ReplayError as exc:
        print_error(f"error: {exc}")
        return 2
    finally:
        if bar is not None:
            bar.stop()

    for bad in result.malformed[:MAX_MALFORMED_SHOWN]:
        err.print(f"[yellow]malformed[/] {escape(str(bad))}", highlight=False, soft_wrap=True)
    if len(result.malformed) > MAX_MALFORMED_SHOWN:
        err.print(f"[yellow]... and {len(result.malformed) - MAX_MALFORMED_SHOWN} more malformed records[/]")

    try:
        _write_findings(result.findings, args.output, args.out)
    except OSError as exc:
        err.print(f"[red]error:[/] cannot write {escape(str(args.out))}: {escape(exc.strerror or str(exc))}")
        return 2
    err.print(summary_table(result))
    return 0


def _settings(args: argparse.Namespace) -> tuple[str, DetectionSettings, TenantContext | None]:
    if args.config is None:
        return args.tenant or "replay", DetectionSettings(), None
    from detector.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None
    names = [t.name for t in config.tenants]
    if args.tenant is None and len(names) > 1:
        raise ReplayError(f"{args.config} has several tenants; pick one with --tenant ({', '.join(names)})")
    chosen = next((t for t in config.tenants if args.tenant in (None, t.name)), None)
    if chosen is None:
        raise ReplayError(f"no tenant {args.tenant!r} in {args.config} (have: {', '.join(names)})")
    from detector.tenants import tenant_context  # as the daemon builds it: the tenant's context, our own ids

    return chosen.name, chosen.detections, tenant_context(chosen)


def _write_findings(findings: list[Finding], output: str, out: Path | None) -> None:
    if output == "jsonl":
        lines = b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in findings)
        if out is None:
            sys.stdout.buffer.write(lines)
            sys.stdout.flush()
        else:
            out.write_bytes(lines)
        return
    from detector.respond.alerts import format_finding

    if out is None:
        console = Console(highlight=False, soft_wrap=True)
        for f in findings:
            console.print(format_finding(f.to_dict()))
        return
    with out.open("w") as fh:
        console = Console(file=fh, highlight=False, soft_wrap=True, no_color=True)
        for f in findings:
            console.print(format_finding(f.to_dict()))


def summary_table(result: ReplayResult) -> Table:
    table = Table(title="replay summary", title_justify="left")
    table.add_column("detection")
    table.add_column("tier")
    table.add_column("findings", justify="right")
    counts = Counter((f.detection, f.assessment.tier.value) for f in result.findings)
    for (detection, tier), n in sorted(counts.items()):
        table.add_row(detection, tier, str(n))
    table.add_section()
    table.add_row("[bold]findings[/]", "", str(len(result.findings)))
    table.add_row("events replayed", "", str(result.events))
    table.add_row("malformed (skipped)", "", str(len(result.malformed)))
    table.add_row("records read", "", str(result.events + len(result.malformed)))
    return table
