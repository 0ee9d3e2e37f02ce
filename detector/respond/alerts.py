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

from detector.private_files import open_private, private_dir

_TIER_STYLE = {"low": "dim", "medium": "yellow", "high": "bold red", "high-confidence": "bold white on red"}


def format_finding(finding: Mapping[str, Any]) -> str:
    """One line a SOC analyst can read at a glance (rich markup)."""
    style = _TIER_STYLE.get(finding["tier"], "")
    actions = ", ".join(finding["actions"]) or "none"
    return (
        f"[{style}]{finding['tier'].upper():>15}[/] {finding['confidence']:>3}  "
        f"[bold]{finding['title']}[/]  tenant={finding['tenant']} "
        f"user={finding.get('principal_login') or finding['principal']}  {finding['summary']}  "
        f"eligible actions: {actions}"
    )


def format_evidence(finding: Mapping[str, Any]) -> list[str]:
    lines = [f"    +{e['points']:<3} {e['label']}" for e in finding["evidence"]]
    lines += [f"    {d['points']:<4} {d['label']}" for d in finding.get("dampeners", ())]
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
