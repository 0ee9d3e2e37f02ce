"""Figure 6: per-event cost at the start and at the end of attacks that grow, through every detection.

An attacker chooses the volume: a detection whose cost per event grows with what its window holds
stalls the pipeline of every tenant exactly when it matters. Each stream below runs through the full
engine (parse + all detections, fresh state); the cost of its first and last SEGMENT events is timed
(best of REPEAT passes) and printed next to the orjson floor of the same run. Flat means end/start
close to 1.

.venv/bin/python -m bench.adversarial            # the three streams, 20 000 attempts each
.venv/bin/python -m bench.adversarial --quick    # 4 000 attempts each
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.common import Figure
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import latest_revisions
from detections.registry import build_detections
from detections.testkit import failed_sign_in, oie_push_deny, push_sent

TENANT = "acme"
T0 = 1_700_000_000.0
SEGMENT = 1_000
REPEAT = 3


def spray_one_ip(n: int) -> list[dict[str, Any]]:
    """One IP, a new username every 0.1 s (one password each)."""
    return [failed_sign_in(T0 + i * 0.1, f"user{i}@acme.com", ip="203.0.113.9") for i in range(n)]


def spray_many_ips(n: int, ips: int = 2_000) -> list[dict[str, Any]]:
    """``ips`` quiet IPs: each tries 5 usernames twice (below password_spray's 10 users per IP)."""
    out = []
    for i in range(n):
        ip = i % ips
        user = (i // ips) % 5 + 5 * ip
        out.append(failed_sign_in(T0 + i * 0.1, f"user{user}@acme.com", ip=f"10.{ip // 250}.{ip % 250}.7"))
    return out


ATTACKER = {
    "ip": "185.156.46.12",
    "debug": {"behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE}"},
    "securityContext": {"asNumber": 9009, "asOrg": "M247", "isp": "M247", "domain": None, "isProxy": True},
}


def push_flood(n: int) -> list[dict[str, Any]]:
    """``n`` prompts to one user requested from a new place, each denied on the phone, one every 2 s."""
    out = []
    for i in range(n):
        out.append(push_sent(T0 + i * 2.0, **ATTACKER))
        out.append(oie_push_deny(T0 + i * 2.0 + 0.5))
    return out


def _segment_costs(blobs: list[bytes], engine: Engine) -> tuple[float, float, float, list[Any]]:
    """(start s/event, end s/event, whole-stream events/s, findings) of one pass on fresh state."""
    states: dict[str, Any] = {}
    findings: list[Any] = []
    marks = []
    t_all = time.perf_counter()
    for i, blob in enumerate(blobs):
        if i in (0, len(blobs) - SEGMENT):
            marks.append(time.perf_counter())
        findings += engine.process(parse_event(orjson.loads(blob), TENANT), states)
        if i in (SEGMENT - 1, len(blobs) - 1):
            marks.append(time.perf_counter())
    total = time.perf_counter() - t_all
    return (marks[1] - marks[0]) / SEGMENT, (marks[3] - marks[2]) / SEGMENT, len(blobs) / total, findings


def _floor(blobs: list[bytes]) -> float:
    best = float("inf")
    for _ in range(REPEAT + 2):
        t0 = time.perf_counter()
        for blob in blobs:
            orjson.loads(blob)
        best = min(best, time.perf_counter() - t0)
    return len(blobs) / best


def measure(name: str, stream: list[dict[str, Any]]) -> list[Figure]:
    blobs = [orjson.dumps(e) for e in stream]
    engine = Engine(build_detections(), TenantContext(TENANT))
    gc.collect()
    start = end = float("inf")
    rate = 0.0
    findings: list[Any] = []
    for _ in range(REPEAT):
        s, e, r, findings = _segment_costs(blobs, engine)
        start, end, rate = min(start, s), min(end, e), max(rate, r)
    floor = _floor(blobs)
    latest = latest_revisions(findings)
    reported = "; ".join(f"{f.detection} r{f.revision}: {f.summary[:160]}" for f in latest[:3])
    section = f"6 {name}"
    return [
        Figure(section, "orjson.loads (floor)", floor, "ev/s", f"{len(blobs)} events"),
        Figure(section, "parse + every detection", rate, "ev/s", f"{rate / floor:.2f}x floor"),
        Figure(section, f"first {SEGMENT} events", start * 1e6, "µs/event"),
        Figure(section, f"last {SEGMENT} events", end * 1e6, "µs/event", f"end/start {end / start:.2f}"),
        Figure(section, "findings", len(latest), "", f"{len(findings)} revisions; {reported}"),
    ]


STREAMS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "spray, one IP": spray_one_ip,
    "spray, 2000 IPs": spray_many_ips,
    "denied pushes, one user": lambda n: push_flood(n // 4),  # 5 000 prompts + 5 000 denials for 20 000
}


def run(attempts: int) -> list[Figure]:
    figures: list[Figure] = []
    for name, build in STREAMS.items():
        figures += measure(name, build(attempts))
    return figures


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    from bench.common import machine_facts
    from bench.run import report

    parser = argparse.ArgumentParser(prog="bench.adversarial", description=__doc__)
    parser.add_argument("--attempts", type=int, default=20_000, help="attempts per stream (default 20 000)")
    parser.add_argument("--quick", action="store_true", help="4 000 attempts per stream")
    args = parser.parse_args(argv)
    report(Console(width=160), run(4_000 if args.quick else args.attempts), machine_facts())


if __name__ == "__main__":
    main()
