"""The tree stays ruff-clean and keeps the import directions of docs/architecture.md."""

from __future__ import annotations

import ast
import re
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


# The repository is self-contained: no tracked file may send a reader (or a test) to research notes kept
# outside it. The names are assembled here so that this file does not match itself.
_OUTSIDE = (
    "../" + "shared",
    *(name + ".md" for name in ("DESIGN", "DETECTIONS", "KAFKA", "PEERS")),
    "okta-" + "reference",
    "detections-" + "data",
)


def tracked_text_files() -> list[Path]:
    """``git ls-files`` (the tree minus caches and the venv when there is no git checkout), text files only."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        paths = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".cache", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
        paths = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    files = []
    for path in paths:
        data = path.read_bytes() if path.is_file() else b"\0"
        if b"\0" not in data[:8192]:
            files.append(path)
    return files


def test_no_tracked_file_points_outside_the_repository():
    hits = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            hits += [f"{path.relative_to(ROOT)}:{number}: {name}" for name in _OUTSIDE if name in line]
    assert not hits, "references to files outside the repository:\n" + "\n".join(hits[:50])


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return out


def test_links_to_docs_resolve():
    """``docs/<page>.md#<anchor>`` in code and comments, and relative links in Markdown, name a file and heading that
    exist (so renaming a heading in docs/ cannot silently orphan the comments that point at it)."""
    broken = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        targets = [(ROOT, m) for m in re.findall(r"(?<![\w/.])docs/[\w.-]+\.md(?:#[\w-]+)?", text)]
        if path.suffix == ".md":
            links = re.findall(r"\]\(([^)\s]+)\)", text)
            targets += [(path.parent, m) for m in links if not re.match(r"[a-z]+:", m) and not m.startswith("#")]
            targets += [(path, m) for m in links if m.startswith("#")]
        for base, target in targets:
            file_part, _, anchor = target.partition("#")
            file = (base / file_part).resolve() if file_part else base
            if not file.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
