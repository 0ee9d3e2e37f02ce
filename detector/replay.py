"""Offline replay: run the detections over exported Okta System Log files.

Input is a JSON array as ``/api/v1/logs`` returns it, or JSON lines of
LogEvents; the format is told by the first non-space byte. ``-`` is standard
input; it and named pipes are read as streams, in bounded chunks, until their
writer closes them. Several inputs are merged and, unless asked not to, sorted
by ``published``. A bad record, whatever is wrong with it, is reported (file,
line or index, reason) and skipped; an input that cannot be read at all (or is
a device, which could stream forever) is reported and the others are replayed.
A detection that raises on an event is reported the same way (the others still
saw the event). Passwords typed as usernames are redacted before anything is
parsed or printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from detections.engine import TenantContext
from detections.event import Event, MalformedEvent, parse_event
from detections.expiring import ExpiringStates
from detections.finding import Finding, latest_revisions
from detections.redaction import Redactor
from detections.registry import DetectionSettings, build_engine
from detector.respond.escaping import terminal_text

PROGRESS_THRESHOLD = 5_000  # show a progress bar above this many events
MAX_MALFORMED_SHOWN = 50
MAX_LINE = 1 << 20  # a longer JSON line is a bad record, dropped as it is read (/dev/zero as stdin has no end)
CHUNK = 1 << 16
STDIN = Path("-")
STDIN_FD = 0  # not sys.stdin.fileno(): sys.stdin is None when the descriptor was closed at exec
EXIT_CODES = """exit codes:
  0  every record was replayed
  1  some records were skipped, or a detection raised on some (the other detections still saw them):
     each is reported on stderr, and the findings of the rest are written
  2  an input could not be read at all (the others are still replayed), or the arguments are unusable"""


class ReplayError(Exception):
    """An input or the arguments cannot be used at all (exit code 2)."""


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
    unreadable: list[str] = field(default_factory=list)  # inputs not read at all, each with its reason
    failed: list[Malformed] = field(default_factory=list)  # events a detection raised on (the others ran)

    @property
    def exit_code(self) -> int:
        """What ``detector replay`` exits with (EXIT_CODES)."""
        return 2 if self.unreadable else 1 if self.malformed or self.failed else 0


ProgressFn = Callable[[int, int], None]  # (done, total)


SWEEP_EVERY = 100  # events between sweeps of dead state: what was written since is indexed once


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
) -> ReplayResult:
    """Parse every input, then feed the events through a fresh engine with empty state.

    Suspected passwords are redacted as the daemon's poller does (detections.redaction), with the
    deployment's key when given (markers as in the daemon's data), else a key for this run only."""
    malformed: list[Malformed] = []
    failed: list[Malformed] = []
    unreadable: list[str] = []
    events: list[tuple[Event, str, int, bool]] = []  # the event and where it came from
    context = context or TenantContext(tenant)
    redactor = Redactor(redaction_key or secrets.token_bytes(32), context.profile.login_domains)
    for path in paths:
        first = len(malformed)
        rows: list[tuple[Any, int, bool]] = []
        try:
            rows.extend(_records(path, field, malformed))
        except ReplayError as exc:
            unreadable.append(str(exc))
        redactor.learn(raw for raw, _, _ in rows)
        for raw, position, is_index in rows:
            try:
                events.append((parse_event(redactor.redact(raw), tenant), str(path), position, is_index))
            except Exception as exc:  # whatever is wrong with one record, the others are replayed
                malformed.append(Malformed(str(path), position, is_index, _reason(exc)))
        malformed[first:] = sorted(malformed[first:], key=lambda bad: bad.position)  # in file order
    if sort:
        events.sort(key=lambda e: e[0].time)  # stable: ties keep file order
    engine = build_engine(settings, context)
    states = ExpiringStates(engine)  # swept by event time as the daemon's stores are
    findings: list[Finding] = []
    total = len(events)
    for done, (event, path, position, is_index) in enumerate(events, 1):
        outcome = engine.run(event, states)
        if done % SWEEP_EVERY == 0:
            states.sweep()
        findings.extend(outcome.findings)
        failed += [Malformed(path, position, is_index, failure.reason) for failure in outcome.failures]
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    return ReplayResult(latest_revisions(findings), malformed, total, unreadable, failed)


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MalformedEvent) else f"unusable event ({type(exc).__name__}: {exc})"


def _records(path: Path, field: str | None, malformed: list[Malformed]) -> Iterator[tuple[Any, int, bool]]:
    """(LogEvent, position, is_index) for each record; bad records go to ``malformed``."""
    try:
        with _open(path) as stream:
            head, blank_lines = _head(stream)
            if head[:1] == b"[":
                rows = _array(path, head + stream.read(), malformed)
            else:
                rows = _json_lines(path, _chunks(head, stream), blank_lines + 1, malformed)
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
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _open(path: Path) -> IO[bytes]:
    """The input as a binary stream. Devices and directories are refused before they are opened: reading
    /dev/zero or a terminal never ends, and opening some devices has side effects."""
    mode = os.fstat(STDIN_FD).st_mode if path == STDIN else path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise ReplayError(f"{path}: is {_file_kind(mode)}, not a file or a pipe; not read")
    return open(STDIN_FD, "rb", closefd=False) if path == STDIN else path.open("rb")


def _is_named_pipe(path: Path) -> bool:
    """A FIFO: opening it waits for a writer, so the CLI says so first."""
    try:
        return path != STDIN and stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device (a terminal, /dev/zero...)"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _head(stream: IO[bytes]) -> tuple[bytes, int]:
    """The input from its first non-space byte (a UTF-8 BOM dropped), and how many lines came before it."""
    blank_lines = 0
    chunk = stream.read(CHUNK).removeprefix(b"\xef\xbb\xbf")
    while chunk:
        head = chunk.lstrip()
        if head:
            return head, blank_lines + chunk.count(b"\n", 0, len(chunk) - len(head))
        blank_lines += chunk.count(b"\n")
        chunk = stream.read(CHUNK)
    return b"", blank_lines


def _chunks(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    yield head
    while chunk := stream.read(CHUNK):
        yield chunk


def _json_lines(
    path: Path, chunks: Iterable[bytes], first_line: int, malformed: list[Malformed]
) -> Iterator[tuple[Any, int, bool]]:
    for number, line in enumerate(_lines(chunks), first_line):
        if line is None:
            malformed.append(Malformed(str(path), number, False, f"line longer than {MAX_LINE} bytes"))
        elif line.strip():
            try:
                yield orjson.loads(line), number, False
            except orjson.JSONDecodeError as exc:
                malformed.append(Malformed(str(path), number, False, f"bad JSON: {exc}"))


def _lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """Each line without its newline, or None for one longer than ``limit``, whose bytes are dropped as read."""
    pending = bytearray()
    too_long = False
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            too_long = too_long or len(pending) + end - start > limit
            yield None if too_long else bytes(pending) + chunk[start:end]
            pending.clear()
            too_long = False
            start = end + 1
        if not too_long:
            pending += chunk[start:]
            if len(pending) > limit:
                pending.clear()
                too_long = True
    if too_long:
        yield None
    elif pending:
        yield bytes(pending)


def _array(path: Path, data: bytes, malformed: list[Malformed]) -> Iterator[tuple[Any, int, bool]]:
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _salvage(path, data, malformed)
    return ((item, index, True) for index, item in enumerate(items))


class _Broken(Exception):
    """Where a JSON array stops being one: what follows cannot be told apart into items."""

    def __init__(self, what: str, text: str, pos: int) -> None:
        if pos >= len(text):
            super().__init__("not a valid JSON array: it is cut short")
        else:
            line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
            super().__init__(f"not a valid JSON array: {what.removesuffix(' at')} at line {line} column {column}")


_SPACE = re.compile(r"[ \t\n\r]*")


def _salvage(path: Path, data: bytes, malformed: list[Malformed]) -> Iterator[tuple[Any, int, bool]]:
    """An array orjson refused, item by item: an item orjson cannot parse is reported and skipped; where the
    array itself breaks (cut short, not UTF-8, a missing comma), that is reported and the rest is lost."""
    try:
        text, undecodable = data.decode(), ""
    except UnicodeDecodeError as exc:
        text, undecodable = data[: exc.start].decode(), f"; not UTF-8 from byte {exc.start}"
    decoder = json.JSONDecoder()  # finds where an item ends; orjson decides whether it is valid
    index, pos = 0, _SPACE.match(text, 1).end()  # text[0] is the [
    try:
        if not text.startswith("]", pos):
            while True:
                try:
                    end = decoder.raw_decode(text, pos)[1]
                except json.JSONDecodeError as exc:
                    raise _Broken(exc.msg, text, exc.pos) from None
                except RecursionError:
                    raise _Broken("nested too deep", text, pos) from None
                try:
                    yield orjson.loads(text[pos:end]), index, True
                except orjson.JSONDecodeError as exc:
                    malformed.append(Malformed(str(path), index, True, f"bad JSON: {exc}"))
                index += 1
                pos = _SPACE.match(text, end).end()
                if not text.startswith(",", pos):
                    break
                pos = _SPACE.match(text, pos + 1).end()
        if not text.startswith("]", pos):
            raise _Broken("expected , or ]", text, pos)
        pos = _SPACE.match(text, pos + 1).end()
        if pos < len(text) or undecodable:
            raise _Broken("data after its closing ]", text, pos)
    except _Broken as exc:
        malformed.append(Malformed(str(path), index, True, f"{exc}{undecodable}; the rest of the file is skipped"))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --- CLI glue -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="JSON array or JSON lines of LogEvents; - is stdin"
    )
    parser.add_argument("--tenant", help="tenant name for findings (and the --config tenant to use)")
    parser.add_argument("--output", choices=("jsonl", "table"), default="table", help="a table, or one JSON per line")
    parser.add_argument("--out", type=Path, help="write findings here instead of stdout")
    parser.add_argument("--no-sort", action="store_true", help="replay in file order, not by published")
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
        if _is_named_pipe(path):
            _report(err, "waiting", "cyan", f"for a writer on the named pipe {path}; it is read until closed")

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
            args.files,
            tenant,
            settings,
            sort=not args.no_sort,
            field=args.field,
            context=context,
            progress=on_progress,
            redaction_key=key,
        )
    finally:
        if bar is not None:
            bar.stop()

    for message in result.unreadable:
        _report(err, "error:", "red", message)
    for bad in result.malformed[:MAX_MALFORMED_SHOWN]:
        _report(err, "malformed", "yellow", str(bad))
    if len(result.malformed) > MAX_MALFORMED_SHOWN:
        err.print(f"[yellow]... and {len(result.malformed) - MAX_MALFORMED_SHOWN} more malformed records[/]")
    for bad in result.failed[:MAX_MALFORMED_SHOWN]:
        _report(err, "detection error", "yellow", str(bad))
    if len(result.failed) > MAX_MALFORMED_SHOWN:
        err.print(f"[yellow]... and {len(result.failed) - MAX_MALFORMED_SHOWN} more detection errors[/]")

    try:
        _write_findings(result.findings, args.output, args.out)
    except OSError as exc:
        _report(err, "error:", "red", f"cannot write {args.out}: {exc.strerror or exc}")
        return 2
    err.print(summary_table(result))
    return result.exit_code


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
    table.add_row("detection errors", "", str(len(result.failed)))
    table.add_row("records read", "", str(result.events + len(result.malformed)))
    table.add_row("inputs not read", "", str(len(result.unreadable)))
    return table
