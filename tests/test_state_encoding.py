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

from detections import actor_record
from detections.actor_record import ActorRecord
from detections.common import GUARD_S, UNTIMED, ReplayGuard, Suppression, digest, guard_digest
from detections.engine import STATE_VERSION, Engine, TenantContext
from detections.event import Event, parse_event
from detections.registry import build_detections
from tests.conftest import DATA

FIXTURE = DATA / "state-v1" / "main-601dcec.json"
T = 1_800_000_000.0
DAY = 86400.0


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


def _part(record: dict[str, Any], part: str, key: str) -> Any:
    """The encoded state of one part of an encoded actor record (either layout of version 3)."""
    entry = record["p"][part]
    if isinstance(entry, list):  # one key for all parts: "k", or the record's actor id when left out
        assert record.get("k", key) == key
        return entry[1]
    return entry[key][1]


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
    records = {k: data for k, data in encoded.items() if k.startswith("actor|")}
    assert records and all(data["v"] == actor_record.VERSION for data in records.values())
    assert all(data["v"] == STATE_VERSION for k, data in encoded.items() if k not in records)
    pushes = _part(records["actor|00u1alice"], "mfa_fatigue", "00u1alice")["w"][1]
    assert set(pushes) == {"#", "t", "k", "ip", "sg", "au"} and pushes["#"] >= 4  # short names; "w" all default
    assert len(pushes["t"]) == pushes["#"] and pushes["sg"] == [""]  # one value for all: stored once
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
    assert old.replayed("evt-1", T) and not old.replayed("evt-3", T) and old.replayed("evt-3", T)
    written = old.to_dict()
    assert "s" not in written and written["d"] == "".join(guard_digest(u) for u in ("evt-1", "evt-2", "evt-3"))
    assert all(len(guard_digest(u)) == 11 for u in ("evt-1", "x" * 200)) and written["f"] == {"x": 1.0}
    assert written["n"] == T and written["a"] == [None, None, 0]  # the whole uuids had no time
    again = Suppression.from_dict(orjson.loads(orjson.dumps(written)))
    guard = again.guard
    assert again.replayed("evt-2", T) and again.replayed("evt-3", T) and not again.replayed("evt-4", T)
    for i in range(guard.max_seen):  # the oldest age out, whole uuids and digests alike
        again.replayed(f"new-{i}", T)
    assert not again.replayed("evt-1", T) and len(guard) == guard.max_seen and guard.legacy == 0
    aged = Suppression.from_dict({"s": [f"old-{i}" for i in range(64)]})
    assert aged.replayed("old-63", T) and not aged.replayed("fresh", T) and aged.guard.legacy == 63
    assert aged.replayed("old-1", T) and not aged.replayed("old-1x", T) and aged.guard.legacy == 62
    assert not aged.replayed("old-0", T)  # aged out
    digests = Suppression.from_dict({"f": {}, "d": guard_digest("evt-1") + guard_digest("evt-2")})  # main at 5ae2f98
    assert digests.replayed("evt-2", T + 10 * DAY) and digests.guard.times[:2] == [UNTIMED, UNTIMED]  # by count


def test_a_replay_guard_forgets_events_a_day_of_event_time_behind_its_newest() -> None:
    guard = ReplayGuard()
    assert not guard.replayed("a", T) and not guard.replayed("b", T + 3600)
    assert not guard.replayed("late", T - 600)  # late, but within the span: guarded
    assert guard.replayed("a", T + 3600) and guard.replayed("late", T)
    assert not guard.replayed("c", T + GUARD_S + 1)  # a day past "a" and "late": both forgotten, "b" kept
    assert guard.seen == [guard_digest(u) for u in ("b", "c")] and guard.replayed("b", T)
    assert not guard.replayed("a", T + GUARD_S + 2)  # forgotten: judged as new
    restored = ReplayGuard.from_dict(orjson.loads(orjson.dumps(guard.to_dict())))
    assert restored.seen == guard.seen and restored.newest == guard.newest
    assert all(abs(a - b) <= 0.5 for a, b in zip(restored.times, guard.times, strict=True))  # whole seconds
    again = ReplayGuard.from_dict(orjson.loads(orjson.dumps(restored.to_dict())))
    assert again.to_dict() == restored.to_dict()  # ages are whole seconds: a round trip is stable
    assert ReplayGuard().to_dict() == {} and Suppression().to_dict() == {}  # nothing held, nothing written


FIXTURE_V2D = DATA / "state-v2" / "main-5ae2f98.json"  # version 2 as main wrote it at 5ae2f98: digest guards


@pytest.fixture(scope="module")
def captured_v2d() -> dict[str, Any]:
    return orjson.loads(FIXTURE_V2D.read_bytes())


