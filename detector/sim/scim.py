"""The SCIM filter subset the System Log accepts (`filter=`), parsed once and evaluated per event.

Grammar: expr := term ("or" term)* ; term := factor ("and" factor)* ;
factor := "not"? "(" expr ")" | path "pr" | path OP value ; OP in eq ne co sw ew gt ge lt le.
String comparisons are case-insensitive (SCIM's default `caseExact=false`). A path that crosses a
list (e.g. `target.id`) matches if any element matches, as SCIM multi-valued attributes do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z0-9_.:\-+]+)|(?P<bad>\S))')
_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NO_CO = {"debugcontext.debugdata.url", "debugcontext.debugdata.requesturi"}


class FilterError(ValueError):
    """The filter can't be parsed or uses an unsupported field/operator. `code` is the Okta errorCode."""

    def __init__(self, message: str, code: str = "E0000053") -> None:
        super().__init__(message)
        self.code = code


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.lastgroup is None or m.lastgroup == "bad":
            raise FilterError(f"Invalid filter: unexpected character at {pos}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


def values_at(obj: Any, path: list[str]) -> Iterator[Any]:
    """Every value reachable at a dotted path, descending into lists."""
    if isinstance(obj, list):
        for item in obj:
            yield from values_at(item, path)
        return
    if not path:
        yield obj
        return
    if isinstance(obj, dict):
        key = path[0]
        if key in obj:
            yield from values_at(obj[key], path[1:])
        else:  # attribute names are case-insensitive in SCIM
            for k, v in obj.items():
                if k.lower() == key.lower():
                    yield from values_at(v, path[1:])


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if expected is None:
        return op in ("eq", "ne") and ((actual is None) == (op == "eq"))
    if actual is None or isinstance(actual, dict | list):
        return op == "ne"
    a: Any
    e: Any
    if isinstance(expected, bool):
        a, e = str(actual).lower(), str(expected).lower()
    elif isinstance(expected, str):
        a, e = str(actual).lower(), expected.lower()
    else:
        try:
            a, e = float(actual), float(expected)
        except (TypeError, ValueError):
            return False
    match op:
        case "eq":
            return a == e
        case "ne":
            return a != e
        case "co":
            return isinstance(a, str) and e in a
        case "sw":
            return isinstance(a, str) and a.startswith(e)
        case "ew":
            return isinstance(a, str) and a.endswith(e)
        case "gt":
            return a > e
        case "ge":
            return a >= e
        case "lt":
            return a < e
        case _:
            return a <= e


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek_word(self) -> str | None:
        if self.i < len(self.toks) and self.toks[self.i][0] == "word":
            return self.toks[self.i][1].lower()
        return None

    def take(self, kind: str) -> str:
        if self.i >= len(self.toks) or self.toks[self.i][0] != kind:
            raise FilterError("Invalid filter: unexpected end or token")
        self.i += 1
        return self.toks[self.i - 1][1]

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek_word() == "or":
            self.i += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda ev, ps=tuple(parts): any(p(ev) for p in ps))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek_word() == "and":
            self.i += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda ev, ps=tuple(parts): all(p(ev) for p in ps))

    def factor(self) -> Predicate:
        if self.peek_word() == "not":
            self.i += 1
            inner = self.group()
            return lambda ev: not inner(ev)
        if self.i < len(self.toks) and self.toks[self.i][0] == "lp":
            return self.group()
        return self.comparison()

    def group(self) -> Predicate:
        self.take("lp")
        inner = self.expr()
        self.take("rp")
        return inner

    def comparison(self) -> Predicate:
        path = self.take("word")
        if not _PATH.match(path) or path.lower() in {"and", "or", "not"}:
            raise FilterError(f"Invalid filter: bad attribute path {path!r}")
        if path.lower() == "published":
            raise FilterError("Invalid filter: published can't be used in a filter; use since/until")
        op = self.take("word").lower()
        keys = path.split(".")
        if op == "pr":
            return lambda ev: any(v is not None for v in values_at(ev, keys))
        if op not in _OPS:
            raise FilterError(f"Invalid filter: unknown operator {op!r}")
        if op == "co" and path.lower() in _NO_CO:
            raise FilterError(f"Invalid search criteria: co is not supported on {path}", code="E0000031")
        expected = self.literal()
        return lambda ev: any(_compare(op, v, expected) for v in values_at(ev, keys))

    def literal(self) -> Any:
        kind, text = self.toks[self.i] if self.i < len(self.toks) else ("end", "")
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "word":
            low = text.lower()
            if low in {"true", "false"}:
                return low == "true"
            if low == "null":
                return None
            try:
                return float(text)
            except ValueError:
                pass
        raise FilterError("Invalid filter: expected a quoted string, number, true, false or null")


def parse_filter(text: str) -> Predicate:
    """Compile a SCIM filter; raises FilterError (→ HTTP 400) when Okta would reject it."""
    if not text.strip():
        raise FilterError("Invalid filter: empty")
    parser = _Parser(_tokens(text))
    pred = parser.expr()
    if parser.i != len(parser.toks):
        raise FilterError("Invalid filter: trailing tokens")
    return pred


def leaf_strings(obj: Any) -> Iterator[str]:
    """All scalar values of an event as lower-case strings, for `q=` keyword search."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from leaf_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaf_strings(v)
    elif obj is not None:
        yield str(obj).lower()
