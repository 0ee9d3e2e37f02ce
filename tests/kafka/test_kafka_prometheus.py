"""A real Prometheus scrapes the three Kafka-mode roles (`detector poller`, `worker`, `actions`: subprocesses
against the simulator and the session's broker), as in deploy/docker-compose.yml.

Two tenants: ``acme`` with a few sign-ins, and ``broken``, whose read token was revoked. Each role's /metrics
passes ``promtool check metrics``; every dashboard and alert expression is evaluated against what Prometheus
scraped, the consumer lag included (tests/prometheus.py says the rule).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.kafka.broker import free_port
from detector.stream.kafka_bus import Topics
from tests.pipeline.conftest import Sim
from tests.pipeline.test_metrics_http import append_signins, scrape, wait_for_sample
from tests.prometheus import Prometheus, check_expressions, promtool

from .roles import Role, write_config

REVOKED = "sim-revoked-token-00000000000000"
ROLES = ("poller", "worker", "actions")


def with_broken_tenant(config: Path) -> Path:
    cfg = yaml.safe_load(config.read_text())
    revoked = {"kind": "ssws", "token": {"env": "ITDR_TEST_REVOKED_TOKEN"}}
    cfg["tenants"].append({**cfg["tenants"][0], "name": "broken", "read": revoked})
    config.write_text(yaml.safe_dump(cfg))
    return config


async def test_prometheus_scrapes_every_kafka_role_and_every_expression_answers(
    sim: Sim, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ITDR_TEST_REVOKED_TOKEN", REVOKED)
    append_signins(sim, sim.org.add_user(login="ann@acme.com", first_name="Ann", last_name="Lee"), 3)
    config = with_broken_tenant(write_config(sim, tmp_path, kafka_bootstrap, app_id="prometheus"))
    ports = {name: free_port() for name in ROLES}
    roles = [Role(name, config, tmp_path / f"{name}.log", "--metrics-port", str(ports[name])) for name in ROLES]
    for role in roles:
        await role.start()

    def alive() -> None:
        for role in roles:
            assert role.alive(), f"{role.command} exited:\n{role.tail()}"

    try:
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        await wait_for_sample(url["poller"], "itdr_tenant_status", {"tenant": "broken", "status": "error"}, 1, alive)
        topics = Topics("prometheus.")
        synced = {"tenant": "acme"}  # the poller syncs the inventory: its families have data
        await wait_for_sample(url["poller"], "itdr_inventory_last_success_timestamp_seconds", synced, 1, alive, 60)
        lag = {"group": "prometheus", "topic": topics.events}
        await wait_for_sample(url["worker"], "itdr_consumer_lag", lag, 0, alive, timeout=60)
        lag = {"group": "prometheus-actions", "topic": topics.findings}
        await wait_for_sample(url["actions"], "itdr_consumer_lag", lag, 0, alive, timeout=60)
        for name in ROLES:
            _, page = await scrape(url[name])
            linted = promtool("check", "metrics", stdin=page)
            assert linted.returncode == 0 and not (linted.stdout + linted.stderr).strip(), (name, linted)

        targets = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        async with Prometheus(tmp_path / "prometheus", targets) as prometheus:
            await prometheus.scraped()
            alive()
            await check_expressions(
                prometheus,
                tenants=["acme", "broken"],
                absent=[
                    *("itdr_deliveries", "itdr_outbox_depth", "itdr_delivery_lag_seconds"),  # no channel here
                ],
                defined_only=["itdr_tenant_permission_ok"],
            )
    finally:
        codes = {role.command: await role.stop() for role in roles}
    assert codes == dict.fromkeys(ROLES, 0), {role.command: role.tail() for role in roles}
