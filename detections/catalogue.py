"""What the code says about each detection: the facts ``detector detections`` and docs/detections.md show.

Everything comes from what runs: the registry's detections in order, each one's ``id``,
``keyed_by_actor`` and ``human_only``, the defaults of its config dataclass (with the comment written
beside each field), the first paragraph of its module docstring (its title is the part before a colon), and,
read from the source of its class and base classes, the finding ids it emits (the ``detection=`` given to a
finding), the MITRE ATT&CK technique ids it names, the evidence classes it scores and the actions it offers
(``Action.X``; confidence.py's gates decide which a finding earns). The tiers its findings reach come from the
labelled corpus (detections/corpus.py) at default settings. The daemon adds what only it knows (the range the
config checks each setting against, quarantine) in detector/catalogue.py, which renders both.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import io
import re
import sys
import tokenize
from typing import Any, TypeVar

from detections.baseline import Baseline, BaselineConfig
from detections.confidence import Action, EvidenceClass, Tier
from detections.registry import DetectionSettings, build_detections

E = TypeVar("E", bound=enum.Enum)
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


@dataclasses.dataclass(frozen=True)
class Entry:
    id: str
    title: str
    module: str
    summary: str
    findings: tuple[str, ...]
    mitre: tuple[str, ...]
    evidence: tuple[EvidenceClass, ...]  # the classes it scores, in the enum's order
    actions: tuple[Action, ...]  # what it offers, least regret first
    keyed_by_actor: bool
    human_only: bool
    config: str
    defaults: tuple[tuple[str, str, str], ...]  # (field, default, comment)


def entries() -> list[Entry]:
    configs = {f.name: f.default_factory() for f in dataclasses.fields(DetectionSettings)}  # type: ignore[misc]
    out = []
    for detection in build_detections():
        cls = type(detection)
        module = sys.modules[cls.__module__]
        config = configs[cls.id]
        summary = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
        out.append(
            Entry(
                id=cls.id,
                title=summary.split(": ", 1)[0].rstrip("."),
                module=cls.__module__.replace(".", "/") + ".py",
                summary=summary,
                findings=finding_names()[cls.id],
                mitre=_techniques(cls),
                evidence=_members(cls, EvidenceClass),
                actions=_members(cls, Action),
                keyed_by_actor=bool(cls.keyed_by_actor),
                human_only=bool(getattr(cls, "human_only", False)),
                config=type(config).__name__,
                defaults=_defaults(config),
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class Shared:
    """What detections share and a tenant tunes like one (the behavioural baseline): not a detection."""

    id: str  # its key under tenants[].detections
    module: str
    summary: str
    readers: tuple[str, ...]  # the detections that read it
    config: str
    defaults: tuple[tuple[str, str, str], ...]  # (field, default, comment)


def baseline() -> Shared:
    module = sys.modules[Baseline.__module__]
    return Shared(
        id="baseline",
        module=Baseline.__module__.replace(".", "/") + ".py",
        summary=" ".join((module.__doc__ or "").strip().split("\n\n")[0].split()),
        readers=tuple(d.id for d in build_detections() if getattr(d, "reads_baseline", False)),
        config=BaselineConfig.__name__,
        defaults=_defaults(BaselineConfig()),
    )


@functools.cache
def finding_names() -> dict[str, tuple[str, ...]]:
    """Each detection's id -> the finding names it emits (a finding's ``detection``), read from the source as
    the catalogue shows them: what the metrics start at 0 (mfa_fatigue emits mfa_push_bombing and
    mfa_push_accepted, never mfa_fatigue)."""
    return {type(d).id: _finding_ids(type(d)) for d in build_detections()}


def _finding_ids(cls: type) -> tuple[str, ...]:
    """String values of every ``detection=`` keyword in the class's (and its bases') modules, in source order."""
    found: list[str] = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("detections."):
            continue
        module = sys.modules[klass.__module__]
        tree = _tree(klass.__module__)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        keywords = [n for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "detection"]
        for node in sorted(keywords, key=lambda n: (n.lineno, n.col_offset)):
            found += _strings(node.value, cls, module, tree, parents, 3)
    return tuple(dict.fromkeys(found))


def _strings(node: ast.AST, cls: type, module: Any, tree: ast.AST, parents: dict, depth: int) -> list[str]:
    """The string values an expression can take, in source order: literals, ``self.id``, conditionals,
    f-strings, module constants, local assignments and (``depth`` calls up) the arguments passed for a
    parameter."""
    again = lambda n: _strings(n, cls, module, tree, parents, depth)  # noqa: E731
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Attribute) and node.attr == "id" and getattr(node.value, "id", None) == "self":
        return [cls.id]  # type: ignore[attr-defined]
    if isinstance(node, ast.IfExp):
        return again(node.body) + again(node.orelse)
    if isinstance(node, ast.JoinedStr):
        values = [""]
        for part in node.values:
            options = again(part.value) if isinstance(part, ast.FormattedValue) else again(part)
            values = [v + o for v in values for o in options]
        return values
    if not isinstance(node, ast.Name):
        return []
    if isinstance(getattr(module, node.id, None), str):
        return [getattr(module, node.id)]
    func = parents.get(node)
    while func is not None and not isinstance(func, ast.FunctionDef):
        func = parents.get(func)
    if func is None or depth == 0:
        return []
    out: list[str] = []
    for n in ast.walk(func):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets):
            out += again(n.value)
    params = [a.arg for a in func.args.args]
    if node.id in params:
        index = params.index(node.id) - (1 if params[:1] == ["self"] else 0)
        calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and _called(c) == func.name]
        for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
            args = [kw.value for kw in call.keywords if kw.arg == node.id]
            args += call.args[index : index + 1] if 0 <= index < len(call.args) else []
            for arg in args:
                out += _strings(arg, cls, module, tree, parents, depth - 1)
    return out


def _called(call: ast.Call) -> str | None:
    """The name a call calls: ``f`` for ``f(...)`` and ``self.f(...)``."""
    return getattr(call.func, "attr", None) or getattr(call.func, "id", None)


@functools.cache
def tiers_reached() -> dict[str, tuple[Tier, ...]]:
    """Detection id -> the tiers its expected findings reach (every revision) on the corpus's attack cases at
    default settings, known gaps left out, lowest first: what a tenant that changes nothing sees."""
    from detections import corpus, scoring  # scoring maps findings to detections with finding_names()

    owner = {name: detection for detection, names in finding_names().items() for name in names}
    reached: dict[str, set[Tier]] = {}
    for outcome in scoring.run(c for c in corpus.cases() if not c.trap and not c.gap):
        for finding, tier in outcome.tiers:
            reached.setdefault(owner[finding], set()).add(tier)
    return {detection: tuple(t for t in Tier if t in tiers) for detection, tiers in reached.items()}


@functools.cache
def _tree(module: str) -> ast.Module:
    """A module's parsed source, once per process: every column reads the same trees."""
    return ast.parse(inspect.getsource(sys.modules[module]))


