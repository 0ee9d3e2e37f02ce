"""Metric labels taken from outside data are bounded: a server's errorCode or a record key never becomes a
new series (each one lives in Prometheus for good, and it may carry an identity)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust
from aiohttp import web
from prometheus_client import generate_latest

from detector.config import parse_config
from detector.ingest.poller import PollerSettings, TenantPoller
from detector.okta import OktaClient, SswsAuth
from detector.ops.metrics import Metrics
from detector.stream.bus import Cursor, EventRecord
from detector.stream.faust_app import DetectionAgents
from detector.stream.kafka_bus import Topics
from detector.tenants import engine_for

HOSTILE = "E0000003-someone@acme.com"
RESPONSES = [  # what the org answers to each poll, and the label each failure must get
    (400, {"errorCode": HOSTILE, "errorSummary": "someone@acme.com is not welcome"}, "other"),
    (403, {"errorCode": "E0000006", "errorSummary": "You do not have permission"}, "E0000006"),
    (401, None, "http_401"),
    (400, {"errorCode": "E0000001", "errorSummary": "Api validation failed"}, "E0000001"),
    (404, {"errorCode": "x" * 5000}, "other"),
    (200, "not json", "bad_response"),
]


class NoSink:
    """The poller never gets a page to commit here: every poll fails."""

    async def load_cursor(self, tenant: str) -> Cursor | None:
        return None

    async def commit_page(self, tenant: str, records: Sequence[EventRecord], cursor: Cursor) -> int:
        raise AssertionError("no poll succeeds in this test")


async def test_a_hostile_error_code_from_the_server_is_counted_as_other(aiohttp_server):
    served: list[int] = []

    async def logs(_request: web.Request) -> web.Response:
        status, body, _ = RESPONSES[min(len(served), len(RESPONSES) - 1)]
        served.append(status)
        if isinstance(body, dict):
            return web.json_response(body, status=status)
        return web.Response(status=status, text=body or "")

    app = web.Application()
    app.router.add_get("/api/v1/logs", logs)
    server = await aiohttp_server(app)
    metrics = Metrics()
    settings = PollerSettings(error_backoff_s=0.001, auth_backoff_s=0.001, max_backoff_s=0.001)
    stop = asyncio.Event()
    async with OktaClient(str(server.make_url("/")), SswsAuth("00token"), max_retries=0) as client:
        task = asyncio.create_task(TenantPoller("acme", client, NoSink(), metrics, settings).run(stop))
        for _ in range(500):
            if len(served) >= len(RESPONSES):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
    assert len(served) >= len(RESPONSES)

    counts: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "itdr_poll_errors_total":
                counts[sample.labels["code"]] = sample.value
    expected = {label for _, _, label in RESPONSES}
    assert set(counts) == expected, counts
    assert counts["other"] >= 2 and counts["E0000006"] == 1 and counts["http_401"] == 1
    page = generate_latest(metrics.registry).decode()
    assert "someone@acme.com" not in page and HOSTILE not in page and "xxxxx" not in page


class SentTopic:
    """Stands in for a Faust topic: keeps what was sent, every delivery acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, **message) -> asyncio.Future[None]:
        self.sent.append(message)
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


async def test_a_record_keyed_by_an_unknown_tenant_is_dead_lettered_under_other():
    tenant = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    engines = {"acme": engine_for(parse_config({"tenants": [tenant]}).tenants[0])}
    metrics = Metrics()
    agents = DetectionAgents(faust.App("labels-test", autodiscover=False), engines, metrics, Topics(), 1)
    agents.deadletter = SentTopic()  # type: ignore[assignment]

    class Record:
        def __init__(self, key: bytes, value: bytes) -> None:
            self.key, self.value = key, value

    await agents.by_actor([Record(f"{HOSTILE}:00u1".encode(), b"{}"), Record(b"acme:00u1", b"not json")])  # type: ignore[list-item]

    def dead(tenant: str) -> float | None:
        return metrics.registry.get_sample_value("itdr_deadletter_total", {"tenant": tenant})

    assert (dead("other"), dead("acme"), dead(HOSTILE)) == (1.0, 1.0, None)
    assert HOSTILE not in generate_latest(metrics.registry).decode()
    assert agents.deadletter.sent[0]["headers"]["tenant"] == HOSTILE.encode()  # the letter keeps it, for triage
