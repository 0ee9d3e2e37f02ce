"""One daemon per data directory.

Two embedded daemons on one ``data_dir`` would both tail the same tenants into one SQLite file, and
both act on the same findings (each with its own circuit breaker). An advisory lock held for the life
of the process refuses the second one with a clear message; the kernel drops it when the holder dies,
kill -9 included, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from detector.private_files import open_private, private_dir


class DataDirInUse(RuntimeError):
    """Another process holds the data directory."""


class DataDirLock:
    def __init__(self, data_dir: Path, role: str = "daemon") -> None:
        self.path = data_dir / f".{role}.lock"
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        private_dir(self.path.parent)
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataDirInUse(
                f"data_dir {self.path.parent} is in use by another detector (pid {holder}):"
                " stop it, or give this one its own data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
