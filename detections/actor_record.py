"""One actor's state for every actor-keyed detection, under one store key.

The detections keyed by actor see the same events (Kafka: the actor's partition of okta.events), so their
states live together: ``actor|<actor id>`` → ``{part: {key: state}}`` (a part is a detection id, or any other
per-actor state the engine keeps). An event then costs one store write, one changelog record in Kafka mode,
instead of one per detection it touched. Parts stay encoded until a detection asks for them, and each keeps
its horizon (``expires_at``) beside it, so the record's own horizon and the pruning of dead parts need no
decoding.

The record also holds the actor's one replay guard (``common.ReplayGuard``): the engine asks it once per event
before any detection keyed by actor runs, so an event delivered again is judged by none of them, and no part
keeps a guard of its own (the same uuids, once per detection, were most of a record).

Encoding (version 3): ``{"v": 3, "g": guard, "p": {part: {key: [horizon or null (never), state]}}}``; when every
part holds one state under one key (an ordinary user: the actor id), ``{"v": 3, "g": guard, "k": key,
"p": {part: [horizon, state]}}``, ``"k"`` left out when it is the actor id of the record's store key. ``"g"`` is
left out when the guard is empty. Version 2 (``{"v": 2, "p": {part:
{key: {"x": horizon, "s": state}}}}``, a guard in each part) still reads: its parts' guards become the record's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from detections.common import UNTIMED, ReplayGuard
from detections.lifecycle import NEVER, horizon

PREFIX = "actor|"
VERSION = 3
READ = frozenset({2, 3})  # the versions from_dict reads

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

    __slots__ = ("_parts", "actor", "changed", "guard")

    def __init__(self, actor: str | None = None) -> None:
        self._parts: dict[str, dict[str, _Part]] = {}
        self.changed = False
        self.guard = ReplayGuard()
        self.actor = actor  # the actor id of its store key, when known: the one key of its parts is not repeated

    def replayed(self, uuid: str, time: float) -> bool:
        """Record the event; True when the actor's detections already judged it (the record is written when
        any of them keeps state, so a guard entry is durable whenever the state it guards is)."""
        return self.guard.replayed(uuid, time)

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
        out: dict[str, Any] = {"v": VERSION}
        if self.guard:
            out["g"] = self.guard.to_dict()
        keys = {key for held in self._parts.values() for key in held}
        if len(keys) == 1 and all(len(held) == 1 for held in self._parts.values()):
            (key,) = keys
            if key != self.actor:
                out["k"] = key
            out["p"] = {part: _entry(held[key]) for part, held in self._parts.items()}
        else:
            out["p"] = {part: {k: _entry(h) for k, h in held.items()} for part, held in self._parts.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], actor: str | None = None) -> ActorRecord:
        """``actor``: the actor id of the store key (``actor|<id>``), the parts' key when ``"k"`` is left out."""
        version = data.get("v")
        if version not in READ:
            raise ValueError(f"actor record version {version!r}, expected one of {sorted(READ)}")
        record = cls(actor)
        if version == 2:
            record._parts = {
                part: {k: _Part(_horizon(e["x"]), data=e["s"]) for k, e in keys.items()}
                for part, keys in data["p"].items()
            }
            record.guard = _merged_guards(keys for keys in data["p"].values())
            return record
        if "g" in data:
            record.guard = ReplayGuard.from_dict(data["g"])
        if "k" in data or any(isinstance(entry, list) for entry in data["p"].values()):
            key = data.get("k", actor)
            if key is None:
                raise ValueError("actor record without its key")
            record._parts = {part: {key: _Part(_horizon(x), data=s)} for part, (x, s) in data["p"].items()}
        else:
            record._parts = {
                part: {k: _Part(_horizon(x), data=s) for k, (x, s) in keys.items()} for part, keys in data["p"].items()
            }
        return record


def _horizon(x: float | None) -> float:
    return NEVER if x is None else float(x)


def _entry(held: _Part) -> list[Any]:
    """[horizon, state]; the horizon in whole seconds, rounded up (a part is dropped at most a second later)."""
    at = held.horizon
    return [None if at == NEVER else math.ceil(at) if math.isfinite(at) else at, held.encoded()]


def _merged_guards(parts: Iterator[dict[str, dict[str, Any]]]) -> ReplayGuard:
    """One guard of the uuids each part of a version 2 record guarded (its ``"sup"``), so what was judged before
    the upgrade is not judged again; their order is lost, so they age out by count (and any newer digest first
    recorded)."""
    merged = ReplayGuard()
    for keys in parts:
        for entry in keys.values():
            sup = entry["s"].get("sup") if isinstance(entry["s"], dict) else None
            if not isinstance(sup, dict):
                continue
            for held in ReplayGuard.from_dict(sup).digests():
                if held not in merged.seen:
                    merged.seen.append(held)
                    merged.times.append(UNTIMED)
    return merged
