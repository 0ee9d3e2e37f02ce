"""A real Apache Kafka broker for the Kafka test suite (see deploy/kafka/broker.py).

The broker is started once per session, on free loopback ports, from the jars that
``fetch_jars`` keeps in ``.cache/kafka-libs`` (Maven fetches them on the first run).
If it cannot start, the fixture raises with the tail of broker.log: the Kafka suite
fails, it never skips, because a skipped Kafka suite would hide the product's main path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from deploy.kafka.broker import Broker, fetch_jars, run_broker

READY_TIMEOUT_S = 90  # a loaded 2-core machine may need ~60 s

_timings: dict[str, float] = {}


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The session's running broker (sync fixture: readiness runs its own short event loop)."""
    t0 = time.monotonic()
    libs = fetch_jars()
    t1 = time.monotonic()
    # Raises BrokerError carrying broker.log's first errors and tail if it cannot start.
    broker = run_broker(tmp_path_factory.mktemp("kafka"), timeout=READY_TIMEOUT_S, libs_dir=libs)
    _timings["jars"] = t1 - t0
    _timings["start"] = time.monotonic() - t1
    try:
        yield broker
    finally:
        t2 = time.monotonic()
        broker.stop()
        _timings["stop"] = time.monotonic() - t2


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    """``host:port`` of the session's broker, for aiokafka/faust ``bootstrap_servers``."""
    return kafka_broker.bootstrap


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _timings:
        parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in _timings.items())
        terminalreporter.write_line(f"kafka broker: {parts}")


from tests.pipeline.conftest import sim  # noqa: E402,F401  (the simulator fixture, shared with pipeline tests)
