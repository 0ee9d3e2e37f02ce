"""Data files are created 0600 and directories 0700 even under a permissive umask; looser ones are tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from detector.config import KafkaSettings, parse_config
from detector.demo import _fresh, enforcer_key
from detector.kafka_roles import worker_app
from detector.ops.metrics import Metrics
from detector.private_files import private_dir
from detector.respond.alerts import JsonlSink
from detector.respond.ledger import SqliteLedger
from detector.stream.bus import Cursor, EventRecord
from detector.stream.embedded import EmbeddedBus


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: without explicit modes, everything below would be world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def config(data_dir: Path):
    read = {"kind": "ssws", "token": {"env": "UNUSED"}}
    return parse_config(
        {"data_dir": str(data_dir), "tenants": [{"name": "acme", "org_url": "https://a.okta.com", "read": read}]}
    )


async def test_sqlite_files_and_the_directories_made_for_them_are_private(tmp_path: Path):
    db = tmp_path / "new" / "data" / "itdr.sqlite"
    async with EmbeddedBus(db) as bus:
        record = EventRecord.from_raw("acme", {"uuid": "u1"}, b'{"uuid":"u1"}')
        await bus.commit_page("acme", [record], Cursor("https://a.okta.com/api/v1/logs?after=1", None))
        ledger = await SqliteLedger(tmp_path / "new" / "ledger.sqlite").open()
        try:
            files = [
                db,
                db.with_name("itdr.sqlite-wal"),
                db.with_name("itdr.sqlite-shm"),
                tmp_path / "new" / "ledger.sqlite",
            ]
            assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
        finally:
            await ledger.close()
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "data") == 0o700


async def test_loose_sqlite_files_left_by_an_older_run_are_tightened_with_a_log_line(tmp_path: Path):
    db = tmp_path / "itdr.sqlite"
    async with EmbeddedBus(db):
        pass
    loose = [db, db.with_name("itdr.sqlite-wal"), db.with_name("itdr.sqlite-shm")]
    for path in loose:
        path.touch()
        path.chmod(0o644)
    with capture_logs() as logs:
        async with EmbeddedBus(db) as bus:
            assert await bus.count("okta.events") == 0
            assert [mode(p) for p in loose] == [0o600, 0o600, 0o600]
    tightened = [x for x in logs if x["event"] == "file.permissions_tightened"]
    assert sorted(x["path"] for x in tightened) == sorted(map(str, loose))
    assert {(x["was"], x["now"]) for x in tightened} == {("0o644", "0o600")}


def test_findings_file_is_created_private_and_a_loose_one_tightened(tmp_path: Path):
    sink = JsonlSink(tmp_path / "out" / "findings.jsonl")
    sink.write([(1, {"detection": "x"})])
    assert mode(sink.path) == 0o600 and mode(sink.path.parent) == 0o700
    sink.path.chmod(0o666)
    assert sink.last_seq() == 1 and mode(sink.path) == 0o600


def test_the_data_dir_is_tightened_but_a_shared_parent_of_a_file_is_not(tmp_path: Path):
    shared, data = tmp_path / "shared", tmp_path / "data"
    shared.mkdir(mode=0o755)
    data.mkdir(mode=0o755)
    private_dir(shared, tighten=False)
    JsonlSink(shared / "findings.jsonl").write([(1, {})])  # findings_jsonl: /var/log/findings.jsonl
    assert mode(shared) == 0o755 and mode(shared / "findings.jsonl") == 0o600
    assert mode(private_dir(data)) == 0o700


def test_faust_and_demo_directories_and_the_demo_key_are_private(tmp_path: Path):
    worker_app(config(tmp_path / "kafka"), KafkaSettings(bootstrap="127.0.0.1:1"), Metrics())
    assert mode(tmp_path / "kafka") == mode(tmp_path / "kafka" / "faust") == 0o700
    demo = tmp_path / "var" / "demo"
    _fresh(demo)
    key, _ = enforcer_key(demo)
    assert mode(tmp_path / "var") == mode(demo) == 0o700 and mode(key) == 0o600
