from __future__ import annotations

from dataclasses import dataclass

import orjson

from detections.columns import columns, rows


@dataclass(slots=True)
class _Row:
    time: float
    ip: str | None
    flag: bool
    note: str = ""


def test_rows_round_trip_as_named_columns_with_repeated_values_stored_once():
    data = [_Row(1.0, "10.0.0.1", True), _Row(2.0, "10.0.0.1", True, "x"), _Row(3.0, "10.0.0.1", True)]
    encoded = orjson.loads(orjson.dumps(columns(_Row, data)))
    assert encoded == {"#": 3, "time": [1.0, 2.0, 3.0], "ip": ["10.0.0.1"], "flag": [True], "note": ["", "x", ""]}
    assert rows(_Row, encoded) == data
    assert columns(_Row, []) == {} and rows(_Row, {}) == []


def test_a_bool_and_an_int_of_equal_value_are_not_one_value():
    data = [_Row(1.0, None, True), _Row(1, None, True)]  # 1.0 == 1, but they are not the same value
    assert [type(r.time) for r in rows(_Row, orjson.loads(orjson.dumps(columns(_Row, data))))] == [float, int]


def test_positional_rows_of_the_first_encoding_and_missing_trailing_columns_decode():
    assert rows(_Row, [[1.0, "a", False], [2.0, None, True, "n"]]) == [
        _Row(1.0, "a", False),
        _Row(2.0, None, True, "n"),
    ]
    assert rows(_Row, {"#": 2, "time": [1.0, 2.0], "ip": [None], "flag": [False]}) == [
        _Row(1.0, None, False),
        _Row(2.0, None, False),
    ]
