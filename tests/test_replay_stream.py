"""`detector replay` as a stream: the bounded reorder window, late events, arrays read item by item, findings
settled at their latest revision, and the same findings as replaying each file whole."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import random
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detections.engine import TenantContext
from detections.event import MalformedEvent, parse_event
from detections.finding import latest_revisions
from detections.redaction import Redactor
from detections.registry import build_engine
from detections.testkit import failed_sign_in, push_bombing, sign_in
from detector import replay_input
from detector.cli import main
from detector.replay import WindowLimits, replay
from detector.replay_order import ReorderWindow
from detector.replay_output import LatestRevisions
from detector.sim.population import Population
from detector.sim.traffic import TrafficConfig, TrafficGenerator
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
KEY = b"k" * 32
SAMPLES = DATA / "okta-samples"


def whole_file(raws: list, tenant: str, field: str | None = None) -> list[dict]:
    """What replay did before it streamed: every record read, redacted after learning from all, sorted by
    published, one engine, the latest revision of each finding."""
    redactor = Redactor(KEY)
    records = [r[field] for r in raws if isinstance(r, dict) and isinstance(r.get(field), dict)] if field else raws
    redactor.learn(records)
    events = []
    for raw in records:
        with contextlib.suppress(MalformedEvent):
            events.append(parse_event(redactor.redact(raw), tenant))
    events.sort(key=lambda e: e.time)
    engine, states, findings = build_engine(None, TenantContext(tenant)), {}, []
    for event in events:
        findings += engine.run(event, states).findings
    return [f.to_dict() for f in latest_revisions(findings)]


def read_raws(path: Path) -> list:
    text = path.read_text()
    return json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x]


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl")))
def test_streamed_findings_equal_the_whole_file_replay_on_the_samples(name):
    path = SAMPLES / name
    field = None if name.startswith("elastic_") else "event"
    expected = whole_file(read_raws(path), "samples", field)
    everything = WindowLimits(max_seconds=1e12, max_events=10**6)  # these are test vectors of many dates
    result = replay([path], "samples", field=field, redaction_key=KEY, window=everything)
    assert result.late == 0 and [f.to_dict() for f in result.findings] == expected


def traffic(n: int = 3000) -> list[dict]:
    """Background traffic from the simulator with a push-bombing attack and a password spray in it."""
    start = datetime.fromtimestamp(T0 - 600, UTC)  # 3000 events at 5/s: T0 - 600 .. T0, the attacks among them
    pop = Population.build(random.Random(3), 300)
    raws = TrafficGenerator(pop, random.Random(4), TrafficConfig(rate=5.0)).generate(n, start)
    raws += push_bombing(T0 - 400, 6, accept=True)
    raws += [failed_sign_in(T0 - 300 + i, f"user{i}@acme.com", ip="203.0.113.9") for i in range(40)]
    return sorted(raws, key=lambda r: r["published"])


def displaced(raws: list[dict], by: int, seed: int = 5) -> list[dict]:
    """Each record moved up to ``by`` places from where it was (Okta's storage order, exaggerated)."""
    rng = random.Random(seed)
    keyed = sorted(enumerate(raws), key=lambda kv: kv[0] + rng.uniform(0, by))
    return [raw for _, raw in keyed]


def write_jsonl(path: Path, raws: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in raws))
    return path


def test_a_shuffled_export_gives_the_whole_file_findings_with_the_window_in_its_bound(tmp_path):
    raws = traffic()
    shuffled = displaced(raws, 40)
    assert shuffled != raws
    expected = whole_file(shuffled, "acme")  # ties keep file order in both
    assert {f["detection"] for f in expected} >= {"mfa_push_bombing", "mfa_push_accepted", "password_spray"}
    path = write_jsonl(tmp_path / "shuffled.jsonl", shuffled)
    for limits in (WindowLimits(), WindowLimits(max_seconds=600.0, max_events=60)):
        result = replay([path], "acme", redaction_key=KEY, window=limits)
        assert result.late == 0 and result.events == len(raws)
        assert 40 <= result.held_at_most <= limits.max_events
        assert [f.to_dict() for f in result.findings] == expected


