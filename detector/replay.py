"""Offline replay: run the detections over exported Okta System Log files, as a stream.

Input is a JSON array as ``/api/v1/logs`` returns it, or JSON lines of LogEvents (detector.replay_input:
read record by record, never whole). ``-`` is standard input; it and named pipes are read until their
writer closes them. The inputs are read one after the other, in the order given, and their events go to
the engine in ``published`` order through a bounded reorder window (detector.replay_order); an event
older than what the window already let go is replayed anyway and counted late. Findings are written at
their latest revision (detector.replay_output). A bad record, whatever is wrong with it, is reported
(file, line or index, reason) and skipped; an input that cannot be read at all (or is a device, which could
stream forever) is reported and the others are replayed. A detection that raises on an event is reported
the same way (the others still saw the event). Passwords typed as usernames are redacted before anything
is parsed or printed. Memory is bounded by the window, the open findings and the detection state, not by
the input.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from detections.engine import Engine, TenantContext
from detections.event import MalformedEvent, parse_event, parse_time
from detections.expiring import ExpiringStates
from detections.finding import Finding
from detections.redaction import Redactor
from detections.registry import DetectionSettings, build_engine
from detector.replay_input import MAX_LINE, ByteCount, Malformed, Record, ReplayError, is_named_pipe, records, size_of
from detector.replay_input import lines as _lines
from detector.replay_order import DEFAULT_EVENTS, DEFAULT_SECONDS, ReorderWindow, WindowLimits
from detector.replay_output import FORMATS, FindingsWriter, LatestRevisions
from detector.respond.escaping import terminal_text

__all__ = ["MAX_LINE", "Malformed", "ReplayError", "ReplayResult", "WindowLimits", "_lines", "replay"]

PROGRESS_BYTES = 8 << 20  # show a progress bar for inputs larger than this (or of unknown size)
MAX_MALFORMED_SHOWN = 50
MAX_KEPT = 1000  # bad records and detection errors kept to report (all are counted)
LEARN_BATCH = 1000  # records the redactor learns from before it redacts them, as the poller does per page
EXIT_CODES = """exit codes:
  0  every record was replayed
  1  some records were skipped, or a detection raised on some (the other detections still saw them):
     each is reported on stderr, and the findings of the rest are written
  2  an input could not be read at all (the others are still replayed), or the arguments are unusable"""
ORDER_HELP = f"""order and memory:
  Inputs are read one after the other, in the order given (give them oldest first), each as a stream.
  Their events reach the detections in `published` order through a reorder window that holds at most
  --reorder-events events (default {DEFAULT_EVENTS:,}, about 2.5 KiB each) and at most --reorder-seconds
  of event time (default {DEFAULT_SECONDS:g} s): Okta exports are in published order give or take seconds.
  An event older than what the window already let go is still replayed, out of order, and counted as
  "late" in the summary. Findings are written at their latest revision, each once, in the order they
  were first raised; {{max_open:,}} findings are held for revision, and beyond that the oldest is written
  early (a later revision of it is then written again, with a higher revision)."""


@dataclass(slots=True)
class ReplayResult:
    findings: list[Finding] = field(default_factory=list)  # the written findings, when replay() collects them
    malformed: list[Malformed] = field(default_factory=list)  # the first MAX_KEPT, in file order per input
    events: int = 0  # events replayed (malformed records not included)
    unreadable: list[str] = field(default_factory=list)  # inputs not read at all, each with its reason
    failed: list[Malformed] = field(default_factory=list)  # events a detection raised on (the others ran)
    malformed_total: int = 0
    failed_total: int = 0
    late: int = 0  # events older than what the reorder window had already let go
    held_at_most: int = 0  # the reorder window's peak
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # findings written per (detection, tier)
    written_early: int = 0  # findings written before the end: the map of open findings was full

    @property
    def exit_code(self) -> int:
        """What ``detector replay`` exits with (EXIT_CODES)."""
        return 2 if self.unreadable else 1 if self.malformed_total or self.failed_total else 0

    @property
    def findings_written(self) -> int:
        return sum(self.counts.values())


ProgressFn = Callable[[int, int | None, int], None]  # (bytes read, bytes in all inputs or None, records read)
Held = tuple[bytes | str, int, int, bool]  # an event held for the engine: its JSON text and where it came from


SWEEP_EVERY = 100  # events between sweeps of dead state: what was written since is indexed once


def new_state_store(engine: Engine) -> ExpiringStates:
    """The detection state of one replay, swept by event time as the daemon's stores are."""
    return ExpiringStates(engine)


