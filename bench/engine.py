"""Figure 2: detection engine events/s over a serialized mixed stream, against the orjson parse floor."""

from __future__ import annotations

import gc
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from bench.common import Figure, deep_sizeof
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.registry import build_detections
from detections.tenant_profile import TenantProfile

TENANT = "acme"
# A typical tenant context (none of it matches the stream): its lookups are part of the per-event cost.
PROFILE = TenantProfile(
    egress_cidrs=("198.51.100.0/24", "203.0.113.128/25", "2001:db8:10::/48"),
    egress_asns=frozenset({53813, 62044}),
    vpn_operators=frozenset({"ZSCALER", "NETSKOPE"}),
    known_travellers=frozenset({"ceo@bench.example", "cfo@bench.example"}),
    service_accounts=frozenset({"svc-backup@bench.example", "svc-sync@bench.example"}),
)


def _rate(blobs: list[bytes], step: Callable[[bytes], object], repeat: int) -> float:
    """Best of `repeat` passes, in events/s."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for blob in blobs:
            step(blob)
        best = min(best, time.perf_counter() - t0)
    return len(blobs) / best


def digest(findings: list[Any]) -> str:
    """What the findings say, in order, as 16 hex digits: equal digests = the same findings. Findings carry
    absolute times (and some dedup keys an hour's bucket), so only runs of one stream from one start compare."""
    h = hashlib.sha256()
    for f in findings:
        h.update(orjson.dumps(f.to_dict(), option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()[:16]


def _user_of(key: str, users: dict[str, str]) -> str | None:
    """The user id a state key belongs to ("<detection>|<user id or login>", "...|user:<id>"), else None."""
    return users.get(key.split("|", 1)[1].removeprefix("user:").lower())


def run(stream: list[dict[str, Any]], attacks: int, users: dict[str, str], repeat: int = 1) -> list[Figure]:
    """`users`: user id and login (lower case) -> user id, to tell per-user state from per-IP state."""
    blobs = [orjson.dumps(e) for e in stream]
    engine = Engine(build_detections(profile=PROFILE), TenantContext(TENANT, profile=PROFILE))
    gc.collect()
    gc.freeze()  # the bench's own input (the stream as dicts) is not the daemon's heap: keep it out of GC

    floor = _rate(blobs, orjson.loads, repeat + 2)  # cheap: best of more passes
    parsed = _rate(blobs, lambda b: parse_event(orjson.loads(b), TENANT), repeat)
    states: dict[str, Any] = {}
    findings: list[Any] = []
    detect = float("inf")
    for _ in range(repeat):  # fresh state every pass so each pass does the same work
        states, findings = {}, []
        t0 = time.perf_counter()
        for blob in blobs:
            findings += engine.process(parse_event(orjson.loads(blob), TENANT), states)
        detect = min(detect, time.perf_counter() - t0)
    detected = len(blobs) / detect
    n_findings, n_states = len(findings), len(states)
    summary = digest(findings)
    tracked = len({u for key in states if (u := _user_of(key, users)) is not None})
    per_detection = Counter(key.split("|", 1)[0] for key in states)

    gc.unfreeze()
    del findings
    held = deep_sizeof(states)  # every object the state holds, once (see deep_sizeof for why not deepcopy)

    mix = f"{len(blobs)} events, {attacks} push-bombing attacks"
    return [
        Figure("2 engine", "orjson.loads (floor)", floor, "ev/s", mix),
        Figure("2 engine", "loads + parse_event", parsed, "ev/s", f"{parsed / floor:.2f}x floor"),
        Figure("2 engine", "loads + parse + Engine.process", detected, "ev/s", f"{detected / floor:.2f}x floor"),
        Figure("2 engine", "findings", n_findings, "", f"from {attacks} attacks, digest {summary}"),
        Figure("2 engine", "detections", len(engine.detections), "", "detections.registry.build_detections()"),
        Figure("2 engine", "state keys", n_states, "keys", ", ".join(f"{d} {n}" for d, n in per_detection.items())),
        Figure("2 engine", "users with state", tracked, "users"),
        Figure(
            "2 engine",
            "memory per tracked user",
            held / max(tracked, 1),
            "B",
            "all state (per-IP too) / users; objects reachable from the states, each once",
        ),
        Figure("2 engine", "memory per state key", held / max(n_states, 1), "B"),
    ]
