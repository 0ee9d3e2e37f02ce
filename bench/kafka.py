"""Figure 5: Kafka mode on a real local broker.

(a) the transport floor: a raw aiokafka consume loop over the events topic;
(b) a Faust detection worker (`detector worker`, a real process) draining the same events, next to its own
    step per event without Faust (``DetectionAgents`` over in-process tables and topics, the same events): what
    of the worker's time is our work and what is Faust and the transport;
(c) the whole path, simulator → `detector poller` → Kafka → `detector worker` → findings;
(d) end-to-end latency: push accept stored in the simulator → session clear received by the simulator,
    through `detector run --kafka` (every role in one process).

Throughput figures count from the first committed offset on the events topic until the worker has committed
every event and every record it forwarded to the rekeyed topic (the second pass), so process start-up and
group joins are left out and the result is rounded to a commit interval (Faust commits every ~2.8 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Figure, bystanders, jittered, population, push_bombing
from bench.latency import ENFORCE_TOKEN, READ_TOKEN, AcceptClock, config_dict, pct
from deploy.kafka.broker import Broker, fetch_jars, free_port, run_broker
from detections.threat_signals import Book
from detector.config import load_config
from detector.sim import RateLimits, SimOrg, SimServer
from detector.sim.traffic import TrafficConfig, TrafficGenerator, play
from detector.stream.bus import EventRecord
from detector.stream.faust_app import BATCH
from detector.stream.forwards import partition_of
from detector.stream.in_process import Message, Record, in_process
from detector.stream.kafka_bus import TopicPlan, Topics, ensure_topics, idempotent_producer
from detector.tenants import directories_for, engine_for

PARTITIONS = 3
WORKDIR = Path(__file__).resolve().parent.parent / "var" / "bench-kafka"
SECTION = "5 kafka"
STEP_REPEATS = 3  # runs of the worker's step without Faust, the least taken


async def _produce(bootstrap: str, topics: Topics, events: list[dict[str, Any]]) -> float:
    """Put the events on ``topics.events`` keyed as the poller keys them; return events/s."""
    producer = idempotent_producer(bootstrap)
    await producer.start()
    try:
        t0 = time.perf_counter()
        sent = []
        for event in events:
            raw = orjson.dumps(event)
            record = EventRecord.from_raw("acme", event, raw)
            sent.append(await producer.send(topics.events, raw, key=record.key.encode()))
        await asyncio.gather(*sent)
        return len(events) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def _raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=2000)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        got, t0 = 0, time.perf_counter()
        while got < n:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                got += len(batch)
        return got / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
    except Exception:  # no group coordinator / no offsets yet
        return 0
    finally:
        await admin.close()


async def _end(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far; nan where /proc has none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


@dataclass(frozen=True, slots=True)
class Drain:
    rate: float  # events/s, both passes
    done: int  # events committed
    cpu_us: float  # the worker's CPU per event over the same span (nan: unknown)


async def _drain_rate(
    bootstrap: str, group: str, topics: Topics, n: int, timeout: float, pid: int | None = None
) -> Drain:
    """Events/s from the first commit of ``group`` on ``topics.events`` until the worker is done with them: all
    ``n`` committed there, and every forward they made on ``topics.rekeyed`` committed too (the second pass is
    part of the work: counting only the first would leave it running behind the figure); the CPU process ``pid``
    used per event over the same span."""
    first: tuple[float, int, float] | None = None
    deadline = time.monotonic() + timeout
    done, forwards = 0, None
    while time.monotonic() < deadline:
        done = await _committed(bootstrap, group, topics.events)
        now = time.perf_counter()
        if done and first is None:
            first = (now, done, _cpu_s(pid))
        if done >= n:
            # every forward of the n events was acknowledged before their commit: the topic is complete
            forwards = await _end(bootstrap, topics.rekeyed) if forwards is None else forwards
            if await _committed(bootstrap, group, topics.rekeyed) >= forwards:
                break
        await asyncio.sleep(0.2)
    if first is None or done <= first[1]:
        return Drain(float("nan"), done, float("nan"))
    counted = done - first[1]
    cpu_us = (_cpu_s(pid) - first[2]) / counted * 1e6
    return Drain(counted / (time.perf_counter() - first[0]), done, cpu_us)


class _Timed:
    """Wraps a callable and adds up the time its calls take (perf_counter: cheap enough to wrap each call)."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.spent = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fun(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class Steps:
    first_us: float  # CPU per event of the first pass, no Faust
    second_us: float
    records: int  # sent to the rekeyed topic
    parts: dict[str, float]  # us per event of both passes, by part (their shares of the wall time, of the CPU)


async def _steps(config: Path, events: list[dict[str, Any]], repeats: int = STEP_REPEATS) -> Steps:
    """The least CPU of ``repeats`` runs of ``_step``: a CPU the box shares inflates a run, never deflates it."""
    runs = [await _step(config, events) for _ in range(repeats)]
    return min(runs, key=lambda s: s.first_us + s.second_us)


