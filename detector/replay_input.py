"""The records of one exported System Log file, read as a stream with bounded memory.

A JSON array as ``/api/v1/logs`` returns it, or JSON lines of LogEvents; the format is told by the first
non-space byte. Neither is ever held whole: lines are split from 64 KiB chunks (one longer than
``MAX_LINE`` is a bad record, dropped as it is read), and an array is walked item by item over a sliding
window of its text. The stdlib decoder finds where an item ends (it tells a cut-off buffer from a broken
array and gives the line and column of a break) and orjson decides whether the item is valid, so a bad item
is skipped alone, and where the array itself breaks the items before the break are kept. (ijson was
measured for this: it stops at the first bad item, so it cannot salvage, and it was slower, 122 against
151 MB/s on a pretty-printed export.) Each record carries its text as read, so a caller can hold it
compactly instead of the decoded object.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import Any

import orjson

MAX_LINE = 1 << 20  # a longer JSON line is a bad record, dropped as it is read (/dev/zero as stdin has no end)
MAX_ITEM = 1 << 24  # characters of one array item: a longer one breaks the array (no event is near this)
CHUNK = 1 << 16
STDIN = Path("-")
STDIN_FD = 0  # not sys.stdin.fileno(): sys.stdin is None when the descriptor was closed at exec


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
class Record:
    raw: Any  # the decoded record (the LogEvent, once unwrapped from --field)
    text: bytes | str | None  # the JSON text of ``raw`` as read; None when unwrapped from a field
    position: int
    is_index: bool


Report = Callable[[Malformed], None]


class ByteCount:
    """Bytes read so far over all inputs: what the progress bar measures against the inputs' sizes."""

    def __init__(self) -> None:
        self.done = 0


def records(path: Path, field: str | None, report: Report, counted: ByteCount | None = None) -> Iterator[Record]:
    """Each record of ``path`` in file order; bad ones go to ``report``. Raises ReplayError if unreadable."""
    counted = counted or ByteCount()
    try:
        with _open(path) as stream:
            chunks = _chunks(stream, counted)
            head, blank_lines = _head(chunks)
            if head[:1] == b"[":
                rows = _array(str(path), head, chunks, report)
            else:
                rows = _json_lines(str(path), _prepend(head, chunks), blank_lines + 1, report)
            for row in rows:
                if field is None:
                    yield row
                elif not isinstance(row.raw, dict):
                    report(Malformed(str(path), row.position, row.is_index, f"a {_kind(row.raw)}, not an object"))
                elif not isinstance(row.raw.get(field), dict):
                    report(Malformed(str(path), row.position, row.is_index, f"no object in field {field!r}"))
                else:
                    yield Record(row.raw[field], None, row.position, row.is_index)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None


def size_of(path: Path) -> int | None:
    """The bytes a regular file holds; None for a stream (stdin, a pipe) or what cannot be read."""
    try:
        mode = os.fstat(STDIN_FD) if path == STDIN else path.stat()
    except OSError:
        return None
    return mode.st_size if stat.S_ISREG(mode.st_mode) and path != STDIN else None


def _open(path: Path) -> BufferedReader:
    """The input as a binary stream. Devices and directories are refused before they are opened: reading
    /dev/zero or a terminal never ends, and opening some devices has side effects."""
    mode = os.fstat(STDIN_FD).st_mode if path == STDIN else path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise ReplayError(f"{path}: is {_file_kind(mode)}, not a file or a pipe; not read")
    return open(STDIN_FD, "rb", closefd=False) if path == STDIN else path.open("rb")


def is_named_pipe(path: Path) -> bool:
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


def _chunks(stream: BufferedReader, counted: ByteCount) -> Iterator[bytes]:
    """What the input has, up to CHUNK at a time: a pipe's data as it comes (read1), not once CHUNK is full."""
    while chunk := stream.read1(CHUNK):
        counted.done += len(chunk)
        yield chunk


