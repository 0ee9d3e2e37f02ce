"""`detector sim --directory-users N`: the served org has the furnished directory an inventory sync reads."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

import aiohttp

from detector.sim import cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sim_command_serves_a_furnished_directory() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    port = _free_port()
    args = parser.parse_args(
        ["--port", str(port), "--token", "cli-token", "--directory-users", "300", "--directory-groups", "50",
         "--scenario", "raw_events", "--time-scale", "0.01"]
    )  # fmt: skip
    task = asyncio.create_task(cli.run(args))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": "SSWS cli-token"}) as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/api/v1/groups") as resp:
                        groups = await resp.json()
                        break
                await asyncio.sleep(0.05)
            assert len(groups) == 50
            async with http.get(f"{base}/api/v1/apps", params={"limit": "200"}) as resp:
                assert "saasure" in {a["name"] for a in await resp.json()}
            async with http.get(f"{base}/api/v1/users", params={"limit": "200"}) as resp:
                assert resp.status == 200 and 'rel="next"' in ",".join(resp.headers.getall("Link"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
