"""The clients of one tenant share one budget (detector.tenants.OktaClients), with the tenant's settings."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from detector.config import TenantConfig, parse_config
from detector.okta import Priority
from detector.ops.metrics import Metrics
from detector.tenants import OktaClients


def _tenant(name: str = "acme", **poll: Any) -> TenantConfig:
    token = {"kind": "ssws", "token": {"env": "ITDR_TEST_TOKEN"}}
    raw = {"name": name, "org_url": f"https://{name}.okta.com", "read": token, "enforce": token, "poll": poll}
    return parse_config({"tenants": [raw]}).tenants[0]


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITDR_TEST_TOKEN", "00sswsSECRETtokenVALUE0123456789abcdef")


async def test_reader_enforcer_and_a_sync_client_of_a_tenant_share_one_budget_with_its_settings() -> None:
    acme = _tenant(budget_share=0.4, sync_share=0.25, sync_reserve=3, sync_concurrency=5)
    async with OktaClients() as clients:
        reader, enforcer = clients.reader(acme), clients.enforcer(acme)
        syncer = clients.client(acme, acme.read, Priority.SYNC)
        other = clients.reader(_tenant("globex"))
    assert enforcer is not None and reader.budget is enforcer.budget is syncer.budget
    assert other.budget is not reader.budget  # one budget per org
    assert (reader.priority, enforcer.priority, syncer.priority) == (Priority.TAIL, Priority.TAIL, Priority.SYNC)
    budget = reader.budget
    assert budget.share == 0.4
    assert (budget.sync.share, budget.sync.reserve, budget.sync.concurrency) == (0.25, 3, 5)


async def test_changed_budget_settings_make_a_new_budget_the_same_settings_keep_it() -> None:
    async with OktaClients() as clients:
        first = clients.reader(_tenant()).budget
        assert clients.reader(_tenant()).budget is first  # a tenant restarted by a reload keeps what it learned
        assert clients.reader(_tenant(sync_reserve=4)).budget is not first


async def test_the_budget_reports_its_waits_to_the_metrics_by_priority() -> None:
    metrics = Metrics(CollectorRegistry())
    async with OktaClients(metrics) as clients:
        budget = clients.reader(_tenant()).budget
    now = time.time()
    spent = {"X-Rate-Limit-Limit": "20", "X-Rate-Limit-Remaining": "10", "X-Rate-Limit-Reset": str(int(now) + 1)}
    budget.update("users", {**spent, "Date": formatdate(now, usegmt=True)})  # the tail's share (10) is spent
    waited = await budget.acquire("users", Priority.TAIL)
    labels = {"tenant": "acme", "bucket": "users", "priority": "tail"}
    value = metrics.registry.get_sample_value
    assert value("itdr_rate_budget_waits_total", labels) == 1
    assert value("itdr_rate_budget_wait_seconds_total", labels) == pytest.approx(waited) and waited > 0
    assert value("itdr_rate_limit_remaining", {"tenant": "acme", "bucket": "users"}) == 10
