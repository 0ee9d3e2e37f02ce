"""The daemon's data is readable by its own user only: directories 0700, files 0600.

Why: the data directory holds the System Log (logins, IPs, sessions), findings,
the action ledger and the redaction key. The mode is given at creation
(``os.open`` / ``mkdir`` with a mode, never the process umask, which library code
must not change), and an existing file or directory left looser by an older
version or another tool is tightened where it is opened, with a log line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and any missing parents 0700; tighten ``path`` itself when it is looser.

    ``tighten=False`` for the parent of a file whose location is configurable: it may be a shared
    directory that is not ours to change (``/var/log``)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=DIR_MODE)
    if tighten and not missing:
        _tighten(path, os.stat(path).st_mode, DIR_MODE, lambda mode: os.chmod(path, mode))
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` creating the file 0600; an existing file with a looser mode is tightened first."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        _tighten(path, os.fstat(fd).st_mode, FILE_MODE, lambda mode: os.fchmod(fd, mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 if it is missing, else tighten it, never opening an existing file.

    Why: closing any descriptor of a file drops every POSIX lock this process holds on it, and SQLite's
    connections rely on those locks (another connection in this process would lose them, and a reader in
    another process could then checkpoint and delete the WAL under it: a corrupt database)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten_file(path)


def tighten_file(path: Path) -> None:
    """Tighten ``path`` to 0600 if it exists (e.g. the -wal / -shm files an earlier SQLite run left)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    _tighten(path, mode, FILE_MODE, lambda new: os.chmod(path, new))


def _tighten(path: Path, mode: int, allowed: int, chmod: Callable[[int], None]) -> None:
    current = stat.S_IMODE(mode)
    if current & ~allowed:
        new = current & allowed
        chmod(new)
        log.warning("file.permissions_tightened", path=str(path), was=oct(current), now=oct(new))