def replay(
    paths: Sequence[Path],
    tenant: str,
    settings: DetectionSettings | None = None,
    sort: bool = True,
    *,
    field: str | None = None,
    context: TenantContext | None = None,
    progress: ProgressFn | None = None,
    redaction_key: bytes | None = None,
    window: WindowLimits | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    states: MutableMapping[str, Any] | None = None,
) -> ReplayResult:
    """Stream every input through a fresh engine with empty state (``states``, else ``new_state_store``).

    Findings go to ``on_finding`` as they are settled (else to ``result.findings``). Suspected passwords are
    redacted as the daemon's poller does (detections.redaction), with the deployment's key when given
    (markers as in the daemon's data), else a key for this run only."""
    result = ReplayResult()
    context = context or TenantContext(tenant)
    redactor = Redactor(redaction_key or secrets.token_bytes(32), context.profile.login_domains)
    engine = build_engine(settings, context)
    store = new_state_store(engine) if states is None else states
    sweep = getattr(store, "sweep", None)
    latest = LatestRevisions(on_finding or result.findings.append)
    order: ReorderWindow[Held] | None = ReorderWindow(window or WindowLimits()) if sort else None
    names = [str(p) for p in paths]
    sizes = [size_of(p) for p in paths]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    counted, read = ByteCount(), 0
    malformed: list[tuple[int, Malformed]] = []

    def bad(source: int, what: Malformed) -> None:
        result.malformed_total += 1
        if len(malformed) < MAX_KEPT:
            malformed.append((source, what))

    def detect(held: Held) -> None:
        text, source, position, is_index = held
        try:
            event = parse_event(orjson.loads(text), tenant)
        except Exception as exc:  # whatever is wrong with one record, the others are replayed
            bad(source, Malformed(names[source], position, is_index, _reason(exc)))
            return
        outcome = engine.run(event, store)
        result.events += 1
        if sweep is not None and result.events % SWEEP_EVERY == 0:
            sweep()
        for finding in outcome.findings:
            latest.add(finding)
        for failure in outcome.failures:
            result.failed_total += 1
            if len(result.failed) < MAX_KEPT:
                result.failed.append(Malformed(names[source], position, is_index, failure.reason))

    for source, path in enumerate(paths):
        try:
            rows = records(path, field, lambda what, source=source: bad(source, what), counted)
            for batch in _batches(rows, LEARN_BATCH):
                redactor.learn(record.raw for record in batch)
                for record in batch:
                    try:
                        at, text = _admit(record, redactor, tenant)
                    except Exception as exc:
                        bad(source, Malformed(names[source], record.position, record.is_index, _reason(exc)))
                        continue
                    held = (text, source, record.position, record.is_index)
                    for ready in order.push(at, held) if order is not None else (held,):
                        detect(ready)
                read += len(batch)
                if progress is not None:  # as read, not as replayed: the window may hold the first minutes
                    progress(counted.done, total, read)
        except ReplayError as exc:
            result.unreadable.append(str(exc))
    for ready in order.drain() if order is not None else ():
        detect(ready)
    latest.close()
    result.malformed = [what for _, what in sorted(malformed, key=lambda m: (m[0], m[1].position))]
    result.late, result.held_at_most = (order.late, order.peak) if order is not None else (0, 0)
    result.counts, result.written_early = latest.counts, latest.early
    return result


def _admit(record: Record, redactor: Redactor, tenant: str) -> tuple[float, bytes | str]:
    """The record's event time and the JSON text to hold it as (redacted), or the reason it is refused."""
    raw = redactor.redact(record.raw)
    try:
        at = parse_time(raw.get("published"))
    except (AttributeError, MalformedEvent):  # not an object, or no usable time: the event's first fault
        at = parse_event(raw, tenant).time
    if raw is record.raw and record.text is not None:
        return at, record.text
    return at, orjson.dumps(raw)


def _batches(rows: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MalformedEvent) else f"unusable event ({type(exc).__name__}: {exc})"


