"""The /metrics server is not held by slow clients: real sockets that send half a request line, or a body
that never comes, are closed within the timeout, and connections past the limit are refused at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from deploy.kafka.broker import free_port
from detector.config import HttpSettings
from detector.ops.http import OpsHttpServer

TIMEOUT_S = 0.6


@pytest.fixture
async def server() -> AsyncIterator[OpsHttpServer]:
    settings = HttpSettings(port=free_port())
    ops = await OpsHttpServer(
        CollectorRegistry(), "test", settings, request_timeout_s=TIMEOUT_S, max_connections=4
    ).start()
    try:
        yield ops
    finally:
        await ops.stop()


async def connect(server: OpsHttpServer, send: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(server.settings.bind, server.settings.port)
    if send:
        writer.write(send)
        await writer.drain()
    return reader, writer


async def seconds_until_closed(reader: asyncio.StreamReader, limit: float = 5.0) -> tuple[float, bytes]:
    """How long until the server closes the connection, and what it sent before."""
    start, received = time.monotonic(), b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), limit):
            received += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - start, received


async def healthz(server: OpsHttpServer) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as response:
        return response.status


async def test_half_a_request_line_is_closed_within_the_timeout(server: OpsHttpServer):
    slow = [await connect(server, b"GET /healthz HT") for _ in range(3)]
    assert await healthz(server) == 200  # below the limit, a slow client does not block another
    for reader, writer in slow:
        elapsed, received = await seconds_until_closed(reader)
        assert received == b"" and elapsed < TIMEOUT_S + 1.0
        writer.close()


async def test_a_body_that_never_comes_is_not_waited_for(server: OpsHttpServer):
    reader, writer = await connect(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789"
    )
    start = time.monotonic()
    _, received = await seconds_until_closed(reader)
    assert received.startswith(b"HTTP/1.1 200 OK") and b'"role": "test"' in received
    assert time.monotonic() - start < 2 * TIMEOUT_S + 1.0
    writer.close()


async def test_connections_past_the_limit_are_refused_and_healthz_is_back_after_the_timeout(server: OpsHttpServer):
    start = time.monotonic()
    idle = [await connect(server) for _ in range(4)]
    await asyncio.sleep(0.1)  # accepted
    refused, _ = await connect(server)
    elapsed, received = await seconds_until_closed(refused)
    assert received == b"" and elapsed < TIMEOUT_S / 2, "the fifth connection is closed at once"
    with pytest.raises(aiohttp.ClientConnectionError):
        await healthz(server)
    while True:
        try:
            assert await healthz(server) == 200
            break
        except aiohttp.ClientConnectionError:
            assert time.monotonic() - start < TIMEOUT_S + 2.0, "the idle connections are still holding every slot"
            await asyncio.sleep(0.05)
    for reader, writer in idle:
        assert (await seconds_until_closed(reader, 0.5))[1] == b""
        writer.close()
