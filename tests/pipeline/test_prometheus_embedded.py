"""A real Prometheus scrapes `detector run` (embedded mode, a subprocess against the simulator).

Two tenants: ``broken``, whose read token was revoked (401 E0000011 on every poll), and ``acme``, whose read token
works and whose enforcement token was revoked, so a push-bombing attack's session clear fails: the first failed
action, which fires ItdrActionsFailing because its counter was scraped at 0 before. Then every dashboard and alert
expression is evaluated against what Prometheus scraped (tests/prometheus.py says the rule), and promtool checks
the daemon's /metrics page.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from deploy.kafka.broker import free_port
from tests.prometheus import Prometheus, check_expressions, promtool

from .conftest import Sim, config_dict
from .test_embedded_pipeline import inject_push_bombing
from .test_metrics_http import scrape, start_daemon, wait_for_sample

REVOKED = "sim-revoked-token-00000000000000"


def two_tenants(sim: Sim, tmp_path: Path, port: int) -> Path:
    """``acme`` delivers its incidents to a webhook receiver, so the delivery series have data too."""
    cfg = config_dict(sim, tmp_path / "data")
    acme = cfg["tenants"][0]
    revoked = {"kind": "ssws", "token": {"env": "ITDR_TEST_REVOKED_TOKEN"}}
    hook = {
        "kind": "webhook",
        "name": "soar",
        "url": {"env": "ITDR_TEST_HOOK_URL"},
        "secret": {"env": "ITDR_TEST_HOOK_SECRET"},
    }
    cfg["tenants"] = [{**acme, "enforce": revoked, "channels": [hook]}, {**acme, "name": "broken", "read": revoked}]
    cfg["metrics"] = {"bind": "127.0.0.1", "port": port}
    path = tmp_path / "itdr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


async def test_prometheus_scrapes_the_embedded_daemon_and_every_expression_answers(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_server
):
    monkeypatch.setenv("ITDR_TEST_REVOKED_TOKEN", REVOKED)
    receiver = web.Application()
    received: list[bytes] = []

    async def accept(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    receiver.router.add_post("/hook", accept)
    server = await aiohttp_server(receiver)
    monkeypatch.setenv("ITDR_TEST_HOOK_URL", str(server.make_url("/hook")))
    monkeypatch.setenv("ITDR_TEST_HOOK_SECRET", "whsec_" + base64.b64encode(b"k" * 32).decode())
    port = free_port()
    log = tmp_path / "daemon.log"
    proc = await start_daemon(two_tenants(sim, tmp_path, port), log)
    url = f"http://127.0.0.1:{port}"

    def alive() -> None:
        assert proc.returncode is None, log.read_text()[-3000:]

    try:
        await wait_for_sample(url, "itdr_tenant_status", {"tenant": "broken", "status": "error"}, 1, alive)
        _, page = await scrape(url)
        linted = promtool("check", "metrics", stdin=page)
        assert linted.returncode == 0 and not linted.stdout.strip() and not linted.stderr.strip(), linted

        async with Prometheus(tmp_path / "prometheus", {"embedded": f"127.0.0.1:{port}"}) as prometheus:
            await prometheus.scraped()  # the failed-action counter is at 0 in Prometheus before the attack
            victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
            inject_push_bombing(sim, victim, time.time() - 120)
            firing = 'ALERTS{alertname="ItdrActionsFailing", alertstate="firing"}'
            (alert,) = await prometheus.wait_for(firing, timeout=30)
            assert alert["metric"]["tenant"] == "acme" and alert["metric"]["action"] == "clear_sessions"
            alive()
            await prometheus.wait_for('itdr_deliveries_total{outcome="delivered"} > 0', timeout=30)
            assert received  # the incident reached the receiver
            await prometheus.scraped()
            await check_expressions(
                prometheus,
                tenants=["acme", "broken"],
                absent=["itdr_consumer_lag"],  # Kafka mode's
                defined_only=["itdr_tenant_permission_ok"],  # set by the test connection, another module
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, log.read_text()[-3000:]
