"""Figure 8: incident deliveries. How long an incident update waits until each channel has delivered it, and
how many updates per second each channel delivers while another destination is down.

The daemon side runs here, alone in this process: the real `Outbox` (a SQLite file in a temp dir) and
`Deliverer` with the real channels built from config (`detector.tenants.channels_for`: a signed webhook, a
Slack bot, PagerDuty), fed N incidents x M versions through `Outbox.write` (`write_updates`, one finding
folded in per version). The destinations run in a child process (`bench/destinations.py`).

.venv/bin/python -m bench.deliveries                    # 200 incidents x 5 versions, 50 updates/s paced
.venv/bin/python -m bench.deliveries --incidents 500 --versions 4 --rate 100
.venv/bin/python -m bench.deliveries --quick            # 50 x 4, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import destinations
from bench.child import Child
from bench.common import Figure, cpu_seconds
from bench.latency import pct
from detector.config import parse_config
from detector.logsetup import configure_logging
from detector.ops.metrics import Metrics
from detector.respond.channels.base import Channel
from detector.respond.channels.http import new_session
from detector.respond.incidents import Incident, IncidentBook
from detector.respond.outbox import Deliverer, Outbox, qualified
from detector.stream.embedded import run_sync
from detector.tenants import channels_for

SECTION = "8 deliveries"
TENANT = "bench"
KINDS = ("webhook", "slack_bot", "pagerduty")
NAMES = {"webhook": "webhook", "slack_bot": "slack", "pagerduty": "pagerduty"}  # the channel names
DOWN = (("webhook", "unavailable", "answers 503"), ("pagerduty", "refused", "refuses connections"))
ENV = {
    "url": "ITDR_BENCH_WEBHOOK_URL",
    "secret": destinations.SECRET_ENV,
    "slack": "ITDR_BENCH_SLACK_TOKEN",
    "pagerduty": "ITDR_BENCH_PD_KEY",
}
DRAIN_TIMEOUT_S = 600.0
LOOP_THREAD = f"self/task/{os.getpid()}"  # /proc path of the main thread, where the event loop runs
RATE = 50.0  # incident updates written per second in the latency run
NAN = float("nan")


def channel_config(urls: Mapping[str, str]) -> list[dict[str, Any]]:
    """The tenant's channels as written in YAML (secrets in the environment), each to the URL given."""
    os.environ[ENV["url"]] = urls["webhook"]
    secret_ref = {"env": ENV["secret"]}
    return [
        {"kind": "webhook", "name": NAMES["webhook"], "url": {"env": ENV["url"]}, "secret": secret_ref},
        {
            "kind": "slack_bot",
            "name": NAMES["slack_bot"],
            "token": {"env": ENV["slack"]},
            "channel": destinations.SLACK_CHANNEL,
            "base_url": urls["slack_bot"],
        },
        {
            "kind": "pagerduty",
            "name": NAMES["pagerduty"],
            "routing_keys": {"default": {"env": ENV["pagerduty"]}},
            "base_url": urls["pagerduty"],
        },
    ]


def build_channels(urls: Mapping[str, str], session: Any) -> list[Channel]:
    tenant = {
        "name": TENANT,
        "org_url": "https://bench.okta.com",
        "read": {"kind": "ssws", "token": {"env": ENV["slack"]}},  # never used: no poller runs
        "channels": channel_config(urls),
    }
    return channels_for(parse_config({"tenants": [tenant]}).tenants[0], session)


