"""Figure 4: detection state per tracked user at a large population (default 100 000 users).

Figure 2 replays dense traffic over 2 000 users; this one asks what the state costs when the tenant
is big. Drawing background traffic at random would need millions of events before every user had
signed in once, so each user gets a fixed, light routine instead: `signins` ordinary sign-ins (the
simulator's `signin_flow`: password, push fanned out to every device, approve, session start, one
SSO), 5 % of them after a wrong password (the background's typo rate). Flows are generated one user
at a time, serialized with orjson (as the daemon reads records) and fed to one Engine; only the
state stays in memory, never the event stream.

The state lives in the store `detector replay` uses (`detections.expiring.ExpiringStates`), swept after
every event by event time as the daemon's stores are: what is left after the last day is what a store
holds. (Its clock is the wall clock: the sign-ins end now.)

"Tracked user" = a user with at least one state key of their own (their actor record
"actor|<id>", or keyed by login or "user:<id>"). Per-IP state belongs to no user key, but its bytes
are charged to the tracked users, so "bytes per tracked user" is *all* state / tracked users.
Two byte counts: the *encoded* bytes (key + the engine's encoding of the value: what the SQLite
store and the Kafka changelog hold, and what the 2 KB per user target is judged on), and the Python
objects of the in-memory store, walking every object reachable from the state dict (store dict,
key strings, state objects, their strings and floats), each object once (`common.deep_sizeof`).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/memory.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import SEED, Figure, deep_sizeof, machine_facts, population
from detections.actor_record import ActorRecord
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.expiring import ExpiringStates
from detections.registry import build_detections
from detector.sim.population import Person, Population
from detector.sim.traffic import Emission, failed_password_flow, signin_flow

TENANT = "acme"
FAILURE_RATE = 0.05  # TrafficConfig.failure_rate: sign-ins that start with a wrong password
DAY_S = 8 * 3600.0  # each round of sign-ins spreads over a working day ...
ROUND_GAP_S = 24 * 3600.0  # ... and the next round starts the next day


def routine(rng: random.Random, person: Person, pop: Population, at: datetime) -> list[Emission]:
    """One ordinary sign-in of `person` at `at`, sometimes after a typo, with one SSO."""
    out: list[Emission] = []
    if rng.random() < FAILURE_RATE:
        out += failed_password_flow(rng, person, at, engine=pop.engine)
        at += timedelta(seconds=rng.uniform(3.0, 12.0))
    flow, _ = signin_flow(rng, person, at, engine=pop.engine, apps=(rng.choice(person.apps),))
    return out + flow


def _owner(key: str, users: dict[str, str]) -> str | None:
    """The user a state key belongs to ("actor|<id>", "<detection>|<user id or login>" or "...|user:<id>"), else
    None."""
    return users.get(key.split("|", 1)[1].removeprefix("user:").lower())


GUARD = "replay guard (actor record)"


def _parts(engine: Engine, key: str, value: Any) -> list[tuple[str, int]]:
    """(detection, encoded bytes) of a stored value: an actor record's parts and its replay guard, else the state
    itself."""
    if isinstance(value, ActorRecord):
        data = value.to_dict()
        parts = [(det, len(orjson.dumps(part))) for det, part in data["p"].items()]
        return parts + ([(GUARD, len(orjson.dumps(data["g"])))] if "g" in data else [])
    return [(key.split("|", 1)[0], len(key) + len(engine.encode_state(value)))]


BATCH = 500  # records a detection batch takes (embedded stage, Faust agents): one store write per key changed


class _CountingStates(ExpiringStates):
    """Counts writes: per event, and as a batch of ``BATCH`` events writes them (each changed key once)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.writes = 0
        self.batch_writes = 0
        self._batch: set[str] = set()
        self._events = 0

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.writes += 1
        self._batch.add(key)

    def event_done(self) -> None:
        self._events += 1
        if self._events % BATCH == 0:
            self.batch_writes += len(self._batch)
            self._batch.clear()


