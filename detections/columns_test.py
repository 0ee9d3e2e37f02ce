from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import orjson
import pytest

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


@dataclass(slots=True)
class _Short:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "i", "n")
    time: float
    ip: str | None
    note: str = ""


def test_short_column_names_are_written_and_the_field_names_still_read():
    data = [_Short(1.0, "a"), _Short(2.0, "a", "x")]
    encoded = orjson.loads(orjson.dumps(columns(_Short, data)))
    assert encoded == {"#": 2, "t": [1.0, 2.0], "i": ["a"], "n": ["", "x"]}
    assert rows(_Short, encoded) == data
    assert rows(_Short, {"#": 2, "time": [1.0, 2.0], "ip": ["a"]}) == [_Short(1.0, "a"), _Short(2.0, "a")]


def test_short_column_names_must_name_each_field_once():
    @dataclass(slots=True)
    class Bad:
        COLUMNS: ClassVar[tuple[str, ...]] = ("t", "t")
        time: float
        ip: str

    with pytest.raises(ValueError):
        columns(Bad, [Bad(1.0, "a")])


def test_trailing_columns_all_at_their_default_are_left_out_and_read_back():
    data = [_Row(1.0, "a", True), _Row(2.0, None, False)]
    encoded = orjson.loads(orjson.dumps(columns(_Row, data)))
    assert "note" not in encoded and rows(_Row, encoded) == data
    assert "note" in columns(_Row, [_Row(1.0, "a", True, "x")])  # not at the default: kept
    assert "n" not in columns(_Short, [_Short(1.0, "a")])
