"""A small HTTP server per process: ``GET /metrics`` (Prometheus text format) and ``GET /healthz``.

Every role serves its own (``detector run``, ``poller``, ``worker``, ``actions``); several roles on one
host need one port each (``--metrics-port``). It serves only the daemon's own registry (labels are
tenant, detection, tier, action, outcome, error code: never a secret or an identity) and a health line
naming the role. The admin API (tenant status, findings, actions) is a separate, later server.

Whoever can reach the port can hold connections open: a client that has not sent its request head
within REQUEST_TIMEOUT_S is closed, and past MAX_CONNECTIONS a new connection is closed on accept, so
slow clients cannot keep Prometheus (or a /healthz probe) out for longer than the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from detector.config import MetricsSettings

log = structlog.get_logger(__name__)

# A client gets this long from connecting (or from its last response) to send a whole request head:
# aiohttp 3.14 arms its keep-alive timer at connect and closes a connection still waiting for one. The
# same bound is how long an unread request body is drained after the response (its lingering time).
REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 32  # Prometheus needs one or two; more are refused at once, not queued
SHUTDOWN_TIMEOUT_S = 2.0  # a stuck client must not hold up the process's exit


class OpsHttpError(RuntimeError):
    """The server could not start (e.g. its port is taken); the message says where and why."""


class OpsHttpServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        role: str,
        settings: MetricsSettings,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.registry, self.role, self.settings = registry, role, settings
        self.request_timeout_s, self.max_connections = request_timeout_s, max_connections
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host = self.settings.bind
        return f"http://{f'[{host}]' if ':' in host else host}:{self.settings.port}"

    async def start(self) -> OpsHttpServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(
            app,
            access_log=None,  # a scrape every 15 s is not news
            handle_signals=False,
            keepalive_timeout=self.request_timeout_s,
            lingering_time=self.request_timeout_s,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        assert runner.server is not None
        connections = _Slots(runner.server, self.max_connections)
        try:  # no web.TCPSite: it takes aiohttp's protocol factory as is, with no connection limit
            listener = await asyncio.get_running_loop().create_server(
                connections, self.settings.bind, self.settings.port
            )
        except OSError as exc:
            await runner.cleanup()
            raise OpsHttpError(f"cannot serve /metrics on {self.url}: {exc.strerror or exc}") from None
        self._runner, self._listener = runner, listener
        log.info("ops.http_serving", role=self.role, url=self.url)
        return self

    async def stop(self) -> None:
        runner, listener = self._runner, self._listener
        self._runner = self._listener = None
        if runner is not None and listener is not None:
            listener.close()
            await runner.cleanup()  # closes the open connections
            await listener.wait_closed()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": self.role})


class _Slots:
    """aiohttp's protocol factory with at most ``limit`` connections open: one more is closed as it is
    accepted, before aiohttp reads from it. Counted at connect and disconnect, which asyncio pairs."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server, self.limit, self.open = server, limit, 0

    def __call__(self) -> _Connection:
        return _Connection(self)


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler behind it if a slot was free, else closed at once."""

    def __init__(self, slots: _Slots) -> None:
        self._slots = slots
        self._handler: RequestHandler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._slots.open >= self._slots.limit:
            transport.abort()
            return
        self._slots.open += 1
        self._handler = self._slots.server()
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handler is not None:
            self._slots.open -= 1
            self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()


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
