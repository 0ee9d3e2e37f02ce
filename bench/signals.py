"""Figure 11: the threat-signal book's cost per successful sign-in, and per flag, as it fills.

Every successful sign-in reads the book (is its IP or ASN flagged?) and, when nothing implicates it,
is kept for a late flag; every flag re-checks the kept successes of its source (an ASN: every kept IP
of the tenant). Both must stay flat as the book fills, or a spray of many IPs (many signals) or a busy
tenant (many kept successes) would slow every sign-in. Through the engine with ``password_spray`` and
``threat_signals`` only (events parsed beforehand, fresh state), testkit events:

* sign-ins from distinct IPs, none flagged, with an empty book and with ``--signals`` flagged IPs;
* a flag of one IP and of one ASN with ``max_recent_ips`` IPs kept (the ASN re-check scans them all).

.venv/bin/python -m bench.signals            # 20 000 sign-ins, 10 000 signals
.venv/bin/python -m bench.signals --quick    # 4 000 sign-ins, 2 000 signals
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from bench.common import Figure
from detections.engine import Engine, TenantContext
from detections.event import Event, parse_event
from detections.password_spray import PasswordSpray
from detections.testkit import failed_sign_in, sign_in
from detections.threat_signals import Book, Signal, ThreatSignals

TENANT = "acme"
T0 = 1_700_000_000.0
NETWORK = {"asNumber": 44477, "asOrg": "stark industries solutions ltd", "isp": "stark", "isProxy": False}


def sign_ins(n: int, t0: float = T0) -> list[Event]:
    """``n`` successful sign-ins of ``n`` users, each from its own IP, one every 0.1 s."""
    out = []
    for i in range(n):
        who = {"id": f"00u{i}", "type": "User", "alternateId": f"u{i}@acme.com", "displayName": f"u{i}"}
        raw = sign_in(t0 + i * 0.1, "moscow", ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", actor=who)
        raw["securityContext"] = dict(NETWORK)
        out.append(parse_event(raw, TENANT))
    return out


def _engine(book: Book) -> Engine:
    """The two detections involved: the spray that flags, the sign-in check that reads."""
    return Engine([PasswordSpray(), ThreatSignals(book=book)], TenantContext(TENANT))


def _per_event_us(engine: Engine, events: list[Event]) -> float:
    states: dict[str, Any] = {}
    gc.collect()
    gc.freeze()  # the bench's own input (the parsed events) is not the daemon's heap: keep it out of GC
    start = time.perf_counter()
    for event in events:
        engine.run(event, states)
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed / len(events) * 1e6


def _flag_ms(engine: Engine, source_ip: str, network: dict[str, Any]) -> tuple[float, int]:
    """A spray from ``source_ip``: the time of the engine run on the failure that makes it a finding (and so
    flags the source), and how many findings the flag implied."""
    states: dict[str, Any] = {}
    fails = [
        failed_sign_in(T0 + 30 + i, f"x{i}@acme.com", ip=source_ip, securityContext=dict(network)) for i in range(10)
    ]
    for raw in fails[:-1]:
        engine.run(parse_event(raw, TENANT), states)
    last = parse_event(fails[-1], TENANT)
    start = time.perf_counter()
    found = engine.run(last, states).findings
    elapsed = (time.perf_counter() - start) * 1e3
    assert any(f.detection == "password_spray" for f in found)
    return elapsed, sum(f.detection == "success_from_flagged_source" for f in found)


def run(n_signins: int, n_signals: int) -> list[Figure]:
    events = sign_ins(n_signins)
    empty = _per_event_us(_engine(Book()), events)
    book = Book()
    for i in range(n_signals):
        book.flag(Signal(TENANT, f"ip:172.16.{i // 256 % 256}.{i % 256}", "password_spray", f"k{i}", T0, T0, 10, 86400))
    full = _per_event_us(_engine(book), events)
    kept_book = Book()
    engine = _engine(kept_book)
    _per_event_us(engine, events)  # fills the kept successes (max_recent_ips of them)
    kept = kept_book.kept_ips(TENANT)
    ip_ms, ip_hits = _flag_ms(engine, events[-1].ip or "", {**NETWORK, "isProxy": True})  # the IP only
    asn_ms, asn_hits = _flag_ms(engine, "192.0.2.77", {**NETWORK, "asNumber": 64500})  # none kept in it
    return [
        Figure("11 signals", "sign-in, empty book", empty, "µs/event", f"{n_signins} sign-ins, threat_signals alone"),
        Figure("11 signals", f"sign-in, {n_signals} flagged IPs", full, "µs/event", "none of them the sign-in's"),
        Figure("11 signals", "flag of one IP", ip_ms, "ms", f"{ip_hits} kept success implicated"),
        Figure(
            "11 signals", "flag of one ASN", asn_ms, "ms", f"{kept} IPs kept (indexed by ASN); {asn_hits} implicated"
        ),
    ]


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.signals", description=__doc__)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    n, signals = (4_000, 2_000) if args.quick else (20_000, 10_000)
    for f in run(n, signals):
        print(f"[{f.section}] {f.name}: {f.value:.3g} {f.unit} ({f.note})")


if __name__ == "__main__":
    main()
