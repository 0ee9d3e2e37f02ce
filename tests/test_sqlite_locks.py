"""Opening one more connection on the shared database file must not drop the locks of those already open.

Closing any descriptor of a file releases every POSIX lock the process holds on it. The bus, the ledger, the
outbox and the allowlist share one SQLite file; if opening the second one closed a descriptor of that file, the
first would lose its locks, and a reader in another process (`detector status`, an operator's sqlite3) would
believe it is the last connection on closing, checkpoint and delete the WAL under the daemon: a corrupt database.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from detector.sqlite import SqliteThread

SCHEMA = "CREATE TABLE IF NOT EXISTS t (x INTEGER);"
READER = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('SELECT count(*) FROM t'); db.close()"


async def test_a_reader_in_another_process_does_not_delete_the_wal_of_open_connections(tmp_path: Path):
    path = tmp_path / "itdr.sqlite"
    first, second = SqliteThread(path, SCHEMA, "first"), SqliteThread(path, SCHEMA, "second")
    await first.open()
    await first.transaction(lambda db: db.execute("INSERT INTO t VALUES (1)"))
    await second.open()  # the same file: must leave the first connection's locks alone
    try:
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        reader = await asyncio.create_subprocess_exec(sys.executable, "-c", READER, str(path))
        assert await reader.wait() == 0
        assert wal.exists(), "the reader took itself for the last connection and removed the WAL"
        await first.transaction(lambda db: db.execute("INSERT INTO t VALUES (2)"))
        assert await second.query("SELECT x FROM t ORDER BY x") == [(1,), (2,)]
    finally:
        await second.close()
        await first.close()