def run(n_users: int = 100_000, signins: int = 1) -> list[Figure]:
    watch = time.perf_counter()
    pop = population(n_users)
    rng = random.Random(SEED + 2)
    engine = Engine(build_detections(), TenantContext(TENANT))
    states = _CountingStates(engine)
    start = datetime.now(UTC) - timedelta(seconds=signins * ROUND_GAP_S)
    gap = DAY_S / n_users
    n_events = n_findings = 0
    engine_s = 0.0
    for r in range(signins):
        for i, person in enumerate(pop.people):
            at = start + timedelta(seconds=r * ROUND_GAP_S + i * gap)
            blobs = [orjson.dumps(e.event) for e in sorted(routine(rng, person, pop, at), key=lambda e: e.at)]
            t0 = time.perf_counter()
            for blob in blobs:
                n_findings += len(engine.process(parse_event(orjson.loads(blob), TENANT), states))
                states.event_done()
            states.sweep()  # after each user's sign-in, as replay sweeps every 100 events
            engine_s += time.perf_counter() - t0
            n_events += len(blobs)
    replay_s = time.perf_counter() - watch

    users = {k.lower(): p.id for p in pop.people for k in (p.id, p.login)}
    del pop
    gc.collect()
    t0 = time.perf_counter()
    held = dict(states)  # the mapping alone: not the engine the store refers to
    total = deep_sizeof(held)  # each object once, store dict and key strings included
    encoded = sum(len(key) + len(engine.encode_state(value)) for key, value in held.items())
    by_detection: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for key, value in held.items():
        for det, size in _parts(engine, key, value):
            by_detection[det] += size
            parts[det] += 1
    owners: set[str] = {user for key in held if (user := _owner(key, users)) is not None}
    tracked = len(owners)
    measure_s = time.perf_counter() - t0

    per = max(tracked, 1)
    mix = f"{n_users:,} users x {signins} sign-in(s), {n_events:,} events, {n_findings} findings"
    figures = [
        Figure("4 memory", "users with state (tracked)", tracked, "users", mix),
        Figure("4 memory", "state keys", len(held), "keys", f"{len(held) / per:.2f} per tracked user"),
        Figure("4 memory", "keys swept", states.swept, "keys", "dead by event time, deleted while replaying"),
        Figure("4 memory", "store writes per event", states.writes / n_events, "writes", "keys an event writes"),
        Figure(
            "4 memory",
            "store writes per event, batched",
            states.batch_writes / max(n_events - n_events % BATCH, 1),
            "writes",
            f"each changed key once per {BATCH} events: records to the changelog in Kafka mode",
        ),
        Figure(
            "4 memory", "encoded bytes per tracked user", encoded / per, "B", "key + encoded value: what stores hold"
        ),
        Figure("4 memory", "state bytes, all detections", total, "B", "Python objects: store dict + keys + state"),
        Figure(
            "4 memory", "bytes per tracked user", total / per, "B", "Python objects, all state (per-IP too) / users"
        ),
    ]
    for det, size in sorted(by_detection.items(), key=lambda kv: -kv[1]):
        note = f"{parts[det] / per:.2f} states/user, {size / parts[det]:.0f} B/state, {size / encoded:.0%} of all"
        figures.append(Figure("4 memory", f"  {det}", size / per, "B/user encoded", note))
    figures.append(
        Figure(
            "4 memory",
            "time",
            replay_s + measure_s,
            "s",
            f"engine {engine_s:.0f} s ({n_events / engine_s:,.0f} ev/s, sweeps included),"
            f" generation {replay_s - engine_s:.0f} s, measuring {measure_s:.0f} s",
        )
    )
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    p = argparse.ArgumentParser(prog="bench.memory", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=100_000, help="population size (default 100000)")
    p.add_argument("--signins", type=int, default=1, help="sign-ins per user, one per day (default 1)")
    args = p.parse_args(argv)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine_facts().items()))
    figures = run(args.users, args.signins)
    for f in figures:
        value = f"{f.value:,.0f}" if abs(f.value) >= 100 else f"{f.value:.2f}"
        print(f"  [{f.section}] {f.name}: {value} {f.unit}" + (f" ({f.note})" if f.note else ""))
    return figures


if __name__ == "__main__":
    main()