async def _step(config: Path, events: list[dict[str, Any]]) -> Steps:
    """CPU per event of the worker's two passes without Faust, and the records forwarded: the events as the
    worker reads them (bytes keyed as the poller keys them, in batches of BATCH), then every record the first
    pass sent to the rekeyed topic, the same way, by a fresh worker. Engines built from the worker's config,
    as ``detector worker`` builds them. Parsing, the detections, and the states' decoding and encoding are timed
    apart."""
    cfg = load_config(config)
    book = Book()
    directories = directories_for(cfg)
    engines = {t.name: engine_for(t, book, directories.get(t.name)) for t in cfg.tenants}
    worker = in_process(engines, PARTITIONS, book)
    step = worker.agents.detect
    parse, detect = _Timed(step.parse), _Timed(step.detect)
    step.parse, step.detect = parse, detect  # type: ignore[method-assign]
    decode, encode = _Timed(engines["acme"].decode_state), _Timed(engines["acme"].encode_state)
    engines["acme"].decode_state, engines["acme"].encode_state = decode, encode  # type: ignore[method-assign]
    records = []
    for event in events:
        raw = orjson.dumps(event)
        key = EventRecord.from_raw("acme", event, raw).key.encode()
        records.append(Record(key, raw, Message(partition_of(key, PARTITIONS))))
    wall = time.perf_counter()
    first = await _batches(worker.agents.by_actor, records)
    forwards = worker.rekeyed.take()
    second = await _batches(worker.agents.by_key, forwards)
    wall = time.perf_counter() - wall
    cpu_us = (first + second) / len(events) * 1e6
    spent = {
        "parsing": parse.spent,
        "detections": detect.spent - decode.spent,  # a state is decoded when a detection first reads it
        "state decode": decode.spent,
        "state encode": encode.spent,
    }
    spent["the rest"] = wall - sum(spent.values())
    parts = {name: cpu_us * part / wall for name, part in spent.items()}
    return Steps(first / len(events) * 1e6, second / len(events) * 1e6, len(forwards), parts)


async def _batches(run: Callable[[list[Record]], Awaitable[None]], records: list[Record]) -> float:
    """CPU seconds ``run`` takes over ``records`` in batches of BATCH."""
    t0 = time.process_time()
    for start in range(0, len(records), BATCH):
        await run(records[start : start + BATCH])
    return time.process_time() - t0


def _write_config(
    folder: Path, url: str, read_id: str, enforce_id: str, bootstrap: str, prefix: str, **over: Any
) -> Path:
    cfg = config_dict(url, folder / "data", read_id, enforce_id, over.pop("interval_s", 0.05))
    cfg["kafka"] = {"bootstrap": bootstrap, "partitions": PARTITIONS, "app_id": prefix, "topic_prefix": f"{prefix}."}
    cfg["log_level"] = "warning"
    cfg["tenants"][0].update(over)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "itdr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


async def _spawn(role: str, config: Path, log: Path, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ITDR_BENCH_READ_TOKEN": READ_TOKEN, "ITDR_BENCH_ENFORCE_TOKEN": ENFORCE_TOKEN}
    args = [sys.executable, "-m", "detector.cli", role, "--config", str(config), *extra]
    if role in ("worker", "run"):
        args += ["--web-port", str(free_port())]
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out, env=env)


async def _with_roles(
    roles: list[Awaitable[asyncio.subprocess.Process]],
    body: Callable[[list[asyncio.subprocess.Process]], Awaitable[Any]],
) -> Any:
    procs = [await r for r in roles]
    try:
        return await body(procs)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


def _org() -> tuple[SimOrg, str, str]:
    org = SimOrg(name="acme", seed=5, rate_limits=RateLimits(logs=1_000_000))
    return org, org.add_api_token(READ_TOKEN, name="itdr-reader"), org.add_api_token(ENFORCE_TOKEN, name="enforcer")


async def _throughput(broker: Broker, events: list[dict[str, Any]], tmp: Path) -> list[Figure]:
    bootstrap, n = broker.bootstrap, len(events)
    figures = []
    topics = Topics("bench-worker.")
    await ensure_topics(bootstrap, TopicPlan(topics, PARTITIONS))
    produced = await _produce(bootstrap, topics, events)
    floor = await _raw_consume(bootstrap, topics.events, n)
    figures += [
        Figure(SECTION, "idempotent produce (acks=all)", produced, "ev/s", f"{n} events, {PARTITIONS} partitions"),
        Figure(SECTION, "raw aiokafka consume (floor)", floor, "ev/s", "no parsing, no commits"),
    ]

    org, read_id, enforce_id = _org()
    async with SimServer(org) as server:
        config = _write_config(tmp / "worker", server.url, read_id, enforce_id, bootstrap, "bench-worker")
        worker = _spawn("worker", config, tmp / "worker.log")
        drain = await _with_roles(
            [worker], lambda procs: _drain_rate(bootstrap, "bench-worker", topics, n, 600, procs[0].pid)
        )
        figures.append(
            Figure(
                SECTION,
                "Faust worker (detections + tables)",
                drain.rate,
                "ev/s",
                f"{drain.rate / floor:.2f}x floor; {drain.done}/{n}",
            )
        )
        figures += _decomposition(drain, await _steps(config, events))

        for event in events:
            org.append(event)
        config = _write_config(tmp / "full", server.url, read_id, enforce_id, bootstrap, "bench-full")
        roles = [_spawn("poller", config, tmp / "poller.log"), _spawn("worker", config, tmp / "full-worker.log")]
        full = Topics("bench-full.")
        drain = await _with_roles(roles, lambda _: _drain_rate(bootstrap, "bench-full", full, n, 600))
        note = f"{drain.done}/{n} events through detections"
        figures.append(Figure(SECTION, "simulator → poller → Kafka → Faust", drain.rate, "ev/s", note))
    return figures


