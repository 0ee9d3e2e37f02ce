"""Rows of a state as named columns: ``{"#": 3, "time": [...], "ip": ["10.0.0.1"]}``.

A state's rows (window entries, sightings, locations) are stored one list per field name, so every field is
named once per state rather than once per row (or, as before, not at all: a positional list that broke with
any change of field order). ``"#"`` is the number of rows; a column whose rows all hold one value is stored as
that one value in a list (a user's sign-ins mostly share their IP, network, place and device). Decoding also
reads the positional rows the first encoding wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

R = TypeVar("R")
COUNT = "#"


@cache
def names(cls: type) -> tuple[str, ...]:
    """A row dataclass's field names, in declaration order."""
    return tuple(f.name for f in fields(cls))


def _column(values: list[Any]) -> list[Any]:
    first = values[0]
    return [first] if all(v == first and type(v) is type(first) for v in values) else values


def columns(cls: type, rows: Iterable[Any]) -> dict[str, Any]:
    """``rows`` (instances of the dataclass ``cls``) as one list per field; {} when there are none."""
    rows = list(rows)
    if not rows:
        return {}
    out: dict[str, Any] = {COUNT: len(rows)}
    for name in names(cls):
        out[name] = _column([getattr(r, name) for r in rows])
    return out


def rows(cls: type[R], data: dict[str, Any] | list[list[Any]]) -> list[R]:
    """Rebuild rows from their columns; a list is the first encoding's positional rows. Columns a newer
    encoding left out take the field's default (only trailing fields may have one)."""
    if isinstance(data, list):
        return [cls(*row) for row in data]
    if not data:
        return []
    n = data[COUNT]
    present = [(col if len(col) == n else col * n) for name in names(cls) if (col := data.get(name)) is not None]
    return [cls(*values) for values in zip(*present, strict=True)]
