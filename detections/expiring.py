"""A dict state store that sweeps its dead keys: ``detector replay``, benchmarks and tests.

The daemon's stores (the embedded SQLite store, the Faust tables) sweep the same way, from the same index, with
their own writes and deletes.
"""

from __future__ import annotations

from typing import Any

from detections.engine import Engine
from detections.lifecycle import SWEEP_LIMIT, ExpiryIndex


class ExpiringStates(dict[str, Any]):
    """Keys written since the last sweep are indexed by their horizon then (once, however often they were
    written); ``sweep`` deletes the keys the engine's watermark has passed."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.index = ExpiryIndex()
        self.swept = 0  # keys deleted so far
        self.written: set[str] = set()  # keys written since the last sweep

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.written.add(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.written.discard(key)
        self.index.forget(key)

    def loaded(self, key: str, value: Any) -> None:
        """A state read back from a store: held and indexed, not counted as written."""
        dict.__setitem__(self, key, value)
        self.index.note(key, self.engine.expires_at(key, value))

    def sweep(self, now: float | None = None, limit: int = SWEEP_LIMIT) -> list[str]:
        """Index what was written, then delete up to ``limit`` dead keys (event time: the engine's watermark);
        returns them."""
        for key in self.written:
            self.index.note(key, self.engine.expires_at(key, self[key]))
        self.written.clear()
        dead = self.index.due(self.engine.watermark(now), limit)
        for key in dead:
            dict.pop(self, key, None)
        self.swept += len(dead)
        return dead
