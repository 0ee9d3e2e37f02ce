"""Parsers for the string-encoded values Okta puts in ``debugContext.debugData``.

Okta serialises maps in two ways: Java ``Map.toString()`` text such as
``"{New Device=POSITIVE, New IP=NEGATIVE}"`` (``behaviors``, ``risk``) and JSON
strings (``logOnlySecurityData``, ``threatDetections``, ``tunnels``). Values inside
the Java form may themselves contain ", " (``reasons=Anomalous Device, Anomalous
Location``), so a naive split on commas silently corrupts them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

# A key is a run of word characters, spaces, dots and dashes directly followed by "=".
_KEY_AT = re.compile(r"(?:^|,\s*)([A-Za-z][\w .\-]*?)=")


def parse_kv_map(value: Any) -> dict[str, str]:
    """Parse ``"{k=v, k2=v2}"`` into a dict; tolerate dicts, None and junk.

    A comma only ends a value when what follows looks like ``key=``, so commas
    inside values survive (``reasons=Anomalous Device, Anomalous Location``).
    """
    if isinstance(value, dict):
        return {str(k): _stringify(v) for k, v in value.items()}
    if not isinstance(value, str):
        return {}
    return dict(_parse_kv_text(value))  # a copy: the memoised map is shared


@functools.lru_cache(maxsize=1024)
def _parse_kv_text(value: str) -> dict[str, str]:
    """Memoised: a tenant's ``behaviors`` / ``risk`` strings take a few dozen distinct values (bounded, so distinct
    attacker-typed strings cost only the parse they would anyway)."""
    text = value.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not text:
        return {}
    if text.startswith(("{", "[", '"')):
        return parse_json_map(value)
    matches = list(_KEY_AT.finditer(text))
    result: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        result[match.group(1).strip()] = text[match.end() : end].strip()
    return result


def parse_json_map(value: Any) -> dict[str, Any]:
    """Parse a JSON-object string; a dict passes through; anything else is empty."""
    if isinstance(value, dict):
        return value
    parsed = _loads(value)
    return parsed if isinstance(parsed, dict) else {}


def parse_json_list(value: Any) -> list[Any]:
    """Parse a JSON-array string (``tunnels``); a list passes through."""
    if isinstance(value, list):
        return value
    parsed = _loads(value)
    return parsed if isinstance(parsed, list) else []


def parse_bool(value: Any) -> bool:
    """Okta writes booleans as the strings ``"true"``/``"false"``."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _loads(value: Any) -> Any:
    if not isinstance(value, str | bytes) or not value:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _stringify(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