# --- CLI glue -------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 90 * 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 90 days in seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from detector.replay_output import MAX_OPEN

    parser.epilog = ORDER_HELP.format(max_open=MAX_OPEN) + "\n\n" + EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="JSON array or JSON lines of LogEvents; - is stdin"
    )
    parser.add_argument("--tenant", help="tenant name for findings (and the --config tenant to use)")
    parser.add_argument(
        "--output", choices=FORMATS, default="table", help="a table, one JSON per line, or one JSON array"
    )
    parser.add_argument("--out", type=Path, help="write findings here instead of stdout")
    parser.add_argument("--no-sort", action="store_true", help="replay in file order, not by published")
    parser.add_argument(
        "--reorder-seconds",
        type=_seconds,
        default=DEFAULT_SECONDS,
        metavar="S",
        help=f"event time the reorder window spans (default {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--reorder-events",
        type=_positive_int,
        default=DEFAULT_EVENTS,
        metavar="N",
        help=f"events the reorder window holds at most (default {DEFAULT_EVENTS})",
    )
    parser.add_argument("--config", "-c", type=Path, help="take detection settings from this config's tenant")
    parser.add_argument("--field", help="each record wraps the LogEvent in this key (e.g. event)")


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        tenant, settings, context, key = _settings(args)
    except ReplayError as exc:
        _report(err, "error:", "red", str(exc))
        return 2
    for path in args.files:
        if is_named_pipe(path):
            _report(err, "waiting", "cyan", f"for a writer on the named pipe {path}; it is read until closed")
    try:
        writer = FindingsWriter(args.output, args.out)
    except OSError as exc:
        _report(err, "error:", "red", f"cannot write {args.out}: {exc.strerror or exc}")
        return 2
    bar = _ProgressBar(err, [size_of(p) for p in args.files])
    try:
        result = replay(
            args.files,
            tenant,
            settings,
            sort=not args.no_sort,
            field=args.field,
            context=context,
            progress=bar.update if bar.shown else None,
            redaction_key=key,
            window=WindowLimits(args.reorder_seconds, args.reorder_events),
            on_finding=writer.write,
        )
        writer.close()
    except OSError as exc:
        bar.stop()
        _report(err, "error:", "red", f"cannot write {args.out or 'the findings'}: {exc.strerror or exc}")
        return 2
    finally:
        bar.stop()

    for message in result.unreadable:
        _report(err, "error:", "red", message)
    for bad in result.malformed[:MAX_MALFORMED_SHOWN]:
        _report(err, "malformed", "yellow", str(bad))
    if result.malformed_total > MAX_MALFORMED_SHOWN:
        err.print(f"[yellow]... and {result.malformed_total - MAX_MALFORMED_SHOWN} more malformed records[/]")
    for bad in result.failed[:MAX_MALFORMED_SHOWN]:
        _report(err, "detection error", "yellow", str(bad))
    if result.failed_total > MAX_MALFORMED_SHOWN:
        err.print(f"[yellow]... and {result.failed_total - MAX_MALFORMED_SHOWN} more detection errors[/]")
    err.print(summary_table(result))
    return result.exit_code


class _ProgressBar:
    """Bytes read against the inputs' sizes (so the ETA holds from the first records), records and records/s.

    Shown for inputs larger than PROGRESS_BYTES, or of unknown size (a pipe: no total, no ETA)."""

    def __init__(self, console: Console, sizes: list[int | None]) -> None:
        total = None if None in sizes else sum(s or 0 for s in sizes)
        self.shown = total is None or total > PROGRESS_BYTES
        self._started = time.monotonic()
        self._bar: Progress | None = None
        if self.shown:
            self._bar = Progress(
                TextColumn("replaying"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[records]:,} events, {task.fields[rate]:,.0f} events/s"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            self._task = self._bar.add_task("replay", total=total, records=0, rate=0.0)
            self._bar.start()

    def update(self, done: int, total: int | None, records: int) -> None:
        if self._bar is not None:
            rate = records / max(time.monotonic() - self._started, 1e-9)
            self._bar.update(self._task, completed=done, total=total, records=records, rate=rate)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _report(console: Console, label: str, style: str, message: str) -> None:
    """One line on stderr; the message quotes paths and record content, so it is plain text, never markup."""
    console.print(Text.assemble((label, style), " ", terminal_text(message)), soft_wrap=True)


def _settings(args: argparse.Namespace) -> tuple[str, DetectionSettings, TenantContext | None, bytes | None]:
    if args.config is None:
        return args.tenant or "replay", DetectionSettings(), None, None
    from detector.config import ConfigError, load_config
    from detector.redaction_key import existing_redaction_key

    try:
        config = load_config(args.config)
        key = existing_redaction_key(config)  # the daemon's markers for the same passwords
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None
    names = [t.name for t in config.tenants]
    if args.tenant is None and len(names) > 1:
        raise ReplayError(f"{args.config} has several tenants; pick one with --tenant ({', '.join(names)})")
    chosen = next((t for t in config.tenants if args.tenant in (None, t.name)), None)
    if chosen is None:
        raise ReplayError(f"no tenant {args.tenant!r} in {args.config} (have: {', '.join(names)})")
    from detector.tenants import tenant_context  # as the daemon builds it: the tenant's context, our own ids

    return chosen.name, chosen.detections, tenant_context(chosen), key


def summary_table(result: ReplayResult) -> Table:
    table = Table(title="replay summary", title_justify="left")
    table.add_column("detection")
    table.add_column("tier")
    table.add_column("findings", justify="right")
    for (detection, tier), n in sorted(result.counts.items()):
        table.add_row(detection, tier, str(n))
    table.add_section()
    table.add_row("[bold]findings[/]", "", str(result.findings_written))
    if result.written_early:
        table.add_row("written before the end (too many open)", "", str(result.written_early))
    table.add_row("events replayed", "", str(result.events))
    table.add_row("late (behind the reorder window)", "", str(result.late))
    table.add_row("held at most (reorder window)", "", str(result.held_at_most))
    table.add_row("malformed (skipped)", "", str(result.malformed_total))
    table.add_row("detection errors", "", str(result.failed_total))
    table.add_row("records read", "", str(result.events + result.malformed_total))
    table.add_row("inputs not read", "", str(len(result.unreadable)))
    return table