@pytest.mark.parametrize("limits", [WindowLimits(1e9, 25), WindowLimits(30.0, 10**9), WindowLimits(0.0, 10**9)])
def test_the_reorder_window_never_holds_more_than_its_bound(limits):
    rng = random.Random(11)
    times = [i + rng.uniform(-50, 50) for i in range(5000)]  # 1 event/s, each up to 50 s off
    window: ReorderWindow[int] = ReorderWindow(limits)
    out: list[int] = []
    for i, t in enumerate(times):
        out += window.push(t, i)
        assert len(window) <= limits.max_events
    out += window.drain()
    assert sorted(out) == list(range(len(times)))  # every event once
    out_of_order = sum(1 for a, b in itertools.pairwise(out) if times[b] < times[a])
    assert window.late >= 1 and out_of_order <= window.late  # only the late ones are out of order
    assert window.peak <= min(limits.max_events, limits.max_seconds + 101)  # 1 event/s, ±50 s: the span's events


def test_a_window_wide_enough_puts_everything_in_order():
    rng = random.Random(12)
    times = [i + rng.uniform(-50, 50) for i in range(2000)]
    window: ReorderWindow[float] = ReorderWindow(WindowLimits(max_seconds=101.0, max_events=10**6))
    out = [x for t in times for x in window.push(t, t)] + list(window.drain())
    assert out == sorted(times) and window.late == 0 and window.peak < 200


def test_an_event_later_than_the_window_is_replayed_and_counted_late(tmp_path, capsys):
    early = sign_in(T0 - 7200, ip="73.1.2.3", uuid="the-late-one")
    raws = [*push_bombing(T0, 6, accept=True), sign_in(T0 + 3600, ip="73.1.2.3"), early]  # 3 h behind, at the end
    path = write_jsonl(tmp_path / "late.jsonl", raws)
    result = replay([path], "acme")
    assert result.late == 1 and result.events == len(raws) and result.exit_code == 0
    assert {f.detection for f in result.findings} == {"mfa_push_bombing", "mfa_push_accepted"}
    assert main(["replay", str(path), "--output", "jsonl", "--reorder-seconds", "86400", "--tenant", "acme"]) == 0
    err = capsys.readouterr().err
    assert summary_row(err, "late (behind the reorder window)") == 0  # a day's window holds it
    assert main(["replay", str(path), "--output", "jsonl", "--tenant", "acme"]) == 0
    assert summary_row(capsys.readouterr().err, "late (behind the reorder window)") == 1


def summary_row(err: str, label: str) -> int:
    (value,) = re.findall(re.escape(label) + r"\s*│\s*│\s*(\d+)", err)
    return int(value)


