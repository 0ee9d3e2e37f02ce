"""A dict state store that sweeps its dead keys: ``detector replay``, benchmarks and tests.

The daemon's stores (the embedded SQLite store, the Faust tables) sweep the same way, from the same index, with
their own writes and deletes.
"""

from __future__ import annotations

from typing import Any

from detections.engine import Engine
from detections.lifecycle import SWEEP_LIMIT, ExpiryIndex


class ExpiringStates(dict[str, Any]):
    """Every write is indexed by its horizon; ``sweep`` deletes the keys the engine's watermark has passed."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.index = ExpiryIndex()
        self.swept = 0  # keys deleted so far

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.index.note(key, self.engine.expires_at(key, value))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.index.forget(key)

    def sweep(self, now: float | None = None, limit: int = SWEEP_LIMIT) -> list[str]:
        """Delete up to ``limit`` dead keys (event time: the engine's watermark); returns them."""
        dead = self.index.due(self.engine.watermark(now), limit)
        for key in dead:
            dict.pop(self, key, None)
        self.swept += len(dead)
        return dead