async def _latency(broker: Broker, attacks: int, poll_interval_s: float, tmp: Path) -> list[Figure]:
    pop = population(500)
    org, read_id, enforce_id = _org()
    pop.register(org)
    clock = AcceptClock(org)
    async with SimServer(org) as server:
        response = {"dry_run": False, "max_actions_per_hour": 3600}  # the config's maximum
        config = _write_config(
            tmp / "latency", server.url, read_id, enforce_id, broker.bootstrap, "bench-latency",
            interval_s=poll_interval_s, response=response,
        )  # fmt: skip
        stop = asyncio.Event()

        async def body(_: list[asyncio.subprocess.Process]) -> list[float]:
            traffic = TrafficGenerator(bystanders(pop, attacks), random.Random(3), TrafficConfig(rate=50.0))
            bg = asyncio.create_task(traffic.run(org, stop=stop))
            try:
                await asyncio.sleep(15)  # roles started, group joined, first polls made
                start = datetime.now(UTC) + timedelta(seconds=0.1)
                compiled = push_bombing(pop, start, jittered(attacks, 1.0), 1.0)
                await play(iter(compiled.emissions), clock)
                victims = {p.id for p in pop.people[:attacks]}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    cleared = {c.user_id: c.at for c in org.calls if c.action == "clear_sessions"}
                    if victims <= cleared.keys():
                        break
                    await asyncio.sleep(0.1)
                cleared = {c.user_id: c.at for c in org.calls if c.action == "clear_sessions"}
                return [cleared[v] - clock.appended[v] for v in victims if v in cleared and v in clock.appended]
            finally:
                stop.set()
                await bg

        run = _spawn("run", config, tmp / "run.log")
        lat = await _with_roles([run], body)
    note = f"{len(lat)}/{attacks} attacks, poll interval {poll_interval_s} s, `detector run --kafka`"
    nan = float("nan")
    return [
        Figure(SECTION, "p50 accept stored → session clear", pct(lat, 0.5) if lat else nan, "s", note),
        Figure(SECTION, "p99 accept stored → session clear", pct(lat, 0.99) if lat else nan, "s"),
    ]


def _decomposition(drain: Drain, steps: Steps) -> list[Figure]:
    """Where the Faust worker's time per event goes: our step (both passes, measured without Faust) and its
    parts, the rest of the worker's CPU (Faust, mode, aiokafka: records delivered, sent, committed, tables),
    and the time it spent waiting (wall time per event minus CPU per event: round trips to the broker, a CPU
    the box shares)."""
    wall_us = 1e6 / drain.rate
    ours = steps.first_us + steps.second_us
    split = f"first pass {steps.first_us:.0f} + second {steps.second_us:.0f} ({steps.records} records to rekeyed)"
    parts = ", ".join(f"{name} {us:.0f}" for name, us in steps.parts.items())
    return [
        Figure(SECTION, "  our step per event, no Faust", ours, "us", f"{split}; {1e6 / ours:.0f} ev/s"),
        Figure(SECTION, "    of which detections", steps.parts["detections"], "us", parts),
        Figure(SECTION, "  worker CPU per event", drain.cpu_us, "us", f"of {wall_us:.0f} us wall per event"),
        Figure(SECTION, "  Faust/transport CPU per event", drain.cpu_us - ours, "us", "worker CPU minus our step"),
        Figure(SECTION, "  worker waiting per event", wall_us - drain.cpu_us, "us", "wall minus CPU"),
    ]  # fmt: skip


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


async def run(events: list[dict[str, Any]], attacks: int, poll_interval_s: float) -> list[Figure]:
    """The roles' logs stay in var/bench-kafka/ (replaced on each run) for when a figure looks wrong."""
    tmp = _fresh(WORKDIR)
    broker = await asyncio.to_thread(run_broker, tmp / "broker", libs_dir=fetch_jars())
    try:
        return [*await _throughput(broker, events, tmp), *await _latency(broker, attacks, poll_interval_s, tmp)]
    finally:
        await asyncio.to_thread(broker.stop)