@functools.cache
def _names(module: str) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """What a module names, walked once: its ``Name.attr`` attributes and its string literals."""
    attributes, strings = set(), set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            attributes.add((node.value.id, node.attr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return frozenset(attributes), frozenset(strings)


def _modules(cls: type) -> list[str]:
    return [k.__module__ for k in cls.__mro__ if k.__module__.startswith("detections.")]


def _members(cls: type, enum: type[E]) -> tuple[E, ...]:
    """The members of ``enum`` the class's modules name (``Action.CLEAR_SESSIONS``), in the enum's order."""
    named = {attr for module in _modules(cls) for owner, attr in _names(module)[0] if owner == enum.__name__}
    return tuple(m for m in enum if m.name in named)  # type: ignore[attr-defined]


def _techniques(cls: type) -> tuple[str, ...]:
    """MITRE technique ids (``T1621``, ``T1078.004``) written as string literals in the class's modules."""
    found = {text for module in _modules(cls) for text in _names(module)[1] if _TECHNIQUE.fullmatch(text)}
    return tuple(sorted(found, key=lambda t: [int(x) for x in t[1:].split(".")]))


def _defaults(config: Any) -> tuple[tuple[str, str, str], ...]:
    """(field, default, the comment on the field's line or the comment lines just above it)."""
    source = inspect.getsource(type(config))
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    lines = source.splitlines()
    code_lines = {i + 1 for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")}
    spans = {
        node.target.id: (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    out = []
    for f in dataclasses.fields(config):
        first, last = spans.get(f.name, (0, -1))
        note = [comments[i] for i in range(first, last + 1) if i in comments]
        if not note:
            above, i = [], first - 1
            while i in comments and i not in code_lines:
                above.insert(0, comments[i])
                i -= 1
            note = above
        out.append((f.name, _value(getattr(config, f.name)), " ".join(note)))
    return tuple(out)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, set | frozenset):
        return "[" + ", ".join(sorted(_value(v) for v in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_value(k)}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)
