"""Injected failures: a test arms one, the server consumes it on the next matching request."""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = frozenset({"status", "timeout", "bad_json", "reset"})


@dataclass
class Fault:
    """`status`: respond `status` with an Okta error; `timeout`: sleep `delay` then serve normally;
    `bad_json`: 200 with a truncated body; `reset`: drop the connection without a response."""

    method: str
    path_prefix: str
    kind: str
    remaining: int
    status: int = 500
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in {"*", method.upper()} and path.startswith(self.path_prefix)


class FaultPlan:
    """Armed faults in arming order; the first match wins and is used up `times` times."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def arm(self, method: str, path_prefix: str, kind: str, times: int, status: int, delay: float) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}, not {kind!r}")
        self.faults.append(Fault(method.upper(), path_prefix, kind, times, status, delay))

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining > 0]
                return fault
        return None
