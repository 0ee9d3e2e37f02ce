"""YAML someone else may have written: bounded nesting and alias expansion, errors without the text.

``yaml.safe_load`` composes nodes recursively (10 000 nested ``[`` raise RecursionError) and shares
aliased nodes, so a few lines of "billion laughs" aliases grow into a structure that validation then
walks for ever. One pass over the parser's events (a state machine, no recursion) measures both first.
A YAML error names its line and column only: PyYAML's own message quotes the offending line, which
may be a secret pasted in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 64  # a config is 6 levels deep
MAX_NODES = 100_000  # scalars and collections once aliases are expanded


class YamlRefused(ValueError):
    """Not usable YAML; the message gives the reason and a position, never the text."""


def load_yaml(text: str) -> Any:
    try:
        _check_size(text)
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise YamlRefused(f"not valid YAML{_at(exc.problem_mark or exc.context_mark)}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlRefused(f"not valid YAML: a character YAML does not allow at line {line}, column {column}") from None
    except yaml.YAMLError:
        raise YamlRefused("not valid YAML") from None


@dataclass(slots=True)
class _Open:
    """A collection being parsed: its anchor and its size so far, aliases expanded."""

    anchor: str | None
    size: int = 1


def _check_size(text: str) -> None:
    open_nodes: list[_Open] = []
    sizes: dict[str, int] = {}  # anchor: expanded size of its node
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            open_nodes.append(_Open(event.anchor))
            if len(open_nodes) > MAX_DEPTH:
                raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep{_at(event.start_mark)}")
            continue
        if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            closed = open_nodes.pop()
            anchor, size = closed.anchor, closed.size
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if any(node.anchor == event.anchor for node in open_nodes):
                raise YamlRefused(f"an alias inside the node it refers to{_at(event.start_mark)}")
            anchor, size = None, sizes.get(event.anchor, 1)  # undefined: safe_load reports it
        else:
            continue
        if size > MAX_NODES:
            raise YamlRefused(f"aliases expand to more than {MAX_NODES} values{_at(event.start_mark)}")
        if anchor is not None:
            sizes[anchor] = size
        if open_nodes:
            open_nodes[-1].size += size


def _at(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
