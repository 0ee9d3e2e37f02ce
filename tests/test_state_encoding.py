"""State written by the first encoding (positional rows, one key per detection, no version) goes on detecting.

``tests/data/state-v1/main-601dcec.json`` was captured on main at 601dcec: the engine ran a scenario's first
part (sign-ins of a small population over two days, then the start of a push bombing, of a brute force, of a
password spray, a FastPass phishing block) and its state was encoded; the file keeps both parts' events, that
state, and the findings main made in the second part with it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detections.actor_record import ActorRecord
from detections.common import Suppression, guard_digest
from detections.engine import STATE_VERSION, Engine, TenantContext
from detections.event import Event, parse_event
from detections.registry import build_detections
from tests.conftest import DATA

FIXTURE = DATA / "state-v1" / "main-601dcec.json"


@pytest.fixture(scope="module")
def captured() -> dict[str, Any]:
    return orjson.loads(FIXTURE.read_bytes())


def _engine(tenant: str = "acme") -> Engine:
    return Engine(build_detections(), TenantContext(tenant))


def _events(raws: list[dict[str, Any]]) -> list[Event]:
    return sorted((parse_event(r, "acme") for r in raws), key=lambda e: e.time)


def _keys(findings: list[Any]) -> list[str]:
    return sorted(f"{f.dedup_key}#{f.revision}" for f in findings)


def _v1_store(engine: Engine, captured: dict[str, Any]) -> dict[str, Any]:
    """What a store holds after loading the captured rows: each decoded from its bytes, as the stores do."""
    return {k: engine.decode_state(k, orjson.dumps(v)) for k, v in captured["states"].items()}


def test_the_fixture_is_the_first_encoding(captured: dict[str, Any]) -> None:
    states = captured["states"]
    assert not any("v" in s for s in states.values())  # no version field
    assert not any(k.startswith("actor|") for k in states)  # one key per detection
    assert isinstance(states["mfa_fatigue|00u1alice"]["w"][1][0], list)  # positional rows
    assert captured["findings_b"]  # the second part finds something with that state ...
    fresh = _engine().process_all(_events(captured["events_b"]), {})
    assert _keys(fresh) != captured["findings_b"]  # ... that it would not find without it


def test_state_of_the_first_encoding_decodes_and_goes_on_detecting_identically(captured: dict[str, Any]) -> None:
    engine = _engine()
    states = _v1_store(engine, captured)
    found = _keys(engine.process_all(_events(captured["events_b"]), states))
    # exactly what this version finds when it writes the state itself from the start ...
    again = _engine()
    mine: dict[str, Any] = {}
    again.process_all(_events(captured["events_a"]), mine)
    assert found == _keys(again.process_all(_events(captured["events_b"]), mine))
    # ... which is what main found then, plus the findings of detections added since (threat signals)
    assert set(captured["findings_b"]) <= set(found)
    assert {k.split(":")[1] for k in set(found) - set(captured["findings_b"])} <= {"success_from_flagged_source"}


def test_touched_actors_move_into_one_record_and_their_old_keys_go(captured: dict[str, Any]) -> None:
    engine = _engine()
    states = _v1_store(engine, captured)
    before = set(states)
    engine.process_all(_events(captured["events_b"]), states)
    assert "mfa_fatigue|00u1alice" in before and "impossible_travel|00u1alice" in before
    assert "mfa_fatigue|00u1alice" not in states and "impossible_travel|00u1alice" not in states
    record = states["actor|00u1alice"]
    assert isinstance(record, ActorRecord)
    assert {"mfa_fatigue", "impossible_travel", "session_hijack"} <= {part for part, _ in record.items()}
    # the keyed-by-login / IP / tenant states stay where they were, now written in the new encoding
    assert "brute_force|carol@acme.com" in states


def test_the_new_encoding_is_versioned_named_and_round_trips(captured: dict[str, Any]) -> None:
    engine = _engine()
    states: dict[str, Any] = {}
    engine.process_all(_events(captured["events_a"] + captured["events_b"]), states)
    encoded = {k: orjson.loads(engine.encode_state(v)) for k, v in states.items()}
    assert all(data["v"] == STATE_VERSION for data in encoded.values())
    pushes = encoded["actor|00u1alice"]["p"]["mfa_fatigue"]["00u1alice"]["s"]["w"][1]
    assert set(pushes) == {"#", "time", "key", "ip", "signals", "authn", "why"} and pushes["#"] >= 4  # columns
    assert len(pushes["time"]) == pushes["#"] and pushes["signals"] == [""]  # one value for all: stored once
    restored = {k: engine.decode_state(k, orjson.dumps(v)) for k, v in encoded.items()}
    assert {k: orjson.loads(engine.encode_state(v)) for k, v in restored.items()} == encoded
    # the restored state holds the replay guards: the whole stream again finds nothing
    assert engine.process_all(_events(captured["events_a"] + captured["events_b"]), restored) == []


FIXTURE_V2 = DATA / "state-v2" / "main-362bb33.json"


@pytest.fixture(scope="module")
def captured_v2() -> dict[str, Any]:
    return orjson.loads(FIXTURE_V2.read_bytes())


def _v2_store(engine: Engine, captured_v2: dict[str, Any]) -> dict[str, Any]:
    return {k: engine.decode_state(k, orjson.dumps(v)) for k, v in captured_v2["states"].items()}


def test_state_of_the_second_encoding_goes_on_detecting_as_main_did(
    captured: dict[str, Any], captured_v2: dict[str, Any]
) -> None:
    assert all(s["v"] == 2 for s in captured_v2["states"].values())
    guards = captured_v2["states"]["actor|00u1alice"]["p"]["impossible_travel"]["00u1alice"]["s"]["sup"]
    assert guards["s"] and set(guards["s"]) <= {e["uuid"] for e in captured["events_a"]}  # whole uuids
    engine = _engine()
    found = _keys(engine.process_all(_events(captured["events_b"]), _v2_store(engine, captured_v2)))
    assert found == captured_v2["findings_b"] and found


def test_replay_guards_of_the_second_encoding_still_guard(
    captured: dict[str, Any], captured_v2: dict[str, Any]
) -> None:
    engine = _engine()
    states = _v2_store(engine, captured_v2)
    assert engine.process_all(_events(captured["events_a"]), states) == []  # all of it seen before the capture
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}  # written anew
    assert engine.process_all(_events(captured["events_a"]), restored) == []


def test_replay_guards_keep_digests_and_read_the_whole_uuids_written_before() -> None:
    old = Suppression.from_dict({"f": {"x": 1.0}, "s": ["evt-1", "evt-2"]})  # the second encoding's guard
    assert old.replayed("evt-1") and not old.replayed("evt-3") and old.replayed("evt-3")
    written = old.to_dict()
    assert "s" not in written and written["d"] == "".join(guard_digest(u) for u in ("evt-1", "evt-2", "evt-3"))
    assert all(len(guard_digest(u)) == 11 for u in ("evt-1", "x" * 200)) and written["f"] == {"x": 1.0}
    again = Suppression.from_dict(orjson.loads(orjson.dumps(written)))
    assert again.replayed("evt-2") and again.replayed("evt-3") and not again.replayed("evt-4")
    for i in range(again.max_seen):  # the oldest age out, whole uuids and digests alike
        again.replayed(f"new-{i}")
    assert not again.replayed("evt-1") and len(again.seen) == again.max_seen and again.legacy == 0
    aged = Suppression.from_dict({"s": [f"old-{i}" for i in range(64)]})
    assert aged.replayed("old-63") and not aged.replayed("fresh") and aged.legacy == 63
    assert aged.replayed("old-1") and not aged.replayed("old-1x") and aged.legacy == 62
    assert not aged.replayed("old-0")  # aged out
