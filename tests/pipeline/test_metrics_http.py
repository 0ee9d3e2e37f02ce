"""`detector run` (embedded) serves /metrics and /healthz over real HTTP while it works.

The daemon is a real subprocess against the simulator; the page is parsed with prometheus_client's
own text parser, so a format Prometheus cannot read fails here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from deploy.kafka.broker import free_port
from detections.testkit import log_event

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> tuple[Samples, str]:
    """``GET {url}/metrics``: every sample by (name, sorted labels), and the raw text."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version="), response.headers
        text = await response.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return samples, text


async def health(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert response.status == 200
        return await response.json()


async def wait_for_sample(url: str, name: str, labels: dict[str, str], at_least: float, alive, timeout=20.0) -> float:
    """Scrape until the sample reaches ``at_least``; ``alive()`` is asserted between scrapes."""
    key = (name, tuple(sorted(labels.items())))
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        alive()
        try:
            value = (await scrape(url))[0].get(key)
        except aiohttp.ClientConnectionError:
            value = None  # not listening yet
        if value is not None and value >= at_least:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name}{labels} is {value}, expected >= {at_least} within {timeout} s")


def append_signins(sim: Sim, user: dict, count: int) -> None:
    t0, login = time.time() - 30, user["profile"]["login"]
    for i in range(count):
        sim.org.append(log_event("user.authentication.sso", t0 + i * 0.01, user=user["id"], login=login))


async def start_daemon(config: Path, log: Path, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ITDR_TEST_READ_TOKEN": READ_TOKEN, "ITDR_TEST_ENFORCE_TOKEN": ENFORCE_TOKEN}
    args = [sys.executable, "-m", "detector.cli", "run", "--config", str(config), *extra]
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out, env=env)


def write_config(sim: Sim, tmp_path: Path, **top: object) -> Path:
    cfg = {**config_dict(sim, tmp_path / "data"), **top}
    path = tmp_path / "itdr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


async def test_embedded_daemon_serves_growing_metrics_and_health(sim: Sim, tmp_path: Path):
    user = sim.org.add_user(login="ann@acme.com", first_name="Ann", last_name="Lee")
    append_signins(sim, user, 5)
    port = free_port()
    config = write_config(sim, tmp_path, metrics={"bind": "127.0.0.1", "port": port})
    log = tmp_path / "daemon.log"
    proc = await start_daemon(config, log)
    url = f"http://127.0.0.1:{port}"

    def alive() -> None:
        assert proc.returncode is None, log.read_text()[-3000:]

    try:
        first = await wait_for_sample(url, "itdr_events_ingested_total", {"tenant": "acme"}, 5, alive)
        append_signins(sim, user, 7)
        second = await wait_for_sample(url, "itdr_events_ingested_total", {"tenant": "acme"}, first + 7, alive)
        assert second > first
        await wait_for_sample(url, "itdr_events_processed_total", {"tenant": "acme"}, second, alive)
        samples, text = await scrape(url)
        assert samples[("itdr_poll_lag_seconds", (("tenant", "acme"),))] >= 0
        assert READ_TOKEN not in text and ENFORCE_TOKEN not in text
        assert await health(url) == {"status": "ok", "role": "embedded"}
        async with aiohttp.ClientSession() as session, session.get(f"{url}/table/actor-states") as response:
            assert response.status == 404  # nothing but the two pages
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, log.read_text()[-3000:]


async def test_a_taken_metrics_port_stops_startup_with_the_reason(sim: Sim, tmp_path: Path):
    config = write_config(sim, tmp_path)  # no metrics section: the flag alone turns the server on
    log = tmp_path / "daemon.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await start_daemon(config, log, "--metrics-port", str(port))
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
    assert code == 2, log.read_text()[-3000:]
    assert f"cannot serve /metrics on http://127.0.0.1:{port}" in log.read_text()
