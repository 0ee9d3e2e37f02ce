"""Rows of a state as named columns: ``{"#": 3, "time": [...], "ip": ["10.0.0.1"]}``.

A state's rows (window entries, sightings, locations) are stored one list per field name, so every field is
named once per state rather than once per row (or, as before, not at all: a positional list that broke with
any change of field order). ``"#"`` is the number of rows; a column whose rows all hold one value is stored as
that one value in a list (a user's sign-ins mostly share their IP, network, place and device), and trailing
columns all at their field's default are left out. Decoding also reads the positional rows the first encoding
wrote.

A row class may name its columns shorter for storage (``COLUMNS: ClassVar[tuple[str, ...]]``, one per field, in
order): those are written, and the field names still read (what was stored before it had them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, fields
from functools import cache
from typing import Any, TypeVar

R = TypeVar("R")
COUNT = "#"


@cache
def names(cls: type) -> tuple[str, ...]:
    """A row dataclass's field names, in declaration order."""
    return tuple(f.name for f in fields(cls))


@cache
def stored(cls: type) -> tuple[str, ...]:
    """The column names a row dataclass is stored under: its ``COLUMNS`` when it has them, else its field names."""
    short = getattr(cls, "COLUMNS", None)
    if short is None:
        return names(cls)
    long = names(cls)
    clash = any(column != name and column in long for name, column in zip(long, short, strict=False))
    if len(short) != len(long) or len(set(short)) != len(short) or COUNT in short or clash:
        raise ValueError(f"{cls.__name__}.COLUMNS must name each field once, by no other field's name")
    return tuple(short)


def _column(values: list[Any]) -> list[Any]:
    first = values[0]
    return [first] if all(v == first and type(v) is type(first) for v in values) else values


def columns(cls: type, rows: Iterable[Any]) -> dict[str, Any]:
    """``rows`` (instances of the dataclass ``cls``) as one list per field; {} when there are none."""
    rows = list(rows)
    if not rows:
        return {}
    out: dict[str, Any] = {COUNT: len(rows)}
    for name, column in zip(names(cls), stored(cls), strict=True):
        out[column] = _column([getattr(r, name) for r in rows])
    for column, default in reversed(_defaults(cls)):  # trailing columns all at their default: left out
        held = out[column]
        if len(held) != 1 or held[0] != default or type(held[0]) is not type(default):
            break
        del out[column]
    return out


@cache
def _defaults(cls: type) -> tuple[tuple[str, object], ...]:  # object, not Any: mypyc fails on reversed() of Any's
    """(stored name, default) of the trailing fields that have a plain default, in order."""
    out: list[tuple[str, object]] = []
    for f, column in zip(fields(cls), stored(cls), strict=True):
        if f.default is MISSING:
            out.clear()
        else:
            out.append((column, f.default))
    return tuple(out)


def _long(cls: type, data: dict[str, Any]) -> bool:
    """The table was written under the field names: one that its short name differs from is there."""
    return any(name in data for name, column in zip(names(cls), stored(cls), strict=True) if name != column)


def rows(cls: type[R], data: dict[str, Any] | list[list[Any]]) -> list[R]:
    """Rebuild rows from their columns; a list is the first encoding's positional rows. Columns a newer
    encoding left out take the field's default (only trailing fields may have one)."""
    if isinstance(data, list):
        return [cls(*row) for row in data]
    if not data:
        return []
    n = data[COUNT]
    row_type: type = cls  # as the memoised helpers take it (mypy: a type[R] is not Hashable)
    spelled = names(row_type) if _long(row_type, data) else stored(row_type)
    present = [(col if len(col) == n else col * n) for name in spelled if (col := data.get(name)) is not None]
    return [cls(*values) for values in zip(*present, strict=True)]
