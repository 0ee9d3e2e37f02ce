"""`detector replay`: offline detections over exported System Log files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections
from detections.testkit import PUSH_ATTACKER, push_bombing, sign_in
from detector import replay as replay_mod
from detector import replay_input
from detector.cli import main
from detector.replay import Malformed, replay
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
ATTACKER = PUSH_ATTACKER
REQUIRED_KEYS = {
    "detection", "tenant", "principal", "severity", "tier", "confidence",
    "evidence", "actions", "dedup_key", "event_uuids", "mitre",
}  # fmt: skip


bombing = push_bombing


def direct(raws: list[dict], tenant: str = "acme") -> list[str]:
    """What the engine finds when fed the events in order: the replay must match it."""
    engine = Engine(build_detections(), TenantContext(tenant))
    findings = engine.process_all((parse_event(r, tenant) for r in raws), {})
    return [f.dedup_key for f in findings]


def write_jsonl(path: Path, raws: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in raws))
    return path


def write_array(path: Path, raws: list) -> Path:
    path.write_text(json.dumps(raws, indent=2))  # pretty-printed, as saved from the API
    return path


@pytest.fixture
def attack() -> list[dict]:
    return [sign_in(T0 - 3600, ip="73.1.2.3"), *bombing(T0, 6, accept=True)]


def test_jsonl_file_gives_the_engines_findings(tmp_path, attack):
    result = replay([write_jsonl(tmp_path / "a.jsonl", attack)], "acme")
    assert result.malformed == [] and result.events == len(attack)
    assert [f.dedup_key for f in result.findings] == direct(attack)
    (accepted,) = [f for f in result.findings if f.detection == "mfa_push_accepted"]
    assert accepted.confidence == 100 and accepted.tenant == "acme" and accepted.principal == "00u1alice"


def test_array_file_gives_the_same(tmp_path, attack):
    result = replay([write_array(tmp_path / "a.json", attack)], "acme")
    assert result.malformed == [] and result.events == len(attack)
    assert [f.dedup_key for f in result.findings] == direct(attack)
    assert "mfa_push_accepted" in {f.detection for f in result.findings}


def test_out_of_order_files_are_merged_and_sorted(tmp_path, attack):
    shuffled = list(reversed(attack))
    a = write_jsonl(tmp_path / "late.jsonl", shuffled[::2])
    b = write_array(tmp_path / "early.json", shuffled[1::2])
    result = replay([a, b], "acme")
    assert result.events == len(attack)
    assert sorted(f.dedup_key for f in result.findings) == sorted(direct(attack))
    unsorted = replay([a, b], "acme", sort=False)  # file order: the accept is seen before most denials
    score = {f.detection: f.confidence for f in result.findings}
    assert {f.detection: f.confidence for f in unsorted.findings} != score
    assert score["mfa_push_accepted"] == 100


def test_malformed_lines_are_reported_and_the_rest_replayed(tmp_path, attack):
    good = [json.dumps(r) for r in attack]
    no_uuid = {k: v for k, v in attack[0].items() if k != "uuid"}
    bad_time = {**attack[0], "uuid": "bad-time", "published": "2017-09-31T22:23:07.777Z"}
    lines = [
        good[0],
        "{not json",
        "",  # blank lines are not records
        "[1, 2]",
        json.dumps(no_uuid),
        *good[1:5],
        json.dumps(bad_time),
        *good[5:],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = replay([path], "acme")
    where = [(m.position, m.is_index) for m in result.malformed]
    assert where == [(2, False), (4, False), (5, False), (10, False)]
    reasons = [m.reason for m in result.malformed]
    assert reasons[0].startswith("bad JSON")
    assert "not an object" in reasons[1] and reasons[2] == "missing uuid" and "unparseable published" in reasons[3]
    assert str(result.malformed[0]).startswith(f"{path}:2: ")
    assert result.events == len(attack)
    assert [f.dedup_key for f in result.findings] == direct(attack)


def test_malformed_array_items_are_reported_by_index(tmp_path, attack):
    path = write_array(tmp_path / "a.json", [attack[0], "oops", {"uuid": "x"}, *attack[1:]])
    result = replay([path], "acme")
    assert [(m.position, m.is_index) for m in result.malformed] == [(1, True), (2, True)]
    assert str(result.malformed[0]).startswith(f"{path}[1]: ")
    assert result.events == len(attack)


def test_field_unwraps_records(tmp_path, attack):
    wrapped = [{"test": i, "event": r} for i, r in enumerate(attack)] + [{"test": "no event"}]
    result = replay([write_jsonl(tmp_path / "w.jsonl", wrapped)], "acme", field="event")
    assert result.events == len(attack)
    assert [(m.position, m.reason) for m in result.malformed] == [(len(attack) + 1, "no object in field 'event'")]
    assert [f.dedup_key for f in result.findings] == direct(attack)


def test_config_supplies_the_tenants_thresholds(tmp_path):
    raws = bombing(T0, 6, accept=False, spacing=30)
    path = write_jsonl(tmp_path / "b.jsonl", raws)
    read = {"kind": "ssws", "token": {"env": "UNSET_IN_TESTS"}}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"tenants": [
        {"name": "acme", "org_url": "https://acme.okta.com", "read": read},
        {"name": "strict", "org_url": "https://strict.okta.com", "read": read,
         "detections": {"mfa_fatigue": {"min_denials": 10}}},
    ]}))  # fmt: skip
    out = tmp_path / "out.jsonl"
    base = ["replay", str(path), "--output", "jsonl", "--out", str(out), "--config", str(config)]
    assert main([*base, "--tenant", "acme"]) == 0
    assert [json.loads(x)["detection"] for x in out.read_text().splitlines()] == ["mfa_push_bombing"]
    assert main([*base, "--tenant", "strict"]) == 0
    assert out.read_text() == ""
    assert main(base) == 2  # two tenants, none chosen
    assert main([*base, "--tenant", "nope"]) == 2


def test_config_supplies_the_tenants_context(tmp_path):
    """`context:` reaches the detections: a known traveller is dampened, a service account gets no MFA finding."""
    day = 86400.0
    raws = [sign_in(T0 - day - i * 2 * day, "nyc") for i in range(12)]  # alice's baseline
    raws += [sign_in(T0, "nyc"), sign_in(T0 + 3600, "lagos", behaviors="{New Device=POSITIVE, New Country=POSITIVE}")]
    raws += bombing(T0, 6, accept=True, user="00usvc", login="svc-sync@acme.com")
    path = write_jsonl(tmp_path / "t.jsonl", raws)
    read = {"kind": "ssws", "token": {"env": "UNSET_IN_TESTS"}}
    context = {"known_travellers": ["alice@acme.com"], "service_accounts": ["svc-sync@acme.com"]}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"tenants": [
        {"name": "plain", "org_url": "https://plain.okta.com", "read": read},
        {"name": "acme", "org_url": "https://acme.okta.com", "read": read, "context": context},
    ]}))  # fmt: skip
    out = tmp_path / "out.jsonl"
    base = ["replay", str(path), "--output", "jsonl", "--out", str(out), "--config", str(config)]

    assert main([*base, "--tenant", "plain"]) == 0
    plain = {f["detection"]: f for f in map(json.loads, out.read_text().splitlines())}
    assert set(plain) == {"impossible_travel", "mfa_push_bombing", "mfa_push_accepted"}
    assert plain["impossible_travel"]["tier"] == "high" and plain["impossible_travel"]["dampeners"] == []

    assert main([*base, "--tenant", "acme"]) == 0
    (travel,) = map(json.loads, out.read_text().splitlines())
    assert travel["detection"] == "impossible_travel"
    assert travel["confidence"] == plain["impossible_travel"]["confidence"] - 30 == 35
    assert travel["tier"] == "medium" and travel["actions"] == []
    assert any("known traveller" in d["label"] and d["points"] == -30 for d in travel["dampeners"])


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_cli_jsonl_output(tmp_path, attack):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in attack) + "garbage\n")
    proc = cli(str(path), "--output", "jsonl", "--tenant", "acme")
    assert proc.returncode == 1, proc.stderr  # a record was skipped
    findings = [json.loads(line) for line in proc.stdout.splitlines()]
    assert findings and all(f.keys() >= REQUIRED_KEYS for f in findings)
    assert {f["tenant"] for f in findings} == {"acme"}
    assert [f["dedup_key"] for f in findings] == direct(attack)
    assert f"{path}:{len(attack) + 1}: bad JSON" in proc.stderr.replace("\n", "")
    assert "replay summary" in proc.stderr and "mfa_push_accepted" in proc.stderr


def test_cli_table_output_and_errors(tmp_path, attack):
    path = write_array(tmp_path / "a.json", attack)
    proc = cli(str(path))
    assert proc.returncode == 0, proc.stderr
    assert "MFA" in proc.stdout or "mfa" in proc.stdout.lower()
    missing = cli(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "broken.json").write_text('[{"uuid": 1},')
    broken = cli(str(tmp_path / "broken.json"))
    assert broken.returncode == 1 and "broken.json[1]: not a valid JSON array: it is cut short" in broken.stderr
    assert cli().returncode == 2  # usage error: no FILE


HOSTILE_LOGINS = ["[/]", "\x1b[2J\x1b]0;pwned\x07", "[link=https://evil]x[/link]", "eve\nFORGED LINE", "\u202eeve"]


@pytest.mark.parametrize("color", [False, True])
def test_table_output_shows_hostile_logins_as_text(tmp_path, color):
    """A typed username is data: no MarkupError, no terminal control, no link, no extra line."""
    raws = []
    for i, login in enumerate(HOSTILE_LOGINS):
        raws += bombing(T0 + i * 3600, 6, accept=True, user=f"00u{i}", login=login)
    path = write_jsonl(tmp_path / "hostile.jsonl", raws)
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "300", **({"FORCE_COLOR": "1"} if color else {"NO_COLOR": "1"})}
    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", str(path)], cwd=ROOT, capture_output=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    lines = out.splitlines()
    assert len(lines) == len(replay([path], "replay").findings) == 2 * len(HOSTILE_LOGINS)
    assert ("\x1b" in out) == color  # rich's own colours only when asked for
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "\x1b" not in plain and "\x07" not in plain and "\u202e" not in plain
    shown = ["[/]", r"\x1b[2J\x1b]0;pwned\x07", "[link=https://evil]x[/link]", r"eve\nFORGED LINE", r"\u202eeve"]
    for login in shown:
        assert sum(f"user={login}  " in line for line in plain.splitlines()) == 2


def test_jsonl_output_is_the_findings_json_unescaped(tmp_path):
    """JSON is its own escaping: --output jsonl carries the hostile login exactly, byte for byte as to_dict()."""
    raws = []
    for i, login in enumerate(HOSTILE_LOGINS):
        raws += bombing(T0 + i * 3600, 6, accept=True, user=f"00u{i}", login=login)
    path = write_jsonl(tmp_path / "hostile.jsonl", raws)
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(path), "--output", "jsonl", "--out", str(out)]) == 0
    findings = replay([path], "replay").findings
    assert out.read_bytes() == b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in findings)
    assert {json.loads(line)["principal_login"] for line in out.read_bytes().splitlines()} == set(HOSTILE_LOGINS)


def test_progress_bar_shows_bytes_events_and_rate(tmp_path, attack, monkeypatch, capsys):
    monkeypatch.setattr(replay_mod, "PROGRESS_BYTES", 3)
    assert main(["replay", str(write_jsonl(tmp_path / "a.jsonl", attack))]) == 0
    err = capsys.readouterr().err
    assert "events/s" in err and f"{len(attack)} events" in err and "replay summary" in err


def test_progress_counts_bytes_against_the_input_size_from_the_first_update(tmp_path, monkeypatch):
    monkeypatch.setattr(replay_mod, "LEARN_BATCH", 100)  # records between updates
    monkeypatch.setattr(replay_input, "CHUNK", 4096)  # many reads, so progress moves before the end
    raws = [sign_in(T0 + i, uuid=f"e-{i}") for i in range(5000)]
    path = write_jsonl(tmp_path / "a.jsonl", raws)
    calls: list[tuple[int, int | None, int]] = []
    replay([path], "acme", progress=lambda done, total, read: calls.append((done, total, read)))
    size = path.stat().st_size
    assert all(total == size for _, total, _ in calls)
    assert calls[0][0] < size and calls[0][2] == 100  # the first update already has the total: an ETA
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and calls[-1] == (size, size, 5000)


SAMPLES = DATA / "okta-samples"
RAW_SAMPLES = ["elastic_okta_events.jsonl", "elastic_okta_api_response_example.json"]
WRAPPED_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.jsonl") if p.name not in RAW_SAMPLES)


def test_every_sample_file_is_covered():
    assert WRAPPED_SAMPLES and {*RAW_SAMPLES, *WRAPPED_SAMPLES} == {
        p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl")
    }


@pytest.mark.parametrize("name", RAW_SAMPLES + WRAPPED_SAMPLES)
def test_replays_every_sample(name, tmp_path, capsys):
    field = None if name in RAW_SAMPLES else "event"
    path = SAMPLES / name
    result = replay([path], "samples", field=field)
    records = result.events + len(result.malformed)
    assert result.events > 0 and records == _record_count(path)
    if name in RAW_SAMPLES:
        assert result.malformed == []
    else:  # Panther placeholders ('redacted' times, no uuid) and an impossible docs date are the only losses
        assert all(m.reason == "missing uuid" or "published" in m.reason for m in result.malformed)
    out = tmp_path / "f.jsonl"
    argv = ["replay", str(path), "--output", "jsonl", "--out", str(out)] + (["--field", field] if field else [])
    assert main(argv) == (1 if result.malformed else 0)
    lines = out.read_text().splitlines()
    assert len(lines) == len(result.findings)
    assert all(json.loads(x).keys() >= REQUIRED_KEYS for x in lines)


def _record_count(path: Path) -> int:
    text = path.read_text()
    if text.lstrip().startswith("["):
        return len(json.loads(text))
    return sum(1 for line in text.splitlines() if line.strip())


def test_malformed_repr_is_stable():
    assert str(Malformed("x.jsonl", 3, False, "missing uuid")) == "x.jsonl:3: missing uuid"
    assert str(Malformed("x.json", 0, True, "missing uuid")) == "x.json[0]: missing uuid"


# -- replay keeps going: every bad record is reported and skipped, the rest is always replayed ----------------


def good_and_bad(tmp_path: Path) -> tuple[Path, list[dict], dict[int, str]]:
    """400 good records (an attack among ordinary sign-ins) with 3 bad lines: bad JSON, binary, a 1 MiB+ line."""
    good = [sign_in(T0 - 86400 + i * 60) for i in range(386)] + bombing(T0, 6, accept=True)
    bad = {
        50: b"{not json",
        200: b"\xff\xfe\x00\x01binary\x9c",
        350: b'{"uuid": "' + b"x" * replay_mod.MAX_LINE + b'"}',
    }
    lines = [json.dumps(r).encode() for r in good]
    for number, line in sorted(bad.items()):
        lines.insert(number - 1, line)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    reasons = {50: "bad JSON: unexpected character", 200: "bad JSON: str is not valid UTF-8", 350: "line longer than"}
    return path, good, reasons


def test_bad_lines_among_good_ones_are_reported_and_the_findings_written(tmp_path, capsys):
    path, good, reasons = good_and_bad(tmp_path)
    out = tmp_path / "findings.jsonl"
    assert main(["replay", str(path), "--output", "jsonl", "--out", str(out), "--tenant", "acme"]) == 1
    assert [json.loads(x)["dedup_key"] for x in out.read_text().splitlines()] == direct(good)
    assert "mfa_push_accepted" in out.read_text()
    err = capsys.readouterr().err
    reported = [line for line in err.splitlines() if line.startswith("malformed ")]
    assert len(reported) == 3
    for line, (number, reason) in zip(reported, reasons.items(), strict=True):
        assert line.startswith(f"malformed {path}:{number}: {reason}")


def test_any_error_parsing_a_record_skips_only_that_record(tmp_path, monkeypatch, attack):
    def parse(raw, tenant):
        if raw.get("uuid") == "boom":
            raise OverflowError("int too large to convert to float")
        return parse_event(raw, tenant)

    monkeypatch.setattr(replay_mod, "parse_event", parse)
    result = replay(
        [write_jsonl(tmp_path / "a.jsonl", [*attack[:3], {**attack[0], "uuid": "boom"}, *attack[3:]])], "acme"
    )
    assert [(m.position, m.reason) for m in result.malformed] == [
        (4, "unusable event (OverflowError: int too large to convert to float)")
    ]
    assert [f.dedup_key for f in result.findings] == direct(attack) and result.exit_code == 1


def test_a_broken_array_keeps_the_items_before_the_break(tmp_path, attack):
    items = [json.dumps(r) for r in attack]
    text = "[" + ", ".join([*items[:2], '"oops"', '{"a": NaN}', *items[2:]]) + ', {"uuid": "cut'
    path = tmp_path / "cut.json"
    path.write_text(text)
    result = replay([path], "acme")
    assert [(m.position, m.is_index) for m in result.malformed] == [(2, True), (3, True), (len(attack) + 2, True)]
    assert result.malformed[1].reason.startswith("bad JSON")  # NaN: that item only
    assert result.malformed[2].reason.startswith("not a valid JSON array: Unterminated string starting at line 1")
    assert result.malformed[2].reason.endswith("; the rest of the file is skipped")
    assert [f.dedup_key for f in result.findings] == direct(attack)


def test_an_array_that_is_not_utf8_keeps_what_came_before(tmp_path, attack):
    head = ("[" + ", ".join(json.dumps(r) for r in attack) + ", ").encode()
    path = tmp_path / "binary.json"
    path.write_bytes(head + b'{"uuid": "\xff\xfe"}, ' + json.dumps(attack[0]).encode() + b"]")
    result = replay([path], "acme")
    (bad,) = result.malformed
    assert (bad.position, bad.is_index) == (len(attack), True)
    assert bad.reason.startswith("not a valid JSON array: ") and f"not UTF-8 from byte {len(head) + 10}" in bad.reason
    assert [f.dedup_key for f in result.findings] == direct(attack)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[{"a": 1} {"b": 2}]', "not a valid JSON array: expected , or ] at line 1 column 11"),
        ('[{"a": 1}]\n  trailing', "not a valid JSON array: data after its closing ] at line 2 column 3"),
        ("[" * 5000 + "]" * 5000, "not a valid JSON array: nested too deep at line 1 column 2"),
    ],
)
def test_array_faults_are_located(tmp_path, text, reason):
    path = tmp_path / "a.json"
    path.write_text(text)
    assert [m.reason for m in replay([path], "acme").malformed][-1] == f"{reason}; the rest of the file is skipped"


def test_line_numbers_count_leading_blank_lines_after_a_bom(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbf\n  \n\n{bad\n")
    assert [(m.position, m.reason[:8]) for m in replay([path], "acme").malformed] == [(4, "bad JSON")]


@pytest.mark.timeout(30)  # /dev/zero is among them: a read of it would never end
def test_unreadable_inputs_are_reported_and_the_others_replayed(tmp_path, attack, capsys):
    good = write_jsonl(tmp_path / "a.jsonl", attack)
    out = tmp_path / "out.jsonl"
    args = ["replay", str(tmp_path / "missing.jsonl"), str(tmp_path), str(good), "/dev/zero"]
    assert main([*args, "--output", "jsonl", "--out", str(out), "--tenant", "acme"]) == 2
    assert [json.loads(x)["dedup_key"] for x in out.read_text().splitlines()] == direct(attack)
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'missing.jsonl'}: cannot read: No such file or directory" in err
    assert f"error: {tmp_path}: is a directory, not a file or a pipe; not read" in err
    assert "error: /dev/zero: is a character device" in err


@pytest.mark.timeout(30)
def test_devices_are_refused_without_reading_them():
    zero = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", "-"],
        stdin=open("/dev/zero", "rb"),  # noqa: SIM115 (closed with the process)
        cwd=ROOT, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert zero.returncode == 2 and "-: is a character device" in zero.stderr


@pytest.mark.timeout(30)
def test_stdin_is_read_as_a_stream(tmp_path, attack):
    data = "".join(json.dumps(r) + "\n" for r in attack)
    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", "-", "--output", "jsonl", "--tenant", "acme"],
        input=data, cwd=ROOT, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["dedup_key"] for x in proc.stdout.splitlines()] == direct(attack)


@pytest.mark.timeout(30)
def test_a_named_pipe_is_read_as_a_bounded_stream(tmp_path, attack, capsys):
    """The writer comes late and sends 3 MiB of NULs with no newline first: no hang, no unbounded read."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        time.sleep(0.3)
        with fifo.open("wb") as w:
            w.write(b"\0" * (3 * replay_mod.MAX_LINE) + b"\n")
            w.write("".join(json.dumps(r) + "\n" for r in attack).encode())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(fifo), "--output", "jsonl", "--out", str(out), "--tenant", "acme"]) == 1
    writer.join(5)
    assert [json.loads(x)["dedup_key"] for x in out.read_text().splitlines()] == direct(attack)
    err = capsys.readouterr().err
    assert f"waiting for a writer on the named pipe {fifo}" in err
    assert f"malformed {fifo}:1: line longer than {replay_mod.MAX_LINE} bytes" in err


