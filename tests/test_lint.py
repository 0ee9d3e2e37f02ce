"""The tree stays ruff-clean and keeps the import directions of docs/architecture.md."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        found[str(path.relative_to(ROOT))] = names
    return found


def test_detections_know_nothing_of_the_daemon_or_io():
    banned = ("detector", "aiohttp", "aiokafka", "faust", "sqlite3", "socket", "requests")
    for path, names in imported_modules("detections").items():
        bad = sorted(n for n in names if n.split(".")[0] in banned)
        assert not bad, f"{path} imports {bad}"


def test_okta_client_knows_nothing_of_detections():
    for path, names in imported_modules("detector/okta").items():
        bad = sorted(n for n in names if n.split(".")[0] == "detections" or (n.startswith("detector.") and
                     not n.startswith("detector.okta")))  # fmt: skip
        assert not bad, f"{path} imports {bad}"
