"""The config reference, generated from the models: ``python -m detector.config_reference > docs/config.md``.

Everything comes from what validates a config: each pydantic model reachable from ``Config``, in the order a
reader meets it, with every field's key, type, default, constraints (from the field's metadata) and its
``Field(description=...)``; the detection settings (stdlib dataclasses in ``detections/``) with the type and
range ``detection_rule`` checks them against, their defaults and meaning being docs/detections.md's.
``tests/test_config_reference.py`` fails when docs/config.md is stale or a field has no description.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import annotated_types
from pydantic import AliasChoices, BaseModel, Strict, StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from detections.registry import DetectionSettings
from detector.config import Asn, Cidr, Config, detection_rule

COMMAND = "python -m detector.config_reference > docs/config.md"
DETECTIONS = "detection settings"  # the heading of their section


def models() -> dict[type[BaseModel], list[str]]:
    """Each model reachable from Config, in reading order, with the keys (``tenants[].read``) it is found at."""
    found: dict[type[BaseModel], list[str]] = {}

    def visit(model: type[BaseModel], at: str) -> None:
        found.setdefault(model, []).append(at)
        for name, field in model.model_fields.items():
            key = f"{at}.{name}" if at else name
            for inner, many in _models_in(field.annotation):
                visit(inner, key + ("[]" if many else ""))

    visit(Config, "")
    return found


def undescribed() -> list[str]:
    """``Model.field`` for every field without a description (the test fails on any)."""
    return [f"{m.__name__}.{n}" for m in models() for n, f in m.model_fields.items() if not f.description]


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        f"Generated from the code by `{COMMAND}`; do not edit by hand",
        "(`tests/test_config_reference.py` fails when this file is stale or a field has no description).",
        "An example config: [README](../README.md#running-against-your-okta-orgs); operating the daemon:",
        "[operations.md](operations.md).",
        "",
        "One YAML file: a regular UTF-8 file of at most 1 MiB, at most 64 levels deep. `detector check-config FILE`",
        "validates it and resolves every secret reference, naming the field and the reason for each problem (never",
        "the value of a secret); every command that reads the file does the same. An unknown key is an error.",
        "",
        '* *strict*: the value must already have the type in YAML: `true` is no number and `"10"` no count.',
        "* *finite*: `.inf` and `.nan` are refused.",
        "* A [SecretRef](#secretref) is `{env: NAME}` or `{file: PATH}`, never the secret itself: it is read at",
        "  startup (and on a reload), and loses one trailing line ending.",
    ]
    for model, places in models().items():
        lines += ["", f"## {model.__name__}", ""]
        doc = _first_paragraph(model.__doc__)
        if doc:
            lines += [doc, ""]
        at = ", ".join(f"`{p}`" for p in places if p) or "the top level of the file"
        lines += [f"At: {at}.", "", "| key | type | default | constraints | description |", "|---|---|---|---|---|"]
        lines += [_row(name, field) for name, field in model.model_fields.items()]
    lines += _detection_settings()
    return "\n".join(lines) + "\n"


def _row(name: str, field: FieldInfo) -> str:
    key = f"`{name}`"
    if isinstance(field.validation_alias, AliasChoices):
        others = [c for c in field.validation_alias.choices if c != name]
        key += "".join(f" (or `{c}`)" for c in others)
    notes = _constraints(field.annotation, field.metadata)
    if field.discriminator:
        notes.append(f"chosen by `{field.discriminator}`")
    cells = (key, _type(field.annotation), _default(field), "; ".join(notes) or "-", field.description or "")
    return _row_of(cells)


def _row_of(cells: tuple[str, ...]) -> str:
    """A table row; a ``|`` in a cell (a pattern's alternatives) is escaped, code spans included."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """The models an annotation holds, and whether inside a list."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
    elif origin is list:
        yield from ((m, True) for m, _ in _models_in(args[0]))
    elif origin is Annotated:
        yield from _models_in(args[0])
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
_ALIASES = {Cidr: "CIDR network (no host bits)", Asn: "AS number"}


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if any(annotation == alias for alias in _ALIASES):
        return next(name for alias, name in _ALIASES.items() if annotation == alias)
    if origin is Annotated:
        return _type(args[0])
    if origin in (Union, types.UnionType):
        given = [a for a in args if a is not type(None)]
        text = " or ".join(_type(a) for a in given)
        return text + (", optional" if len(given) < len(args) else "")
    if origin in (list, tuple, frozenset, set):
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        return "string"
    if annotation is DetectionSettings:
        return f"[{DETECTIONS}](#{DETECTIONS.replace(' ', '-')})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return _NAMES[annotation]


def _constraints(annotation: Any, metadata: list[Any], each: str = "") -> list[str]:
    """What the field's metadata (and its items') restrict, as short notes."""
    origin, args = get_origin(annotation), get_args(annotation)
    sized = "items" if origin in (list, tuple, frozenset, set) else "characters"
    notes = [note for item in metadata for note in _notes(item, sized)]
    if origin is Annotated:
        notes += _constraints(args[0], list(args[1:]))
    elif origin in (Union, types.UnionType):
        notes += [n for arg in args for n in _constraints(arg, [])]
    elif origin in (list, tuple, frozenset, set):
        notes += _constraints(args[0], [], "each ")
    elif origin is Literal:
        notes.append("one of " + ", ".join(f"`{a}`" for a in args))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        notes.append("one of " + ", ".join(f"`{m.value}`" for m in annotation))
    return [each + n for n in notes] if each else notes


def _notes(item: Any, sized: str) -> list[str]:
    if isinstance(item, FieldInfo):
        return [n for inner in item.metadata for n in _notes(inner, sized)]
    simple = {
        annotated_types.Gt: ("> {}", "gt"),
        annotated_types.Ge: ("≥ {}", "ge"),
        annotated_types.Lt: ("< {}", "lt"),
        annotated_types.Le: ("≤ {}", "le"),
    }
    if type(item) in simple:
        text, attr = simple[type(item)]
        return [text.format(_number(getattr(item, attr)))]
    if isinstance(item, annotated_types.MinLen):
        return [f"at least {_count(item.min_length, sized)}"]
    if isinstance(item, annotated_types.MaxLen):
        return [f"at most {_count(item.max_length, sized)}"]
    if isinstance(item, Strict):
        return ["strict"] if item.strict else []
    if isinstance(item, StringConstraints):
        notes = [f"at least {_count(item.min_length, 'characters')}"] if item.min_length else []
        return notes + (["trimmed"] if item.strip_whitespace else [])
    notes = []
    if getattr(item, "allow_inf_nan", None) is False:
        notes.append("finite")
    if getattr(item, "pattern", None):
        notes.append(f"matches `{item.pattern}`")
    return notes


def _count(n: int, things: str) -> str:
    return f"{n} {things if n != 1 else things.removesuffix('s')}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "its defaults"
    if isinstance(value, DetectionSettings):
        return "each detection's ([detections.md](detections.md))"
    if value is None:
        return "unset"
    return f"`{json.dumps(_plain(value))}`"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | frozenset):
        return [_plain(v) for v in value]
    return value


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _detection_settings() -> list[str]:
    """Each detection's settings by name, and the type and range each is checked against."""
    hints = get_type_hints(DetectionSettings)
    ranges: dict[tuple[str, str], list[str]] = {}
    lines = [
        "",
        f"## {DETECTIONS.capitalize()}",
        "",
        "At: `tenants[].detections`: a mapping from a detection's id to its settings, each optional (an unknown",
        "detection or setting is an error that lists the known ones). What each setting means and its default: the",
        "detection's section in [detections.md](detections.md). Egress networks and operators from `context` are",
        "merged into the `allowlist_*` settings that take them.",
        "",
        "| detection | settings |",
        "|---|---|",
    ]
    for detection in dataclasses.fields(DetectionSettings):
        settings = hints[detection.name]
        kinds = get_type_hints(settings)
        names = [f.name for f in dataclasses.fields(settings)]
        lines.append(_row_of((f"[`{detection.name}`](detections.md#{detection.name})", _codes(names))))
        for name in names:
            ranges.setdefault(setting_range(name, kinds[name]), []).append(name)
    lines += ["", "Their types and ranges, by setting:", "", "| type | constraints | settings |", "|---|---|---|"]
    for (kind, notes), names in ranges.items():
        lines.append(_row_of((kind, notes, _codes(dict.fromkeys(names)))))
    return lines


def setting_range(name: str, kind: Any) -> tuple[str, str]:
    """(type, constraints) the config checks the detection setting ``name: kind`` against (``-``: none)."""
    checked = detection_rule(name, kind) or kind
    return _type(checked), "; ".join(_constraints(checked, [])) or "-"


def _codes(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


if __name__ == "__main__":
    print(render(), end="")
