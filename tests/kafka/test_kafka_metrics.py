"""Each Kafka-mode role serves its own /metrics and /healthz, on its own port (several roles, one host)."""

from __future__ import annotations

from pathlib import Path

from deploy.kafka.broker import free_port
from detector.stream.kafka_bus import Topics
from tests.pipeline.conftest import ENFORCE_TOKEN, READ_TOKEN, Sim
from tests.pipeline.test_metrics_http import append_signins, health, scrape, wait_for_sample

from .roles import Role, write_config

EVENTS = 6


async def test_poller_worker_and_actions_each_serve_their_metrics(sim: Sim, kafka_bootstrap: str, tmp_path: Path):
    user = sim.org.add_user(login="ann@acme.com", first_name="Ann", last_name="Lee")
    append_signins(sim, user, EVENTS)
    config = write_config(sim, tmp_path, kafka_bootstrap, app_id="metrics")
    ports = {name: free_port() for name in ("poller", "worker", "actions")}
    roles = {name: Role(name, config, tmp_path / f"{name}.log", "--metrics-port", str(ports[name])) for name in ports}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for role in roles.values():
        await role.start()

    def alive() -> None:
        for role in roles.values():
            assert role.alive(), f"{role.command} exited:\n{role.tail()}"

    tenant = {"tenant": "acme"}
    topics = Topics("metrics.")
    try:
        await wait_for_sample(urls["poller"], "itdr_events_ingested_total", tenant, EVENTS, alive, timeout=60)
        await wait_for_sample(urls["worker"], "itdr_events_processed_total", tenant, EVENTS, alive, timeout=60)
        lag = {"group": "metrics", "topic": topics.events}
        await wait_for_sample(urls["worker"], "itdr_consumer_lag", lag, 0, alive, timeout=30)
        lag = {"group": "metrics-actions", "topic": topics.findings}
        await wait_for_sample(urls["actions"], "itdr_consumer_lag", lag, 0, alive, timeout=30)
        for name, url in urls.items():
            assert await health(url) == {"status": "ok", "role": name}
            _, text = await scrape(url)
            assert READ_TOKEN not in text and ENFORCE_TOKEN not in text
        # each process counts what it does: the poller ingests, only the worker runs detections
        poller, _ = await scrape(urls["poller"])
        assert ("itdr_events_processed_total", (("tenant", "acme"),)) not in poller
    finally:
        codes = {name: await role.stop() for name, role in roles.items()}
    assert codes == dict.fromkeys(roles, 0), {name: role.tail() for name, role in roles.items()}