def test_records_with_a_guard_per_part_go_on_detecting_and_guarding_as_main_did(
    captured: dict[str, Any], captured_v2d: dict[str, Any]
) -> None:
    alice = captured_v2d["states"]["actor|00u1alice"]
    assert alice["v"] == 2 and alice["p"]["impossible_travel"]["00u1alice"]["s"]["sup"]["d"]  # digests per part
    engine = _engine()
    found = _keys(engine.process_all(_events(captured["events_b"]), _v2_store(engine, captured_v2d)))
    assert found == captured_v2d["findings_b"] and found
    states = _v2_store(engine, captured_v2d)
    assert engine.process_all(_events(captured["events_a"]), states) == []  # the parts' guards became the record's
    restored = {k: engine.decode_state(k, engine.encode_state(v)) for k, v in states.items()}  # written anew
    assert engine.process_all(_events(captured["events_a"]), restored) == []


def test_an_actor_record_keeps_one_guard_and_its_parts_none(captured: dict[str, Any]) -> None:
    engine = _engine()
    states: dict[str, Any] = {}
    engine.process_all(_events(captured["events_a"]), states)
    record = orjson.loads(engine.encode_state(states["actor|00u1alice"]))
    assert record["v"] == 3 and record["g"]["d"]
    for part in ("impossible_travel", "session_hijack", "mfa_fatigue"):
        state = _part(record, part, "00u1alice")
        assert not state.get("sup", {}).get("d")  # no guard of its own
    # one layout for a record whose parts share one key, the general one otherwise; both read back
    assert "k" not in record  # the actor id of its store key: not repeated
    single = ActorRecord.from_dict(record, "00u1alice")
    assert orjson.loads(orjson.dumps(single.to_dict())) == record
    with pytest.raises(ValueError):
        ActorRecord.from_dict(record)  # the key is the store key's: without it, none
    other = ActorRecord.from_dict({**record, "k": "00u1alice"}, "00u1bob")  # parts keyed by another id: "k" kept
    assert other.to_dict()["k"] == "00u1alice" and other.get("mfa_fatigue", "00u1alice", dict) is not None
    general = {"v": 3, "p": {"a": {"k1": [None, {"x": 1}]}, "b": {"k2": [5.0, {}]}}}
    assert ActorRecord.from_dict(general).to_dict() == general
    assert ActorRecord.from_dict({"v": 3, "k": "k1", "p": {"a": [None, {"x": 1}]}}).get("a", "k1", dict) == {"x": 1}
    with pytest.raises(ValueError):
        ActorRecord.from_dict({"v": 4, "p": {}})


def test_an_event_seen_by_the_record_reaches_no_detection_keyed_by_actor(captured: dict[str, Any]) -> None:
    events = _events(captured["events_a"] + captured["events_b"])
    engine = _engine()
    states: dict[str, Any] = {}
    once = _keys(engine.process_all(events, states))

    def parts() -> dict[str, Any]:  # what the detections keep (the guard records an event that changed nothing too)
        return {k: orjson.loads(engine.encode_state(v))["p"] for k, v in states.items() if k.startswith("actor|")}

    before = parts()
    newest: dict[str, float] = {}
    for e in events:
        newest[e.actor_id] = max(e.time, newest.get(e.actor_id, e.time))
    # delivered again: what the guards still hold (a day behind each actor's newest), of the actor-keyed only
    again = [e for e in events if e.time >= newest[e.actor_id] - GUARD_S]
    assert len(again) > 50 and not any(engine.process(e, states, only=engine.actor_keyed) for e in again)
    assert parts() == before  # judged by none of them: their states are as they were
    assert once


def test_session_sightings_of_the_previous_layout_read_into_one_table_with_digested_device_tokens(
    captured_v2d: dict[str, Any],
) -> None:
    engine = _engine()
    old = captured_v2d["states"]["actor|00u1alice"]["p"]["session_hijack"]["00u1alice"]["s"]
    whole = {dt for x in old["x"].values() for dt in x["s"]["dt"] if dt}
    assert old["x"] and whole == {"dt-alice-laptop"}  # a table per session, whole dtHashes
    store = _v2_store(engine, captured_v2d)
    state = engine.state_of(store, "session_hijack", "00u1alice")
    assert {x.dt for s in state.sessions.values() for x in s.sightings} - {None} == {digest(dt) for dt in whole}
    written = state.to_dict()
    assert set(written) >= {"k", "h", "n", "s"} and written["k"] == list(old["x"])
    assert sum(written["n"]) == written["s"]["#"] == sum(x["s"]["#"] for x in old["x"].values())
    again = engine._by_id["session_hijack"].load_state(orjson.loads(orjson.dumps(written)))
    assert again == state
