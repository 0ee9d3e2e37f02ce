"""`detector replay`: offline detections over exported System Log files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections
from detections.testkit import PUSH_ATTACKER, push_bombing, sign_in
from detector import replay as replay_mod
from detector.cli import main
from detector.replay import Malformed, replay
from tests.conftest import shared_dir

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
    assert proc.returncode == 0, proc.stderr
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
    assert broken.returncode == 2 and "not a valid JSON array" in broken.stderr
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


def test_progress_bar_on_large_inputs(tmp_path, attack, monkeypatch, capsys):
    monkeypatch.setattr(replay_mod, "PROGRESS_THRESHOLD", 3)
    assert main(["replay", str(write_jsonl(tmp_path / "a.jsonl", attack))]) == 0
    assert "replay summary" in capsys.readouterr().err


SAMPLES = shared_dir() / "okta-samples"
RAW_SAMPLES = ["elastic_okta_events.jsonl", "elastic_okta_api_response_example.json"]
WRAPPED_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.jsonl") if p.name not in RAW_SAMPLES)


def test_every_sample_file_is_covered():
    assert WRAPPED_SAMPLES and {*RAW_SAMPLES, *WRAPPED_SAMPLES} == {
        p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl")
    }


@pytest.mark.parametrize("name", RAW_SAMPLES + WRAPPED_SAMPLES)
def test_replays_every_shared_sample(name, tmp_path, capsys):
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
    assert main(argv) == 0
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
