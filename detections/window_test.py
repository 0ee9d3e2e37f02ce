from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from detections.window import MAX_EPISODE_UUIDS, Episode, LastSeen, Window


@dataclass
class E:
    time: float
    key: str


def test_late_events_count_until_the_lateness_bound_and_replays_never():
    w: Window[E] = Window(horizon=100, max_entries=1000)
    assert w.add(E(1000, "a")) and w.add(E(950, "late")) and w.high_water == 1000
    assert not w.add(E(899, "too-late")) and w.too_late(899)
    assert not w.add(E(1000, "a")) and w.holds("a")  # the replay guard
    assert [e.key for e in w] == ["late", "a"]


def test_trimming_follows_the_high_water_mark_and_the_cap_keeps_the_newest():
    w: Window[E] = Window(horizon=10, max_entries=3)
    for t in range(20):
        w.add(E(float(t), str(t)))
    assert [e.key for e in w] == ["17", "18", "19"] and not w.holds("16")
    w.advance(100.0)
    assert len(w) == 0 and w.too_late(89)


def test_counts_and_slices_are_inclusive():
    w: Window[E] = Window(horizon=1000, max_entries=1000, entries=[E(float(t), str(t)) for t in (5, 1, 3, 3)])
    assert w.count(1, 3) == 3 and [e.time for e in w.between(3, 5)] == [3, 3, 5]
    assert w.span_around(5, 2) == (3, 5)  # in order: the window ending with the event
    w.add(E(50.0, "x"))
    assert w.span_around(45, 10) == (40, 50)  # late, inside the live window: the live window
    assert w.span_around(5, 10) == (5, 15)  # later than a width: the window starting with it


@settings(max_examples=200, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 30)), max_size=80), st.integers(1, 60))
def test_window_matches_a_brute_force_model_in_any_arrival_order(arrivals, width):
    w: Window[E] = Window(horizon=100, max_entries=10_000)
    model: dict[str, float] = {}
    high = 0.0
    for t, k in arrivals:
        key = f"k{k}"
        accepted = w.add(E(float(t), key))
        expected = key not in model and t >= high - 100
        assert accepted == expected
        if accepted:
            model[key] = float(t)
            high = max(high, t)
            model = {k2: t2 for k2, t2 in model.items() if t2 >= high - 100}
    assert sorted(model.values()) == [e.time for e in w]
    start, end = w.span_around(high, width)
    assert w.count(start, end) == sum(1 for t in model.values() if start <= t <= end)


def test_last_seen_counts_distinct_keys_since_a_time():
    seen = LastSeen(max_keys=100)
    for t, user in [(1, "a"), (2, "b"), (3, "a"), (2.5, "a"), (4, "c")]:
        seen.see(user, t)
    assert seen.count_since(3) == 2 and seen.count_since(0) == 3  # a (last at 3), c
    seen.forget_before(3.5)
    assert "a" not in seen and len(seen) == 1
    restored = LastSeen(100, seen.to_dict())
    assert restored.count_since(0) == 1 and restored.to_dict() == {"c": 4}


def test_last_seen_is_bounded():
    seen = LastSeen(max_keys=10)
    for i in range(50):
        seen.see(f"u{i}", float(i))
    assert len(seen) == 10 and "u49" in seen and "u39" not in seen


def test_an_episode_is_revised_when_its_measure_doubles_or_its_tier_changes():
    ep = Episode("first", 0.0, 0.0, max_distinct=5)
    for i in range(200):
        ep.add(f"e{i}", float(i), ("n",), users=f"u{i % 7}")
    assert ep.count("n") == 200 and ep.distinct_count("users") == 5 and ep.saturated("users")
    assert len(ep.uuids) == MAX_EPISODE_UUIDS and (ep.start, ep.last) == (0.0, 199.0)
    assert ep.grown(10, "low") and ep.reported_as(10, "low") == 0
    assert not ep.grown(19, "low") and ep.grown(20, "low") and ep.grown(11, "medium")
    assert ep.reported_as(20, "low") == 1
    assert ep.ongoing(199 + 3600, 3600) and not ep.ongoing(200 + 3600, 3600)
    again = Episode.from_dict(ep.to_dict())
    assert again is not None and again.to_dict() == ep.to_dict()
