"""Where replayed findings go: each once, at its latest revision, written as they are settled.

An attack that keeps growing is one finding revised under its dedup key (``revision`` 1, 2, ...), and
``detector replay`` writes the latest revision of each, in the order the findings were first raised. That
needs the open findings held until the input ends, so they are held in a bounded map: when it is full, the
oldest finding is written out to make room, and if that one is revised later, its new revision is written
again (same ``dedup_key``, higher ``revision``: a reader keeping the highest per key reads it right). Memory
is bounded by ``MAX_OPEN`` findings whatever the input, and below it the output is exactly the latest
revisions.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console

from detections.finding import Finding

MAX_OPEN = 10_000  # findings held for a later revision (a few KiB each)
FORMATS = ("table", "jsonl", "json")


class LatestRevisions:
    """Keeps the latest revision per dedup key; hands each to ``emit`` when evicted or at ``close``."""

    def __init__(self, emit: Callable[[Finding], None], max_open: int | None = None) -> None:
        self._emit = emit
        self._max_open = max_open or MAX_OPEN
        self._open: dict[str, Finding] = {}  # insertion order: the order findings were first raised
        self.early = 0  # findings written before the end because the map was full
        self.counts: Counter[tuple[str, str]] = Counter()  # (detection, tier) of what was written

    def add(self, finding: Finding) -> None:
        held = self._open.get(finding.dedup_key)
        if held is not None:
            if finding.revision >= held.revision:
                self._open[finding.dedup_key] = finding  # keeps its place in the order
            return
        if len(self._open) >= self._max_open:
            self.early += 1
            self._write(self._open.pop(next(iter(self._open))))
        self._open[finding.dedup_key] = finding

    def close(self) -> None:
        for finding in self._open.values():
            self._write(finding)
        self._open.clear()

    def _write(self, finding: Finding) -> None:
        self.counts[(finding.detection, finding.assessment.tier.value)] += 1
        self._emit(finding)


class FindingsWriter:
    """One output format on stdout or a file: a table line, a JSON line, or an item of one JSON array."""

    def __init__(self, output: str, out: Path | None) -> None:
        if output not in FORMATS:
            raise ValueError(f"unknown output {output!r}")
        self._output = output
        self._file: IO[Any] | None = None
        self._items = 0
        if output == "table":
            if out is None:
                self._console = Console(highlight=False, soft_wrap=True)
            else:
                self._file = out.open("w")
                self._console = Console(file=self._file, highlight=False, soft_wrap=True, no_color=True)
        else:
            self._file = out.open("wb") if out is not None else None
            self._binary = self._file if self._file is not None else sys.stdout.buffer

    def write(self, finding: Finding) -> None:
        record = finding.to_dict()
        if self._output == "table":
            from detector.respond.alerts import format_finding

            self._console.print(format_finding(record))
        elif self._output == "jsonl":
            self._binary.write(orjson.dumps(record) + b"\n")
        else:
            self._binary.write((b"[\n" if self._items == 0 else b",\n") + orjson.dumps(record))
        self._items += 1

    def close(self) -> None:
        if self._output == "json":
            self._binary.write(b"[]\n" if self._items == 0 else b"\n]\n")
        if self._output != "table":
            self._binary.flush()
        if self._file is not None:
            self._file.close()
