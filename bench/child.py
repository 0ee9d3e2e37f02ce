"""The bench's child processes: `python -m bench.<module>`, talking JSON lines over stdin and stdout.

A fresh interpreter per child (not a fork, not `multiprocessing`, which re-imports the launcher's
modules into the child), so what a child measures of itself is its own: its imports, its memory, its CPU.
Children log to stderr; stdout carries only the messages.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

TIMEOUT_S = 300.0
ROOT = Path(__file__).resolve().parent.parent  # where `-m bench.…` resolves, wherever the bench was started


def emit(tag: str, value: Any = None) -> None:
    """In a child: one message to the bench."""
    sys.stdout.buffer.write(orjson.dumps([tag, value]) + b"\n")
    sys.stdout.buffer.flush()


class Child:
    """In the bench: a child process started with ``python -m module args...``."""

    def __init__(self, module: str, *args: str) -> None:
        self.name = module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, name=f"{module}-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # end of file: the child exited

    @property
    def pid(self) -> int:
        return self.proc.pid

    def receive(self, expect: str, timeout_s: float = TIMEOUT_S) -> Any:
        """The next message, which must be ``expect``; fails (rather than hangs) if the child died."""
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise RuntimeError(f"{self.name} sent no {expect!r} in {timeout_s:g} s") from None
        if not line:
            raise RuntimeError(f"{self.name} exited before {expect!r} (exit code {self.proc.wait()})")
        tag, value = orjson.loads(line)
        if tag != expect:
            raise RuntimeError(f"{self.name} sent {tag!r}, expected {expect!r}")
        return value

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def join(self, timeout_s: float = 60.0) -> None:
        if self.proc.wait(timeout=timeout_s) != 0:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")

    def kill(self) -> None:
        """Stop a child the bench gave up on (after an error); a child that has exited is left alone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
