"""Rows of a state as named columns: ``{"time": [...], "uuid": [...]}``.

A state's rows (window entries, sightings, locations) are stored one list per field name, so every field is
named once per state rather than once per row (or, as before, not at all: a positional list that broke with
any change of field order). Decoding also reads the positional rows the first encoding wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

R = TypeVar("R")


@cache
def names(cls: type) -> tuple[str, ...]:
    """A row dataclass's field names, in declaration order."""
    return tuple(f.name for f in fields(cls))


def columns(cls: type, rows: Iterable[Any]) -> dict[str, list[Any]]:
    """``rows`` (instances of the dataclass ``cls``) as one list per field; {} when there are none."""
    rows = list(rows)
    if not rows:
        return {}
    return {name: [getattr(r, name) for r in rows] for name in names(cls)}


def rows(cls: type[R], data: dict[str, list[Any]] | list[list[Any]]) -> list[R]:
    """Rebuild rows from their columns; a list is the first encoding's positional rows. Columns a newer
    encoding left out take the field's default (only trailing fields may have one)."""
    if isinstance(data, list):
        return [cls(*row) for row in data]
    present = [data[name] for name in names(cls) if name in data]
    return [cls(*values) for values in zip(*present, strict=True)]
