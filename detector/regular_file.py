"""Read a small file someone else may have put there: only a regular file, and only up to a bound.

A FIFO blocks ``open`` until a writer comes, ``/dev/zero`` never ends and a directory is no file, so each
is refused before it is read; O_NONBLOCK keeps a FIFO swapped in after the check from hanging the open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """The file cannot be used; the message says why (never its content)."""


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise FileRefused("not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FileRefused(exc.strerror or str(exc)) from None
    except ValueError:  # an embedded NUL byte
        raise FileRefused("not a valid path") from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused("not a regular file")
        try:
            data = file.read(max_bytes + 1)
        except OSError as exc:
            raise FileRefused(exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise FileRefused(f"larger than {_size(max_bytes)}")
    return data


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
