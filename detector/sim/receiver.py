"""A local receiver of the daemon's signed incident webhooks: where the demo and the delivery bench send.

It does what the README asks of a receiver: it verifies the raw body before parsing it
(``standard_webhooks.verify``: 401 when the signature or the timestamp is wrong) and drops a repeat of a
``webhook-id`` (one incident version), answering 204 either way, so a retried delivery is taken once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from detector.sim.standard_webhooks import verify

PATH = "/hooks/itdr"
MAX_BODY = 1 << 20  # the channel keeps a body well under this (its findings budget is 128 kB)


@dataclass(frozen=True, slots=True)
class Delivery:
    msg_id: str  # webhook-id: <incident key>.v<version>
    type: str  # incident.opened | incident.updated | incident.resolved
    incident: dict[str, Any]  # the body's data
    at: float  # wall time it was received


class WebhookReceiver:
    def __init__(self, secret: str, on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.secret = secret
        self.on_delivery = on_delivery
        self.deliveries: list[Delivery] = []
        self.rejected = 0  # requests whose signature did not verify
        self._seen: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a loopback port (0: a free one); returns the URL to configure the webhook channel with."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self._receive)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}{PATH}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            verify(self.secret, headers, body)
        except (KeyError, ValueError) as exc:  # a header missing or unreadable, a bad signature, a replay
            self.rejected += 1
            return web.Response(status=401, text=f"not verified: {type(exc).__name__}")
        msg_id = headers["webhook-id"]
        if msg_id not in self._seen:
            self._seen.add(msg_id)
            payload = orjson.loads(body)
            delivery = Delivery(msg_id, str(payload.get("type")), payload.get("data") or {}, time.time())
            self.deliveries.append(delivery)
            if self.on_delivery is not None:
                self.on_delivery(delivery)
        return web.Response(status=204)
