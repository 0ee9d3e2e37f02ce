"""A small HTTP server per process: ``GET /metrics`` (Prometheus text format) and ``GET /healthz``.

Every role serves its own (``detector run``, ``poller``, ``worker``, ``actions``); several roles on one
host need one port each (``--metrics-port``). It serves only the daemon's own registry (labels are
tenant, detection, tier, action, outcome, error code: never a secret or an identity) and a health line
naming the role. The admin API (tenant status, findings, actions) is a separate, later server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from detector.config import MetricsSettings

log = structlog.get_logger(__name__)


class OpsHttpError(RuntimeError):
    """The server could not start (e.g. its port is taken); the message says where and why."""


class OpsHttpServer:
    def __init__(self, registry: CollectorRegistry, role: str, settings: MetricsSettings) -> None:
        self.registry, self.role, self.settings = registry, role, settings
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = self.settings.bind
        return f"http://{f'[{host}]' if ':' in host else host}:{self.settings.port}"

    async def start(self) -> OpsHttpServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)  # a scrape every 15 s is not news
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.bind, self.settings.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise OpsHttpError(f"cannot serve /metrics on {self.url}: {exc.strerror or exc}") from None
        self._runner = runner
        log.info("ops.http_serving", role=self.role, url=self.url)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": self.role})


@contextlib.asynccontextmanager
async def serving(
    registry: CollectorRegistry, role: str, settings: MetricsSettings | None
) -> AsyncIterator[OpsHttpServer | None]:
    """Serve for the duration of the block; ``settings`` None: nothing is served."""
    if settings is None:
        yield None
        return
    server = await OpsHttpServer(registry, role, settings).start()
    try:
        yield server
    finally:
        await server.stop()
