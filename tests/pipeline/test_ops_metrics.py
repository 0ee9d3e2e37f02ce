"""The ops metrics of the embedded pipeline against the simulator, read from its registry while it runs.

Every labelled counter starts at 0, so ``increase()`` sees the first finding, failed action and dead letter; a
tenant whose token was revoked shows in error with no successful poll; lag and cursor age keep growing while
polls fail; the rate-limit quota and 429s, an action's latency and the circuit breaker are reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest

from detections.catalogue import finding_names
from detections.confidence import Action, Tier
from detector.config import Config, parse_config
from detector.okta.budget import BUCKETS, Priority
from detector.ops.labels import POLL_ERROR_CODES
from detector.ops.metrics import OUTCOMES
from detector.pipeline import EmbeddedPipeline
from detector.sim import RateLimits
from detector.sim.ratelimit import RateLimiter

from .conftest import READ_TOKEN, Sim, config_dict, daemon_config
from .test_embedded_pipeline import clears, inject_push_bombing, run_until
from .test_metrics_http import append_signins

REVOKED = "sim-revoked-token-00000000000000"


def with_broken_tenant(sim: Sim, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """acme, and a tenant ``broken`` on the same org whose read token was revoked (Okta answers 401 E0000011)."""
    daemon_config(sim, data_dir, monkeypatch)  # sets the token variables
    monkeypatch.setenv("ITDR_TEST_REVOKED_TOKEN", REVOKED)
    cfg = config_dict(sim, data_dir)
    broken = {
        **cfg["tenants"][0],
        "name": "broken",
        "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_REVOKED_TOKEN"}},
    }
    cfg["tenants"].append(broken)
    return parse_config(cfg)


def sampler(pipeline: EmbeddedPipeline) -> Callable[..., float | None]:
    def value(name: str, **labels: str) -> float | None:
        return pipeline.metrics.registry.get_sample_value(name, labels)

    return value


async def test_every_counter_starts_at_zero_and_a_tenant_that_never_worked_is_in_error(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    pipeline = EmbeddedPipeline(with_broken_tenant(sim, tmp_path, monkeypatch))
    value = sampler(pipeline)
    started = time.time()

    def both_polled() -> bool:
        failed = value("itdr_poll_errors_total", tenant="broken", code="E0000011") or 0
        return failed >= 1 and (value("itdr_last_successful_poll_timestamp_seconds", tenant="acme") or 0) > 0

    await run_until(pipeline, both_polled, timeout=10)

    names = {name for emitted in finding_names().values() for name in emitted}
    assert {"mfa_push_bombing", "mfa_push_accepted"} <= names and "mfa_fatigue" not in names
    for tenant in ("acme", "broken"):
        for name in names:
            for tier in Tier:
                assert value("itdr_findings_total", tenant=tenant, detection=name, tier=tier.value) == 0
        for detection in finding_names():
            assert value("itdr_detection_errors_total", tenant=tenant, detection=detection) == 0
        for action in Action:
            for outcome in OUTCOMES:
                assert value("itdr_actions_total", tenant=tenant, action=action.value, outcome=outcome) == 0
            assert value("itdr_action_latency_seconds_count", tenant=tenant, action=action.value) == 0
        for bucket in BUCKETS:
            assert value("itdr_rate_limited_total", tenant=tenant, bucket=bucket) == 0
            for priority in Priority:
                labels = {"tenant": tenant, "bucket": bucket, "priority": priority.label}
                assert value("itdr_rate_budget_waits_total", **labels) == 0
                assert value("itdr_rate_budget_wait_seconds_total", **labels) == 0
        assert value("itdr_deadletter_total", tenant=tenant) == 0
        assert value("itdr_circuit_breaker_open", tenant=tenant) == 0
        assert value("itdr_detection_latency_seconds_count", tenant=tenant) == 0
    assert value("itdr_deadletter_total", tenant="other") == 0
    for code in POLL_ERROR_CODES - {"E0000011"}:
        assert value("itdr_poll_errors_total", tenant="broken", code=code) == 0

    def status(tenant: str) -> dict[str, float | None]:
        return {s: value("itdr_tenant_status", tenant=tenant, status=s) for s in ("success", "in_progress", "error")}

    assert status("broken") == {"success": 0, "in_progress": 0, "error": 1}
    assert status("acme") == {"success": 1, "in_progress": 0, "error": 0}
    assert value("itdr_last_successful_poll_timestamp_seconds", tenant="broken") == 0
    assert started <= (value("itdr_last_successful_poll_timestamp_seconds", tenant="acme") or 0) <= time.time()
    assert value("itdr_events_ingested_total", tenant="broken") == 0
    assert 0 <= (value("itdr_rate_limit_remaining", tenant="acme", bucket="logs") or -1) < 600  # the sim's quota
    assert value("itdr_build_info", version=version("okta-itdr")) == 1


async def test_while_polls_fail_lag_and_cursor_age_keep_growing_and_the_last_success_stays(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    user = sim.org.add_user(login="ann@acme.com", first_name="Ann", last_name="Lee")
    append_signins(sim, user, 1)  # published 30 s ago
    pipeline = EmbeddedPipeline(daemon_config(sim, tmp_path, monkeypatch))
    value = sampler(pipeline)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        while not value("itdr_events_ingested_total", tenant="acme"):
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
        assert (value("itdr_poll_lag_seconds", tenant="acme") or 0) < 5  # caught up: not the event's age
        del sim.org.api_tokens[READ_TOKEN]  # revoked
        while value("itdr_tenant_status", tenant="acme", status="error") != 1:
            await asyncio.sleep(0.05)
        last = value("itdr_last_successful_poll_timestamp_seconds", tenant="acme")
        lag, age = value("itdr_poll_lag_seconds", tenant="acme"), value("itdr_poll_cursor_age_seconds", tenant="acme")
        await asyncio.sleep(1.0)
        assert value("itdr_last_successful_poll_timestamp_seconds", tenant="acme") == last
        assert (value("itdr_poll_lag_seconds", tenant="acme") or 0) >= (lag or 0) + 0.9
        assert (value("itdr_poll_cursor_age_seconds", tenant="acme") or 0) >= (age or 0) + 0.9 >= 30
        assert value("itdr_poll_errors_total", tenant="acme", code="E0000011") == 1  # auth errors back off 60 s
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_429_is_counted_per_bucket(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sim.org.limiter = RateLimiter(RateLimits(logs=2, window_seconds=1.0), sim.org.clock)
    async with aiohttp.ClientSession(headers={"Authorization": f"SSWS {READ_TOKEN}"}) as admin:
        for _ in range(2):  # someone else spends the org's logs quota
            async with admin.get(f"{sim.url}/api/v1/logs") as response:
                assert response.status == 200
    pipeline = EmbeddedPipeline(daemon_config(sim, tmp_path, monkeypatch))
    value = sampler(pipeline)
    await run_until(pipeline, lambda: value("itdr_tenant_status", tenant="acme", status="success") == 1)
    assert value("itdr_rate_limited_total", tenant="acme", bucket="logs") == 1  # then the retry after the reset
    assert value("itdr_rate_limited_total", tenant="acme", bucket="users") == 0
    assert value("itdr_rate_limit_remaining", tenant="acme", bucket="logs") in (0, 1)


async def test_a_done_action_reports_its_latency_and_a_spent_breaker_opens(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    victim = sim.org.add_user(login="victim@acme.com", first_name="Vic", last_name="Tim")
    t0 = time.time() - 120
    inject_push_bombing(sim, victim, t0)  # the accepted push, which completes the finding, at t0 + 32
    config = daemon_config(sim, tmp_path, monkeypatch, response={"max_actions_per_hour": 1})
    pipeline = EmbeddedPipeline(config)
    value = sampler(pipeline)
    await run_until(pipeline, lambda: value("itdr_circuit_breaker_open", tenant="acme") == 1, timeout=15)

    assert len(clears(sim)) == 1
    labels = {"tenant": "acme", "action": "clear_sessions"}
    assert value("itdr_actions_total", **labels, outcome="done") == 1
    assert value("itdr_action_latency_seconds_count", **labels) == 1
    assert time.time() - (t0 + 32) - 20 < (value("itdr_action_latency_seconds_sum", **labels) or 0) <= time.time() - t0