class Updates:
    """N incidents, each updated M times: version v folds in the v-th finding about its user (the last one
    high-confidence, so Slack edits its header and PagerDuty's severity rises)."""

    def __init__(self, incidents: int, versions: int) -> None:
        self.incidents, self.versions = incidents, versions
        self.book = IncidentBook()
        self.t0 = time.time() - 600.0

    def fold(self, i: int, v: int) -> Incident:
        last = v == self.versions - 1 and self.versions > 1
        at = datetime.fromtimestamp(self.t0 + v * 10 + i * 0.001, UTC).isoformat().replace("+00:00", "Z")
        finding = {
            "detection": "mfa_push_accepted" if last else "mfa_push_bombing",
            "title": "Push accepted after MFA bombing" if last else "MFA push bombing in progress",
            "tenant": TENANT,
            "principal": f"00ubench{i:06d}",
            "principal_login": f"user{i}@bench.example",
            "entity": f"user:00ubench{i:06d}",
            "tier": "high-confidence" if last else "high",
            "confidence": 100 if last else 70,
            "dedup_key": f"{TENANT}:mfa:{i}:{v}",
            "revision": 0,
            "time": at,
            "summary": f"{5 + v} push denials within 10 min",
            "mitre": ["T1621"],
            "evidence": [{"class": "a", "label": f"{5 + v} push denials", "points": 30, "event_uuids": [f"e{v}"]}],
            "dampeners": [],
            "actions": ["clear_sessions"] if last else [],
            "where": {"ip": f"185.156.46.{i % 250}", "asn": 9009, "as_org": "M247", "country": "Romania"},
        }
        incident = self.book.apply(finding)
        assert incident is not None
        return incident

    @property
    def total(self) -> int:
        return self.incidents * self.versions


@dataclass(frozen=True)
class Phase:
    """One run of the deliverer over a fresh outbox, measured."""

    started: float  # wall time the deliverer started
    wall_s: float  # until every channel that is up had delivered everything
    cpu_s: float  # this process: event loop, SQLite thread, HTTP clients
    loop_cpu_s: float  # its main thread alone: the event loop
    child_cpu_s: float  # the destinations' process
    rows: dict[str, list[tuple[str, int, float, float | None]]]  # channel → (state, attempts, created, done)
    received: dict[str, int]  # what the destinations counted during the phase

    def delivered(self, channel: str) -> list[tuple[float, float]]:
        return [(c, d) for state, _, c, d in self.rows.get(channel, []) if state == "delivered" and d is not None]

    def waits(self, channel: str) -> list[float]:
        return [d - c for c, d in self.delivered(channel)]

    def throughput(self, channel: str) -> float:
        done = self.delivered(channel)
        span = max((d for _, d in done), default=self.started) - self.started
        return len(done) / span if span > 0 else NAN

    def pending(self, channel: str) -> int:
        return sum(state == "pending" for state, *_ in self.rows.get(channel, []))

    def attempts(self, channel: str) -> int:
        return sum(attempts for _, attempts, *_ in self.rows.get(channel, []))


async def run_phase(
    child: Child,
    urls: Mapping[str, str],
    updates: Updates,
    *,
    up: set[str],
    rate: float | None,
) -> Phase:
    """``rate`` set: the deliverer runs while updates are written at that pace (version by version, round
    robin over the incidents); None: all updates are written first, then the deliverer drains them."""
    with tempfile.TemporaryDirectory(prefix="bench-deliveries-") as tmp:
        path = Path(tmp) / "itdr.sqlite"
        outbox = await Outbox(path).open()
        async with new_session() as session:
            chans = build_channels(urls, session)
            by_name = {qualified(TENANT, c): c for c in chans}
            deliverer = Deliverer(outbox, by_name, Metrics())
            stop = asyncio.Event()
            if rate is None:
                for v in range(updates.versions):
                    await outbox.write([updates.fold(i, v) for i in range(updates.incidents)], {TENANT: chans})
            before = child_counts(child)
            cpu0, loop0, child0 = cpu_seconds(), cpu_seconds(LOOP_THREAD), cpu_seconds(child.pid)
            started = time.time()
            task = asyncio.create_task(deliverer.run(stop))
            if rate is not None:
                await _paced(outbox, deliverer, updates, chans, rate)
            await _drained(outbox, [_channel(k) for k in up], task)
            wall = time.time() - started
            cpu, loop_cpu = cpu_seconds() - cpu0, cpu_seconds(LOOP_THREAD) - loop0
            child_cpu = cpu_seconds(child.pid) - child0
            stop.set()
            await task
        await outbox.close()
        rows: dict[str, list[tuple[str, int, float, float | None]]] = {}
        sql = "SELECT channel, state, attempts, created_at, done_at FROM outbox"
        for channel, state, attempts, created, done in run_sync(path, sql):
            rows.setdefault(channel, []).append((state, attempts, created, done))
    after = child_counts(child)
    received = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return Phase(started, wall, cpu, loop_cpu, child_cpu, rows, received)


