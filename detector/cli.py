"""The `detector` command: run, check-config, sim, demo, replay."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from rich.console import Console

from detector.config import ConfigError, load_config, secret_values
from detector.logsetup import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detector", description="Streaming ITDR for Okta")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon (embedded mode: one process, local SQLite)")
    run.add_argument("--config", "-c", type=Path, required=True)

    check = commands.add_parser("check-config", help="validate a config file and resolve its secret references")
    check.add_argument("config", type=Path)

    demo = commands.add_parser("demo", help="simulator + daemon + an MFA push-bombing attack, end to end")
    demo.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    demo.add_argument("--timeout", type=float, default=90.0, help="give up after this many seconds")
    demo.add_argument("--dry-run", action="store_true", help="decide actions but do not call Okta")

    sim = commands.add_parser("sim", help="run the Okta simulator (a real HTTP server) with background traffic")
    from detector.sim.cli import add_arguments as add_sim_arguments

    add_sim_arguments(sim)

    replay = commands.add_parser("replay", help="run the detections offline over exported System Log files")
    from detector.replay import add_arguments as add_replay_arguments

    add_replay_arguments(replay)

    args = parser.parse_args(argv)
    if args.command == "replay":
        from detector.replay import run as run_replay

        return run_replay(args)
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "run":
        return _run(args.config)
    if args.command == "demo":
        from detector.demo import run_demo

        configure_logging("warning")
        return asyncio.run(run_demo(args.data_dir, timeout=args.timeout, dry_run=args.dry_run))
    from detector.sim.cli import run as run_sim

    configure_logging("info")
    return asyncio.run(run_sim(args))


def _check_config(path: Path) -> int:
    console = Console(stderr=True)
    try:
        config = load_config(path)
        secret_values(config)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]", markup=False, highlight=False)
        return 2
    for tenant in config.tenants:
        enforce = tenant.enforce.kind if tenant.enforce else "none (alert only)"
        mode = "dry-run" if tenant.response.dry_run else "enforcing"
        console.print(f"tenant {tenant.name}: {tenant.org_url} read={tenant.read.kind} enforce={enforce} {mode}")
    console.print(f"config OK: {len(config.tenants)} tenant(s), data in {config.data_dir}")
    return 0


def _run(path: Path) -> int:
    from detector.pipeline import EmbeddedPipeline

    try:
        config = load_config(path)
        configure_logging(config.log_level, secret_values(config))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await EmbeddedPipeline(config).run(stop)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
