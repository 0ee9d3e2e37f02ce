"""One actor's state for every actor-keyed detection, under one store key.

The detections keyed by actor see the same events (Kafka: the actor's partition of okta.events), so their
states live together: ``actor|<actor id>`` → ``{part: {key: state}}`` (a part is a detection id, or any other
per-actor state the engine keeps). An event then costs one store write, one changelog record in Kafka mode,
instead of one per detection it touched. Parts stay encoded until a detection asks for them, and each keeps
its horizon (``expires_at``) beside it, so the record's own horizon and the pruning of dead parts need no
decoding.

Encoding (version 2): ``{"v": 2, "p": {part: {key: {"x": horizon or null (never), "s": state}}}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from detections.lifecycle import NEVER, horizon

PREFIX = "actor|"
VERSION = 2

Loader = Callable[[dict[str, Any]], Any]


class _Part:
    __slots__ = ("_horizon", "data", "owner", "state")

    def __init__(
        self, horizon: float | None, state: Any = None, data: dict[str, Any] | None = None, owner: Any = None
    ) -> None:
        self._horizon = horizon  # None: not known since the last write, asked of ``owner`` when needed
        self.state = state  # decoded, or None while only ``data`` is held
        self.data = data
        self.owner = owner  # the detection (or baseline) whose ``expires_at`` says when the state is dead

    @property
    def horizon(self) -> float:
        if self._horizon is None:
            at = getattr(self.owner, "expires_at", None)
            horizon = None if at is None else at(self.state)
            self._horizon = NEVER if horizon is None else horizon
        return self._horizon

    def encoded(self) -> dict[str, Any]:
        return self.state.to_dict() if self.state is not None else self.data or {}


class ActorRecord:
    """The parts of one actor's state; ``changed`` says whether a write is owed to the store."""

    __slots__ = ("_parts", "changed")

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, _Part]] = {}
        self.changed = False

    def get(self, part: str, key: str, load: Loader) -> Any | None:
        """The decoded state, or None when the record has none for (part, key)."""
        keys = self._parts.get(part)
        held = None if keys is None else keys.get(key)
        if held is None:
            return None
        if held.state is None:
            held.state, held.data = load(held.data or {}), None
        return held.state

    def put(self, part: str, key: str, state: Any, owner: Any) -> None:
        """The state ``owner`` (a detection) keeps under ``key``; its horizon is asked when next needed."""
        keys = self._parts.get(part)
        if keys is None:
            keys = self._parts[part] = {}
        held = keys.get(key)
        if held is not None and held.state is state:  # the usual case: the state read for this event, updated
            held._horizon, held.owner = None, owner
        else:
            keys[key] = _Part(None, state, owner=owner)
        self.changed = True

    def prune(self, mark: float) -> None:
        """Drop the parts whose horizon is before ``mark`` (event time)."""
        for part, keys in list(self._parts.items()):
            for key in [k for k, held in keys.items() if held.horizon < mark]:
                del keys[key]
                self.changed = True
            if not keys:
                del self._parts[part]

    def expires_at(self) -> float | None:
        """The latest horizon of its parts: when the whole record is dead (None: never)."""
        at = horizon(*(held.horizon for keys in self._parts.values() for held in keys.values()))
        return None if at == NEVER else at

    def items(self) -> Iterator[tuple[str, str]]:
        """(part, key) of every state held."""
        for part, keys in self._parts.items():
            for key in keys:
                yield part, key

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._parts.values())

    def __bool__(self) -> bool:
        return True  # a record is a record, held or not

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "p": {
                part: {k: {"x": None if h.horizon == NEVER else h.horizon, "s": h.encoded()} for k, h in keys.items()}
                for part, keys in self._parts.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActorRecord:
        if data.get("v") != VERSION:
            raise ValueError(f"actor record version {data.get('v')!r}, expected {VERSION}")
        record = cls()
        for part, keys in data["p"].items():
            record._parts[part] = {
                k: _Part(NEVER if e["x"] is None else float(e["x"]), data=e["s"]) for k, e in keys.items()
            }
        return record
