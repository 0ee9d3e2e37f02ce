"""One SQLite connection on one dedicated thread.

The event loop must never block on fsync, and SQLite wants one writer at a
time; a single-thread executor gives both without locks of our own. Used by the
embedded bus and the action ledger (which share one file in WAL mode). The file
and the -wal and -shm files beside it are 0600 (detector.private_files).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from detector.private_files import create_private, private_dir, tighten_file

T = TypeVar("T")


class SqliteThread:
    def __init__(self, path: Path, schema: str, name: str) -> None:
        self.path = path
        self._schema = schema
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        def connect() -> None:
            private_dir(self.path.parent, tighten=False)
            create_private(self.path)  # SQLite gives its -wal and -shm files this file's mode
            for suffix in ("-wal", "-shm"):
                tighten_file(self.path.with_name(self.path.name + suffix))
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # an action ledger must survive power loss too
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(self._schema)
            self._db = db

        await self.run(connect)

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{self.path} is not open")
        return self._db

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return await self.run(lambda: self.conn.execute(sql, params).fetchall())

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside BEGIN IMMEDIATE … COMMIT: all of it is stored, or none."""

        def run() -> T:
            db = self.conn
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self.run(run)