@pytest.mark.timeout(30)
def test_an_array_is_read_item_by_item_from_a_pipe(tmp_path):
    """The writer sends the first item and waits until the reader has it: a reader wanting the whole array
    would wait for the end of the input, which only comes after."""
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    raws = push_bombing(T0, 6, accept=True)
    first_seen = threading.Event()
    waited: list[bool] = []

    def write() -> None:
        with fifo.open("w") as w:
            w.write("[\n  " + json.dumps(raws[0]) + ",\n")
            w.flush()
            waited.append(first_seen.wait(10))
            w.write(",\n".join(json.dumps(r) for r in raws[1:]) + "\n]\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got = []
    for record in replay_input.records(fifo, None, lambda bad: pytest.fail(str(bad))):
        got.append(record.raw)
        first_seen.set()
    writer.join(5)
    assert waited == [True] and got == raws


def test_a_large_array_is_held_one_window_at_a_time(monkeypatch):
    item = json.dumps(sign_in(T0, uuid="x" * 4000))  # ~5 KiB each, 20 MiB in all
    body = b",".join([item.encode()] * 64)
    chunks = ((b"[" if i == 0 else b"") + body + (b"," if i < 63 else b"]") for i in range(64))
    held: list[int] = []
    more = replay_input._Text.more

    def spy(self, at_least=1):
        result = more(self, at_least)
        held.append(len(self.text))
        return result

    monkeypatch.setattr(replay_input._Text, "more", spy)
    first = next(chunks)
    rows = list(replay_input._array("big.json", first, chunks, lambda bad: pytest.fail(str(bad))))
    assert len(rows) == 64 * 64 and max(held) < 2 * 64 * len(item)  # about one chunk of input, never the array


def test_output_json_is_one_valid_array(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [sign_in(T0 - 3600, ip="73.1.2.3"), *push_bombing(T0, 6, accept=True)])
    out_json, out_jsonl = tmp_path / "f.json", tmp_path / "f.jsonl"
    assert main(["replay", str(path), "--output", "json", "--out", str(out_json), "--tenant", "acme"]) == 0
    assert main(["replay", str(path), "--output", "jsonl", "--out", str(out_jsonl), "--tenant", "acme"]) == 0
    findings = json.loads(out_json.read_text())
    assert isinstance(findings, list) and len(findings) == 2
    assert findings == [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    quiet = write_jsonl(tmp_path / "quiet.jsonl", [sign_in(T0)])
    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", str(quiet), "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_open_findings_are_bounded_and_the_latest_revision_wins():
    result = replay([], "acme")
    assert result.findings == []
    base = replay_findings()
    emitted: list = []
    latest = LatestRevisions(emitted.append, max_open=2)
    a0, b0, c0 = (dataclasses.replace(base, dedup_key=k) for k in "abc")
    latest.add(a0)
    latest.add(dataclasses.replace(a0, revision=2))
    latest.add(dataclasses.replace(a0, revision=1))  # an older revision arriving late changes nothing
    latest.add(b0)
    assert emitted == []
    latest.add(c0)  # full: the oldest open one is written out
    assert [(f.dedup_key, f.revision) for f in emitted] == [("a", 2)] and latest.early == 1
    latest.add(dataclasses.replace(a0, revision=3))  # revised after it was written: written again
    latest.close()
    assert [(f.dedup_key, f.revision) for f in emitted] == [("a", 2), ("b", 0), ("c", 0), ("a", 3)]
    assert sum(latest.counts.values()) == 4


def replay_findings():
    raws = [sign_in(T0 - 3600, ip="73.1.2.3"), *push_bombing(T0, 6, accept=True)]
    engine = build_engine(None, TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {})[0]


def test_the_state_store_is_the_callers(tmp_path):
    class Store(dict):
        writes = 0

        def __setitem__(self, key, value):
            Store.writes += 1
            super().__setitem__(key, value)

    store = Store()
    path = write_jsonl(tmp_path / "a.jsonl", push_bombing(T0, 6, accept=True))
    assert replay([path], "acme", states=store).findings
    assert Store.writes > 0 and any(key.startswith("actor|") for key in store)  # the actor record (mfa_fatigue)


def test_help_states_the_window_and_the_output_formats():
    help_text = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    flat = " ".join(help_text.split())
    assert "--reorder-seconds S" in help_text and "--reorder-events N" in help_text and "{table,jsonl,json}" in flat
    assert 'counted as "late" in the summary' in flat and "default 100,000" in flat and "default 600 s" in flat


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(st.lists(JSON_VALUES, max_size=6), st.integers(1, 9), st.sampled_from([None, 0, 2]), st.booleans())
def test_an_array_reads_the_same_whatever_the_chunks(items, chunk, indent, ascii_only):
    data = json.dumps(items, indent=indent, ensure_ascii=ascii_only).encode()
    chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
    first = next(chunks)
    rows = list(replay_input._array("a.json", first, chunks, lambda bad: pytest.fail(str(bad))))
    assert [r.raw for r in rows] == items and [r.position for r in rows] == list(range(len(items)))


@pytest.mark.parametrize(
    "data",
    [
        b'[{"a": 1},\n "oops", {"a": NaN},\n  {"b": 2} {"c": 3}]',
        b'[{"a": 1}]\n\n  trailing',
        b'[\n{"a": 1},\n{"uuid": "cut',
        b'[{"a": 1}, {"uuid": "\xff\xfe"}, {"b": 2}]',
        b'[{"a": "\xc3\xa9t\xc3\xa9"},\n {"b": 12345678',
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_a_broken_array_is_reported_the_same_whatever_the_chunks(data, monkeypatch):
    """The break's line, column and byte, and the items kept, do not depend on where the reads fall."""

    def read(chunk: int) -> tuple[list, list[str]]:
        monkeypatch.setattr(replay_input, "CHUNK", chunk)
        chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
        bad: list[str] = []
        rows = [r.raw for r in replay_input._array("a.json", next(chunks), chunks, lambda m: bad.append(str(m)))]
        return rows, bad

    whole = read(len(data))
    assert whole[1] and all(read(chunk) == whole for chunk in (1, 2, 3, 5, 64))
