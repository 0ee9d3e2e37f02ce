"""Figure 8's destinations: a webhook receiver, a Slack Web API stand-in and a PagerDuty stand-in, each an
aiohttp server on its own 127.0.0.1 port, plus one that answers 503 and a port that refuses connections.

It runs as a child process of the bench (`python -m bench.destinations`; messages in `bench/child.py`) so
that the daemon's process is measured alone. The webhook receiver is the demo's (`detector.sim.receiver`:
it verifies every signature, with the secret in ITDR_BENCH_WEBHOOK_SECRET); the stand-ins answer as the
services do (Slack's `{"ok": true, "channel", "ts"}`, PagerDuty's 202 `Event processed`) and only count.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections import Counter
from typing import Any

from aiohttp import web

from bench.child import emit
from detector.logsetup import configure_logging
from detector.sim.receiver import WebhookReceiver

SECRET_ENV = "ITDR_BENCH_WEBHOOK_SECRET"
SLACK_CHANNEL = "C0BENCH"


class Counts:
    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        self.calls: Counter[str] = Counter()

    def snapshot(self) -> dict[str, int]:
        return {**self.calls, "webhook": len(self.receiver.deliveries), "webhook_rejected": self.receiver.rejected}


def slack_app(counts: Counts) -> web.Application:
    async def call(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json()
        counts.calls[f"slack {method}"] += 1
        if method == "chat.postMessage":
            ts = f"1700000000.{counts.calls['slack chat.postMessage']:06d}"
            return web.json_response({"ok": True, "channel": SLACK_CHANNEL, "ts": ts})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": SLACK_CHANNEL, "ts": body.get("ts")})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    app = web.Application()
    app.router.add_post("/api/{method}", call)
    return app


def pagerduty_app(counts: Counts) -> web.Application:
    async def enqueue(request: web.Request) -> web.Response:
        event = await request.json()
        counts.calls[f"pagerduty {event.get('event_action')}"] += 1
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}, status=202
        )

    app = web.Application()
    app.router.add_post("/v2/enqueue", enqueue)
    return app


def unavailable_app() -> web.Application:
    async def refuse(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", refuse)
    return app


async def _serve(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


def _refusing_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    """Emit ("ready", {destination: url}); then per line on stdin: "count" emits ("count", calls so far),
    "stop" ends."""
    configure_logging("warning")
    asyncio.run(_serve_all())


async def _serve_all() -> None:
    receiver = WebhookReceiver(os.environ[SECRET_ENV])
    counts = Counts(receiver)
    runners: list[web.AppRunner] = []
    try:
        ready: dict[str, Any] = {
            "webhook": await receiver.start(),
            "slack_bot": await _serve(slack_app(counts), runners) + "/api/",
            "pagerduty": await _serve(pagerduty_app(counts), runners),
            "unavailable": await _serve(unavailable_app(), runners),
            "refused": f"http://127.0.0.1:{_refusing_port()}",
        }
        emit("ready", ready)
        while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) != "stop":
            if command != "count":
                raise RuntimeError(f"destinations: unexpected command {command!r}")
            emit("count", counts.snapshot())
    finally:
        await receiver.stop()
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    main()
