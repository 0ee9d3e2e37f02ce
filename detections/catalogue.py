"""The detection catalogue, generated from the code: ``python -m detections.catalogue > docs/detections.md``.

Everything comes from what runs: the registry's detections in order, each one's ``id``,
``keyed_by_actor`` and ``human_only``, the defaults of its config dataclass (with the comment written
beside each field), the first paragraph of its module docstring, and, read from the source of its class
and base classes, the finding ids it emits (the ``detection=`` given to a finding) and the MITRE ATT&CK
technique ids it names. ``detections/catalogue_test.py`` fails when docs/detections.md is stale.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import re
import sys
import tokenize
from typing import Any

from detections.baseline import Baseline, BaselineConfig
from detections.registry import DetectionSettings, build_detections

COMMAND = "python -m detections.catalogue > docs/detections.md"
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


@dataclasses.dataclass(frozen=True)
class Entry:
    id: str
    module: str
    summary: str
    findings: tuple[str, ...]
    mitre: tuple[str, ...]
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
        out.append(
            Entry(
                id=cls.id,
                module=cls.__module__.replace(".", "/") + ".py",
                summary=" ".join((module.__doc__ or "").strip().split("\n\n")[0].split()),
                findings=finding_names()[cls.id],
                mitre=_techniques(cls),
                keyed_by_actor=bool(cls.keyed_by_actor),
                human_only=bool(getattr(cls, "human_only", False)),
                config=type(config).__name__,
                defaults=_defaults(config),
            )
        )
    return out


@functools.cache
def finding_names() -> dict[str, tuple[str, ...]]:
    """Each detection's id -> the finding names it emits (a finding's ``detection``), read from the source as
    the catalogue shows them: what the metrics start at 0 (mfa_fatigue emits mfa_push_bombing and
    mfa_push_accepted, never mfa_fatigue)."""
    return {type(d).id: _finding_ids(type(d)) for d in build_detections()}


def render() -> str:
    rows = entries()
    lines = [
        "# Detection catalogue",
        "",
        f"Generated from the code by `{COMMAND}`; do not edit by hand",
        "(`detections/catalogue_test.py` fails when this file is stale). How findings are scored and",
        "when they may act: [architecture](architecture.md#findings-and-the-confidence-model).",
        "",
        "*Keyed by actor*: the detection's state follows the user who acted, so in Kafka mode it runs in the",
        "partition of `okta.events` that holds the event; otherwise its events are re-keyed by its own state key",
        "(IP, login, target, tenant) first. *Human only*: the tenant's listed service accounts never reach it.",
        "",
        "| detection | findings | MITRE ATT&CK | keyed by actor | human only |",
        "|---|---|---|---|---|",
    ]
    for e in rows:
        lines.append(
            f"| [`{e.id}`](#{e.id}) | {_codes(e.findings)} | {', '.join(e.mitre) or '-'} "
            f"| {_yes(e.keyed_by_actor)} | {_yes(e.human_only)} |"
        )
    for e in rows:
        lines += [
            "",
            f"## {e.id}",
            "",
            e.summary,
            "",
            f"* Source: [`{e.module}`](../{e.module})",
            f"* Findings: {_codes(e.findings)}",
            f"* MITRE ATT&CK: {', '.join(e.mitre) or '-'}",
            f"* Keyed by actor: {_yes(e.keyed_by_actor)}; human only: {_yes(e.human_only)}",
            f"* Settings (`{e.config}`; per tenant in the config file under `tenants[].detections.{e.id}`):",
            "",
            "| setting | default | note |",
            "|---|---|---|",
        ]
        lines += [f"| `{name}` | `{_cell(value)}` | {_cell(note)} |" for name, value, note in e.defaults]
    return "\n".join(lines + _baseline_section()) + "\n"


def _baseline_section() -> list[str]:
    """The per-user profile the detections share: not a detection, but its settings are tuned like one."""
    module = sys.modules[Baseline.__module__]
    readers = [f"[`{d.id}`](#{d.id})" for d in build_detections() if getattr(d, "reads_baseline", False)]
    lines = [
        "",
        "## baseline",
        "",
        " ".join((module.__doc__ or "").strip().split("\n\n")[0].split()),
        "",
        f"* Source: [`detections/baseline.py`](../detections/baseline.py); read by {', '.join(readers)}",
        "* Settings (`BaselineConfig`; per tenant in the config file under `tenants[].detections.baseline`):",
        "",
        "| setting | default | note |",
        "|---|---|---|",
    ]
    return lines + [f"| `{n}` | `{_cell(v)}` | {_cell(note)} |" for n, v, note in _defaults(BaselineConfig())]


def _finding_ids(cls: type) -> tuple[str, ...]:
    """String values of every ``detection=`` keyword in the class's (and its bases') modules, in source order."""
    found: list[str] = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("detections."):
            continue
        module = sys.modules[klass.__module__]
        tree = ast.parse(inspect.getsource(module))
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


def _techniques(cls: type) -> tuple[str, ...]:
    """MITRE technique ids (``T1621``, ``T1078.004``) written as string literals in the class's modules."""
    found: dict[str, None] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("detections."):
            tree = ast.parse(inspect.getsource(sys.modules[klass.__module__]))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _TECHNIQUE.fullmatch(node.value):
                    found[node.value] = None
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


def _codes(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.buffer.write(render().encode("utf-8"))  # UTF-8 whatever the locale (the notes hold → and Δ)