async def _paced(outbox: Outbox, deliverer: Deliverer, updates: Updates, chans: list[Channel], rate: float) -> None:
    """One incident version written every 1/rate s, as the respond step writes them, each waking the loops."""
    start = time.monotonic()
    for k, (v, i) in enumerate((v, i) for v in range(updates.versions) for i in range(updates.incidents)):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if await outbox.write([updates.fold(i, v)], {TENANT: chans}):
            deliverer.wake.set()


async def _drained(outbox: Outbox, channels: list[str], task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        if task.done():
            task.result()  # a crashed deliverer: its error, not a timeout
            raise RuntimeError("the deliverer stopped")
        if all([await outbox.depth(c) == 0 for c in channels]):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not delivered within {DRAIN_TIMEOUT_S:g} s")
        await asyncio.sleep(0.05)


def child_counts(child: Child) -> dict[str, int]:
    child.send("count")
    return child.receive("count")


def figures(
    latency: Phase, base: Phase, down: list[tuple[str, str, Phase]], updates: Updates, rate: float
) -> list[Figure]:
    return [
        *latency_figures(latency, updates, rate),
        *throughput_figures(base, updates),
        *(f for kind, how, phase in down for f in down_figures(kind, how, phase, base, updates)),
    ]


def latency_figures(phase: Phase, updates: Updates, rate: float) -> list[Figure]:
    out = []
    for kind in KINDS:
        waits = phase.waits(_channel(kind))
        took = f"{len(waits)} of {updates.total} delivered ({_received(kind, phase.received)})"
        load = f"{updates.incidents} incidents x {updates.versions} versions written at {rate:g}/s, all up"
        out += [
            Figure(SECTION, f"{NAMES[kind]} update → delivered p50", 1000 * _q(waits, 0.5), "ms", f"{took}; {load}"),
            Figure(
                SECTION,
                f"{NAMES[kind]} update → delivered p99",
                1000 * _q(waits, 0.99),
                "ms",
                f"max {1000 * max(waits, default=NAN):.0f} ms; {_cpu(phase)}",
            ),
        ]
    return out


def throughput_figures(phase: Phase, updates: Updates) -> list[Figure]:
    backlog = f"a backlog of {updates.incidents} incidents x {updates.versions} versions drained"
    out = [
        Figure(SECTION, f"all up: {NAMES[kind]} throughput", phase.throughput(_channel(kind)), "updates/s", backlog)
        for kind in KINDS
    ]
    delivered = sum(len(phase.delivered(_channel(kind))) for kind in KINDS)
    per = phase.cpu_s / max(delivered, 1)
    note = f"{delivered} deliveries, ~{1 / per:,.0f} per core-second; {_cpu(phase)}"
    return [*out, Figure(SECTION, "all up: daemon CPU per delivery", 1000 * per, "ms", note)]


def down_figures(down: str, how: str, phase: Phase, base: Phase, updates: Updates) -> list[Figure]:
    out = []
    for kind in KINDS:
        if kind == down:
            continue
        now, before = phase.throughput(_channel(kind)), base.throughput(_channel(kind))
        note = f"{100 * now / before:.0f} % of all up; {_cpu(phase)}"
        out.append(Figure(SECTION, f"{NAMES[down]} {how}: {NAMES[kind]} throughput", now, "updates/s", note))
    pending = phase.pending(_channel(down))
    kept = "every update still queued" if pending == updates.total else f"{updates.total - pending} not queued"
    tries = f"{phase.attempts(_channel(down))} attempts in {phase.wall_s:.1f} s, one per incident per backoff round"
    out.append(Figure(SECTION, f"{NAMES[down]} {how}: its outbox depth", pending, "updates", f"{tries}; {kept}"))
    return out


def _channel(kind: str) -> str:
    return f"{TENANT}/{NAMES[kind]}"


def _received(kind: str, counts: Mapping[str, int]) -> str:
    """What the destination itself counted."""
    if kind == "webhook":
        return f"receiver: {counts.get('webhook', 0)} verified, {counts.get('webhook_rejected', 0)} rejected"
    if kind == "slack_bot":
        posts, updates = counts.get("slack chat.postMessage", 0), counts.get("slack chat.update", 0)
        return f"Slack: {posts} chat.postMessage, {updates} chat.update"
    return f"PagerDuty: {counts.get('pagerduty trigger', 0)} triggers"


def _q(values: list[float], q: float) -> float:
    return pct(values, q) if values else NAN


def _cpu(phase: Phase) -> str:
    return (
        f"daemon side {100 * phase.cpu_s / phase.wall_s:.0f} % core (its event loop"
        f" {100 * phase.loop_cpu_s / phase.wall_s:.0f} %), destinations"
        f" {100 * phase.child_cpu_s / phase.wall_s:.0f} %, over {phase.wall_s:.1f} s"
    )


def _filesystem(path: str) -> str:
    """The type of the filesystem holding ``path`` (its fsyncs are in every figure: one per delivery)."""
    best, kind = "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, fstype, *_ = line.split()
            if path.startswith(point) and len(point) > len(best):
                best, kind = point, fstype
    return kind


def _daemon_logging() -> None:
    """The daemon's logging as it runs (JSON lines, a warning per retry: part of the cost of a destination
    being down), written where nobody reads it."""
    configure_logging("warning", stream=open(os.devnull, "w"))  # noqa: SIM115  # open for the process's life


async def run_async(incidents: int, versions: int, rate: float) -> list[Figure]:
    _daemon_logging()
    os.environ[ENV["secret"]] = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    os.environ[ENV["slack"]] = "xoxb-bench-0000"
    os.environ[ENV["pagerduty"]] = "B" * 32
    updates = Updates(incidents, versions)
    child = Child("bench.destinations")
    try:
        urls = child.receive("ready")
        print(f"  outbox in {tempfile.gettempdir()} ({_filesystem(tempfile.gettempdir())}, synchronous=FULL)")
        latency = await run_phase(child, urls, updates, up=set(KINDS), rate=rate)
        base = await run_phase(child, urls, Updates(incidents, versions), up=set(KINDS), rate=None)
        down = []
        for kind, where, how in DOWN:
            phase_urls = {**urls, kind: urls[where]}
            up = set(KINDS) - {kind}
            phase = await run_phase(child, phase_urls, Updates(incidents, versions), up=up, rate=None)
            down.append((kind, how, phase))
        child.send("stop")
        child.join()
    finally:
        child.kill()
    return figures(latency, base, down, updates, rate)


def run(incidents: int, versions: int, rate: float) -> list[Figure]:
    return asyncio.run(run_async(incidents, versions, rate))


def main(argv: list[str] | None = None) -> list[Figure]:
    from rich.console import Console

    from bench.common import machine_facts
    from bench.run import report

    fmt = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(prog="bench.deliveries", description=__doc__, formatter_class=fmt)
    parser.add_argument("--incidents", type=int, help="incidents (default 200, quick 50)")
    parser.add_argument("--versions", type=int, help="versions per incident (default 5, quick 4)")
    parser.add_argument(
        "--rate", type=float, default=RATE, help=f"updates/s written in the latency run (default {RATE:g})"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 incidents x 4 versions")
    args = parser.parse_args(argv)
    facts = machine_facts()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    figs = run(args.incidents or (50 if args.quick else 200), args.versions or (4 if args.quick else 5), args.rate)
    report(Console(width=160), figs, facts)
    return figs


if __name__ == "__main__":
    main()
