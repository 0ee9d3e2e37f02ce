"""The detection worker's step without Faust (detector/stream/in_process.py, what figure 5 measures): both
passes of ``DetectionAgents`` over in-process tables and topics find what the detections find."""

from __future__ import annotations

from typing import Any

import orjson

from detections.engine import Engine, TenantContext
from detections.registry import build_detections
from detections.testkit import failed_sign_in
from detector.stream.in_process import InProcess, Message, Record, in_process, partition_of

T0 = 1_700_000_000.0
IP = "203.0.113.9"
PARTITIONS = 3


def worker() -> InProcess:
    return in_process({"acme": Engine(build_detections(), TenantContext("acme"))}, PARTITIONS)


def records(raws: list[dict[str, Any]]) -> list[Record]:
    """The events as the worker reads them: keyed ``tenant:actor``, on the partition that key is produced to."""
    out = []
    for raw in raws:
        key = f"acme:{raw['actor']['id']}".encode()
        out.append(Record(key, orjson.dumps(raw), Message(partition_of(key, PARTITIONS))))
    return out


def spray(n: int) -> list[dict[str, Any]]:
    """Failed sign-ins of ``n`` users from one IP: a spray, found by a detection keyed by IP (second pass)."""
    return [failed_sign_in(T0 + i * 60, f"user{i}@acme.com", ip=IP) for i in range(n)]


def detections_of(sent: list[Record]) -> list[str]:
    return [orjson.loads(r.value)["detection"] for r in sent]


async def test_the_second_pass_finds_the_spray_from_what_the_first_forwarded_and_a_redelivery_nothing_again() -> None:
    w = worker()
    await w.agents.by_actor(records(spray(12)))
    forwards = w.rekeyed.take()
    assert forwards and "password_spray" not in detections_of(w.findings.records)
    await w.agents.by_key(forwards)
    assert "password_spray" in detections_of(w.findings.take()) and w.agents.keyed_states
    await w.agents.by_key(forwards)  # redelivered: a crash after the state write, before the offset commit
    assert w.findings.take() == [] and w.deadletter.records == []
