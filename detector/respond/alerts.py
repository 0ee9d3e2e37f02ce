"""Where findings go first: a readable console line and a JSON-lines file.

The file is written at-least-once by a consumer that commits its offset after
the write; each line carries the finding's bus offset (``seq``), so after a
crash the writer skips what the file already holds instead of writing it twice.
The file is 0600: findings name users, IPs and sessions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from rich.text import Text

from detector.private_files import open_private, private_dir
from detector.respond.escaping import terminal_text

_TIER_STYLE = {"low": "dim", "medium": "yellow", "high": "bold red", "high-confidence": "bold white on red"}


def format_finding(finding: Mapping[str, Any]) -> Text:
    """One line a SOC analyst can read at a glance.

    Built from plain pieces, never markup: the login and summary come from the event, so they must not
    style, link, or break the line (``terminal_text`` shows their control characters as escapes).
    """
    t = terminal_text
    actions = ", ".join(finding["actions"]) or "none"
    return Text.assemble(
        (f"{t(finding['tier'].upper()):>15}", _TIER_STYLE.get(finding["tier"], "")),
        f" {finding['confidence']:>3}  ",
        (t(finding["title"]), "bold"),
        f"  tenant={t(finding['tenant'])} user={t(finding.get('principal_login') or finding['principal'])}  ",
        t(finding["summary"]),
        f"  eligible actions: {t(actions)}",
    )


def format_evidence(finding: Mapping[str, Any]) -> list[Text]:
    """The score's reasons, one line each; labels quote event data, so they are plain text too."""
    lines = [Text(f"    +{e['points']:<3} {terminal_text(e['label'])}") for e in finding["evidence"]]
    lines += [Text(f"    {d['points']:<4} {terminal_text(d['label'])}") for d in finding.get("dampeners", ())]
    return lines


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self.path = path

    def last_seq(self) -> int:
        """The offset of the last finding already in the file (0 if none)."""
        if not self.path.exists():
            return 0
        with os.fdopen(open_private(self.path, os.O_RDONLY), "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            tail = f.read().splitlines()
        for line in reversed(tail):
            try:
                return int(orjson.loads(line)["seq"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a torn last line from a crash mid-write
        return 0

    def write(self, items: list[tuple[int, Mapping[str, Any]]]) -> None:
        if not items:
            return
        private_dir(self.path.parent, tighten=False)  # findings_jsonl may be put in a shared directory
        with os.fdopen(open_private(self.path, os.O_WRONLY | os.O_APPEND), "ab") as f:
            for seq, finding in items:
                f.write(orjson.dumps({"seq": seq, **finding}) + b"\n")
            f.flush()
            os.fsync(f.fileno())
