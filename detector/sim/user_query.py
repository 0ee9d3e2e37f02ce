"""The `search` / `filter` expressions of `GET /api/v1/users`, for the part of Okta's grammar a sync uses.

`status eq "DEPROVISIONED"` (the plain list leaves deprovisioned users out, so a sync asks for them),
`lastUpdated gt "2026-05-01T00:00:00.000Z"` (an incremental read), joined with `and` / `or` (`and` binds
tighter; no parentheses). Attributes: id, status, created, activated, lastUpdated, lastLogin,
statusChanged, passwordChanged, profile.login, profile.email, profile.firstName, profile.lastName;
operators eq, ne, gt, ge, lt, le, sw (starts with), pr (present). Anything else is Okta's
400 E0000031 "Invalid search criteria.". Strings compare case-insensitively, times as instants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from detector.sim.directory import UserRecord
from detector.sim.errors import OktaError
from detector.sim.timefmt import parse_iso

_TIMES = {
    "created": "created",
    "activated": "activated",
    "lastUpdated": "last_updated",
    "lastLogin": "last_login",
    "statusChanged": "status_changed",
    "passwordChanged": "password_changed",
}
_TEXTS = {
    "id": "id",
    "status": "status",
    "profile.login": "login",
    "profile.email": "email",
    "profile.firstName": "first_name",
    "profile.lastName": "last_name",
}
_TERM = re.compile(r'\s*([A-Za-z.]+)\s+(eq|ne|gt|ge|lt|le|sw)\s+"((?:[^"\\]|\\.)*)"\s*|\s*([A-Za-z.]+)\s+(pr)\s*')
_JOIN = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "sw": lambda a, b: a.startswith(b),
}
MAX_EXPRESSION = 2000

Predicate = Callable[[UserRecord], bool]


def _invalid(why: str) -> OktaError:
    return OktaError("E0000031", causes=[why[:200]])


def _term(text: str) -> Predicate:
    match = _TERM.fullmatch(text)
    if match is None:
        raise _invalid(f"cannot parse {text.strip()!r}")
    attr, op, raw = (match.group(1), match.group(2), match.group(3)) if match.group(1) else (match.group(4), "pr", "")
    field = _TIMES.get(attr) or _TEXTS.get(attr)
    if field is None:
        raise _invalid(f"unsupported attribute {attr!r}")
    if op == "pr":
        return lambda u: getattr(u, field) not in (None, "")
    if attr in _TIMES:
        if op == "sw":
            raise _invalid(f"sw does not apply to {attr}")
        try:
            instant = parse_iso(raw)
        except ValueError:
            raise _invalid(f"{attr}: not a timestamp") from None
        compare = _COMPARE[op]
        return lambda u: (v := getattr(u, field)) is not None and compare(v, instant)
    wanted, compare = raw.replace('\\"', '"').lower(), _COMPARE[op]
    return lambda u: compare(str(getattr(u, field)).lower(), wanted)


def parse(expression: str) -> Predicate:
    """A predicate over users, or the OktaError Okta answers an expression it cannot use."""
    if not expression.strip() or len(expression) > MAX_EXPRESSION:
        raise _invalid("empty or too long")
    pieces = _JOIN.split(expression)
    terms, joins = pieces[0::2], [j.lower() for j in pieces[1::2]]
    alternatives: list[list[Predicate]] = [[_term(terms[0])]]
    for join, text in zip(joins, terms[1:], strict=True):
        if join == "or":
            alternatives.append([])
        alternatives[-1].append(_term(text))
    return lambda u: any(all(p(u) for p in conjunction) for conjunction in alternatives)
