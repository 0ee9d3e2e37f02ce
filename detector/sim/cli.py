"""`detector sim`: serve a simulated Okta org with background traffic and an optional scenario."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal

from rich.console import Console

from detector.sim.org import SimOrg
from detector.sim.org_population import build_directory
from detector.sim.ratelimit import RateLimits
from detector.sim.scenario import ScenarioRunner, bundled_scenarios, load_scenario
from detector.sim.server import SimServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8900, help="port to listen on")
    parser.add_argument(
        "--scenario", default="demo", help=f"a scenario YAML file or a bundled one ({', '.join(bundled_scenarios())})"
    )
    parser.add_argument("--token", help="SSWS token the simulator accepts (default: a random one, printed)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="<1 plays the scenario's steps faster")
    parser.add_argument("--logs-per-minute", type=int, default=120, help="rate limit of the /api/v1/logs bucket")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated users and traffic")
    parser.add_argument(
        "--directory-users",
        type=int,
        default=0,
        help="furnish a directory of N users (groups, admins, apps, grants, tokens, IdPs) for an inventory sync",
    )
    parser.add_argument("--directory-groups", type=int, default=200, help="groups of that directory (in all)")


async def run(args: argparse.Namespace) -> int:
    console = Console()
    scenario = load_scenario(args.scenario)
    org = SimOrg(name="acme", seed=args.seed, rate_limits=RateLimits(logs=args.logs_per_minute))
    token = args.token or secrets.token_urlsafe(24)
    token_id = org.add_api_token(token, name="itdr")
    if args.directory_users > 0:
        build_directory(org, args.directory_users, args.directory_groups, seed=args.seed)
    server = SimServer(org, host=args.host, port=args.port)
    await server.start()
    console.print(f"Okta simulator at [bold]{server.url}[/] (scenario {scenario.name!r})")
    console.print(f"SSWS token for this run: {token}  (id {token_id}); stop with Ctrl-C")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    play = asyncio.create_task(ScenarioRunner(org, scenario, args.time_scale).run(until_cancelled=True))
    try:
        await stop.wait()
    finally:
        play.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await play
        await server.stop()
    return 0