def _prepend(head: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from chunks


def _head(chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """The input from its first non-space byte (a UTF-8 BOM dropped), and how many lines came before it."""
    blank_lines = 0
    chunk = next(chunks, b"").removeprefix(b"\xef\xbb\xbf")
    while chunk:
        head = chunk.lstrip()
        if head:
            return head, blank_lines + chunk.count(b"\n", 0, len(chunk) - len(head))
        blank_lines += chunk.count(b"\n")
        chunk = next(chunks, b"")
    return b"", blank_lines


def _json_lines(path: str, chunks: Iterable[bytes], first_line: int, report: Report) -> Iterator[Record]:
    for number, line in enumerate(lines(chunks), first_line):
        if line is None:
            report(Malformed(path, number, False, f"line longer than {MAX_LINE} bytes"))
        elif line.strip():
            try:
                yield Record(orjson.loads(line), line, number, False)
            except orjson.JSONDecodeError as exc:
                report(Malformed(path, number, False, f"bad JSON: {exc}"))


def lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[bytes | None]:
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


class _Broken(Exception):
    """Where a JSON array stops being one: what follows cannot be told apart into items."""


_SPACE = re.compile(r"[ \t\n\r]*")


class _Text:
    """A sliding window over the input decoded as UTF-8: ``text[pos:]`` is what is not consumed yet.

    Consumed text is dropped before more is read, keeping the line and column it ended at, so a break is
    located in the whole input (as if it had been read at once) while only about one item is held."""

    def __init__(self, head: bytes, chunks: Iterator[bytes]) -> None:
        self._chunks = _prepend(head, chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._fed = 0  # bytes given to the decoder so far
        self.text, self.pos, self.eof = "", 0, False
        self.undecodable = ""  # why the text stops before the input does
        self._lines, self._column = 0, 0  # newlines before text[0], characters since the last of them

    def more(self, at_least: int = 1) -> bool:
        """Read at least ``at_least`` more bytes (fewer at the end); False when there is nothing more."""
        if self.eof:
            return False
        dropped = self.text[: self.pos]
        newlines = dropped.count("\n")
        self._lines += newlines
        self._column = len(dropped) - dropped.rfind("\n") - 1 if newlines else self._column + len(dropped)
        parts, read = [self.text[self.pos :]], 0
        while read < at_least and not self.eof:
            chunk = next(self._chunks, None)
            parts.append(self._decode(chunk or b"", final=chunk is None))
            read += len(chunk or b"")
            self.eof = self.eof or chunk is None
        self.text, self.pos = "".join(parts), 0
        return True

    def _decode(self, chunk: bytes, final: bool) -> str:
        pending = self._decoder.getstate()[0]
        self._fed += len(chunk)
        try:
            return self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            self.eof = True
            self.undecodable = f"; not UTF-8 from byte {self._fed - len(chunk) - len(pending) + exc.start}"
            return (pending + chunk)[: exc.start].decode()

    def skip_space(self) -> None:
        """Move past spaces; then text[pos] is the next character, or pos is at the end of the input."""
        while (end := _SPACE.match(self.text, self.pos).end()) == len(self.text) and not self.eof:
            self.pos = end
            self.more()
        self.pos = end

    def at(self, char: str) -> bool:
        return self.text.startswith(char, self.pos)

    def item_end(self, decoder: json.JSONDecoder) -> int:
        """Where the item at ``pos`` ends, reading more while the window cuts it off."""
        while True:
            try:
                end = decoder.raw_decode(self.text, self.pos)[1]
                if end < len(self.text) or self.eof:  # a number at the window's end may go on
                    return end
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.broken(exc.msg, exc.pos) from None
            except RecursionError:
                raise self.broken("nested too deep", self.pos) from None
            if len(self.text) - self.pos > MAX_ITEM:
                raise self.broken(f"an item longer than {MAX_ITEM} characters", self.pos)
            self.more(max(CHUNK, len(self.text) - self.pos))  # doubling: each item is decoded a few times at most

    def broken(self, what: str, pos: int) -> _Broken:
        if pos >= len(self.text):
            return _Broken("not a valid JSON array: it is cut short")
        newline = self.text.rfind("\n", 0, pos)
        line = self._lines + self.text.count("\n", 0, pos) + 1
        column = pos - newline if newline >= 0 else self._column + pos + 1
        return _Broken(f"not a valid JSON array: {what.removesuffix(' at')} at line {line} column {column}")


def _array(path: str, head: bytes, chunks: Iterator[bytes], report: Report) -> Iterator[Record]:
    """The items of an array, one at a time: an item orjson cannot parse is reported and skipped; where the
    array itself breaks (cut short, not UTF-8, a missing comma), that is reported and the rest is lost."""
    text, decoder, index = _Text(head, chunks), json.JSONDecoder(), 0
    text.more()
    text.pos = 1  # text.text[0] is the [
    try:
        text.skip_space()
        if not text.at("]"):
            while True:
                end = text.item_end(decoder)
                item = text.text[text.pos : end]
                try:
                    yield Record(orjson.loads(item), item, index, True)
                except orjson.JSONDecodeError as exc:
                    report(Malformed(path, index, True, f"bad JSON: {exc}"))
                index += 1
                text.pos = end
                text.skip_space()
                if not text.at(","):
                    break
                text.pos += 1
                text.skip_space()
        if not text.at("]"):
            raise text.broken("expected , or ]", text.pos)
        text.pos += 1
        text.skip_space()
        if text.pos < len(text.text) or text.undecodable:
            raise text.broken("data after its closing ]", text.pos)
    except _Broken as exc:
        report(Malformed(path, index, True, f"{exc}{text.undecodable}; the rest of the file is skipped"))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