@given(st.binary(max_size=200), st.integers(1, 16), st.integers(1, 12))
def test_lines_are_split_the_same_whatever_the_chunks(data, chunk, limit):
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    expected = [line if len(line) <= limit else None for line in data.split(b"\n")]
    if expected[-1] == b"":
        expected.pop()  # a final newline ends the last line, it does not start one
    assert list(replay_mod._lines(chunks, limit)) == expected


def test_exit_codes_are_documented():
    help_text = subprocess.run(
        [sys.executable, "-m", "detector.cli", "replay", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert all(f"\n  {code}  " in help_text for code in "012")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "exits 0 all records replayed, 1 some records skipped (findings still written), 2 an input" in readme


def test_poisoned_coordinates_among_400_lines_are_neutralised_and_the_findings_written(tmp_path, capsys):
    """The reproduction: 3 sign-ins whose latitude is "inf" (a math domain error in the travel math before)."""
    filler = [sign_in(T0 - 7200 + i, "nyc", uuid=f"filler-{i}") for i in range(390)]
    poisoned = [sign_in(T0 - 100 + i, "london", uuid=f"poison-{i}") for i in range(3)]
    for raw in poisoned:
        raw["client"]["geographicalContext"]["geolocation"]["lat"] = "inf"
    raws = [*filler, *poisoned, sign_in(T0 - 3600, ip="73.1.2.3"), *bombing(T0, 6, accept=True)]
    path = write_jsonl(tmp_path / "poison.jsonl", raws)
    assert main(["replay", str(path), "--output", "jsonl", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "mfa_push_accepted" in out and "impossible_travel" not in out


def test_a_detection_that_raises_is_reported_and_the_others_findings_written(tmp_path, capsys, monkeypatch, attack):
    from detections.impossible_travel import ImpossibleTravel

    def explode(self, event, state, novelty, directory=None):  # the signature ImpossibleTravel.detect has
        raise ValueError("math domain error")

    monkeypatch.setattr(ImpossibleTravel, "detect", explode)
    path = write_jsonl(tmp_path / "a.jsonl", attack)
    assert main(["replay", str(path), "--output", "jsonl", "--tenant", "acme"]) == 1
    captured = capsys.readouterr()
    assert sorted(json.loads(x)["detection"] for x in captured.out.splitlines()) == [
        "mfa_push_accepted",
        "mfa_push_bombing",
    ]
    assert f"detection error {path}:1: detection impossible_travel raised ValueError: math domain error" in captured.err


def test_a_growing_attack_is_printed_once_at_its_latest_revision(tmp_path, capsys):
    from detections.testkit import failed_sign_in

    raws = [failed_sign_in(T0 + i, f"user{i}@acme.com", ip="203.0.113.9") for i in range(300)]
    path = write_jsonl(tmp_path / "spray.jsonl", raws)
    assert main(["replay", str(path), "--output", "jsonl", "--tenant", "acme"]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "password_spray" in x]
    assert "200 distinct users" in line["summary"] and line["revision"] > 0
