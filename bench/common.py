"""Shared bench data: one population, one background stream, push-bombing attacks from the scenario builder."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import random
import sys
import time
import types
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detector.sim.population import Population
from detector.sim.scenario import Compiled, Scenario, parse_scenario
from detector.sim.traffic import Emission, TrafficConfig, TrafficGenerator

SEED = 7
ATTACKER = {"city": "Bucharest", "ip": "185.156.46.12", "proxy": True, "risk": "HIGH"}


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float
    unit: str
    note: str = ""


def machine_facts() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
    }


def population(size: int) -> Population:
    return Population.build(random.Random(SEED), size)


def jittered(n: int, mean_spacing_s: float, seed: int = SEED) -> list[float]:
    """`n` offsets with random gaps of 0.5-1.5x the mean, so they never phase-lock with a poll period."""
    rng, at, out = random.Random(seed), 0.0, []
    for _ in range(n):
        out.append(at)
        at += mean_spacing_s * rng.uniform(0.5, 1.5)
    return out


def bystanders(pop: Population, victims: int) -> Population:
    """Everyone but the first `victims` people: the background never touches an attacked user, so a
    victim's own routine push approval can never complete an attack before the injected accept does."""
    return Population(pop.people[victims:], pop.engine, pop.domain)


def background(pop: Population, n: int, start: datetime, rate: float) -> list[dict[str, Any]]:
    """`n` ordinary events from the simulator's traffic generator (~11k ev/s to generate)."""
    return TrafficGenerator(pop, random.Random(SEED + 1), TrafficConfig(rate=rate)).generate(n, start)


def push_bombing(pop: Population, start: datetime, offsets: list[float], prompt_interval_s: float = 1.0) -> Compiled:
    """One push-bombing attack (6 denials then an accept) per offset (s after `start`), on the first people."""
    steps = [
        {
            "at": at,
            "kind": "mfa_push_bombing",
            "user": p.login,
            "attacker": ATTACKER,
            "denials": 6,
            "interval": prompt_interval_s,
            "response_delay": prompt_interval_s * 0.4,
            "accept": True,
        }
        for at, p in zip(offsets, pop.people, strict=False)
    ]
    size = len(pop.people)
    scenario: Scenario = parse_scenario(
        {"name": "bench", "population": {"size": size, "seed": SEED}, "background": {"rate": 0}, "steps": steps}
    )
    return scenario.compile(start)


def is_push_accept(event: dict[str, Any]) -> bool:
    debug = (event.get("debugContext") or {}).get("debugData") or {}
    return event.get("eventType") == "user.authentication.auth_via_mfa" and (
        debug.get("pushOnlyResponseType") == "OV_RESPONSE_APPROVE"
    )


def merge(events: list[dict[str, Any]], attacks: list[Emission]) -> list[dict[str, Any]]:
    """Background plus attack events in `published` order (ISO-8601 Z strings sort as time)."""
    return sorted([*events, *(e.event for e in attacks)], key=lambda e: str(e["published"]))


@dataclass(frozen=True)
class MixedStream:
    """Figures 1, 2, 5 and 19's input: a population's background traffic, then one push bombing per ~500 events."""

    background: list[dict[str, Any]]
    events: list[dict[str, Any]]  # background and attacks, in `published` order
    attacks: int
    span_s: float  # of the background
    users: dict[str, str]  # user id and login (lower case) -> user id


def mixed_stream(n_events: int, start: datetime) -> MixedStream:
    """The same stream for the same `n_events` and `start` (seeded), so figures share it and runs compare."""
    pop = population(2_000)
    n_bomb = max(5, n_events // 500)
    events = background(bystanders(pop, n_bomb), n_events, start, rate=200.0)
    span = (datetime.fromisoformat(events[-1]["published"].replace("Z", "+00:00")) - start).total_seconds()
    mixed = merge(events, push_bombing(pop, start, jittered(n_bomb, span / n_bomb)).emissions)
    users = {k.lower(): p.id for p in pop.people for k in (p.id, p.login)}
    return MixedStream(events, mixed, n_bomb, span, users)


_NOT_STATE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def deep_sizeof(root: Any) -> int:
    """Bytes of every object reachable from `root`, each counted once (`sys.getsizeof`, GC header included).

    Why not tracemalloc over `copy.deepcopy(states)`: deepcopy returns immutable atoms (str, int,
    float) as they are, so the uuids, IPs, logins and times that make up most of the state were never
    counted (about half of it). Walking the graph counts them; it reads within ~6 % of replaying the
    stream under tracemalloc (which also sees allocator slack) and needs no replay.
    """
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _NOT_STATE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc (Linux): no psutil."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process (every thread), from /proc/<pid>/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_wait_seconds(pid: int | str = "self") -> float:
    """Time the process's main thread (for the daemon: its event loop) spent runnable but waiting for a
    CPU, from /proc/<pid>/schedstat: on a shared box, how much of a slowdown is other processes' doing."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


async def loop_lag(out: list[tuple[float, float]], period_s: float = 0.05) -> None:
    """Append (wall time, how late a `period_s` sleep woke) until cancelled: how busy the event loop is."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(period_s)
        out.append((time.time(), loop.time() - start - period_s))


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
