"""Which detections an event can reach, by its event type: decided once per engine, not asked per event.

Most detections read a handful of event types (sign-ins, pushes, password failures, one admin change) and say
so in ``event_types``; the engine then calls ``state_key`` only on the detections that can use the event, instead
of on every detection for every event. A detection without the attribute (or with None) is offered every event.
The table holds only declared types, so an adversary's made-up event types cannot grow it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

S = TypeVar("S")


def event_types_of(detection: Any) -> frozenset[str] | None:
    """The event types a detection declares it can use; None: any."""
    return getattr(detection, "event_types", None)


class ByEventType(Generic[S]):
    """Steps (detections, or what the engine keeps per detection), in their order, per event type."""

    __slots__ = ("_by_type", "other")

    def __init__(self, steps: Iterable[S], detection_of: Callable[[S], Any] = lambda step: step) -> None:
        steps = tuple(steps)
        declared = [(step, event_types_of(detection_of(step))) for step in steps]
        types = set().union(*(d for _, d in declared if d is not None))
        self._by_type = {t: tuple(s for s, d in declared if d is None or t in d) for t in types}
        self.other = tuple(s for s, d in declared if d is None)  # any other event type

    def __call__(self, event_type: str) -> tuple[S, ...]:
        return self._by_type.get(event_type, self.other)
