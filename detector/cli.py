"""The `detector` command: run (embedded or Kafka), poller, worker, actions, check-config, sim, demo, replay."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from detector.config import Config, ConfigError, MetricsSettings, format_errors, load_config, secret_values
from detector.logsetup import configure_logging
from detector.ops.metrics import Metrics
from detector.redaction_key import existing_redaction_key
from detector.stderr import print_error, print_info


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag (also used by tests that check the commands in deploy/)."""
    parser = argparse.ArgumentParser(prog="detector", description="Streaming ITDR for Okta")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon: embedded (one process, SQLite) unless Kafka is set")
    run.add_argument("--config", "-c", type=Path, required=True)
    run.add_argument("--kafka", metavar="BOOTSTRAP", help="Kafka mode, every role in this process")
    run.add_argument("--web-port", type=_port, help="Kafka mode: Faust's web server port on 127.0.0.1")
    _metrics_port_argument(run)
    for role, text in (
        ("poller", "Kafka mode: only the System Log pollers"),
        ("worker", "Kafka mode: only a detection worker (Faust)"),
        ("actions", "Kafka mode: only the action worker"),
    ):
        sub = commands.add_parser(role, help=text)
        sub.add_argument("--config", "-c", type=Path, required=True)
        sub.add_argument("--kafka", metavar="BOOTSTRAP", help="host:port[,host:port] (default: kafka.bootstrap)")
        if role == "worker":
            sub.add_argument("--web-port", type=_port, help="Faust's web server port on 127.0.0.1")
        _metrics_port_argument(sub)

    check = commands.add_parser("check-config", help="validate a config file and resolve its secret references")
    check.add_argument("config", type=Path)

    test = commands.add_parser(
        "test-connection", help="check what each tenant's Okta credentials may do, changing nothing in the org"
    )
    from detector.connection_cli import add_arguments as add_connection_arguments

    add_connection_arguments(test)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay":
        from detector.replay import run as run_replay

        return run_replay(args)
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "test-connection":
        from detector.connection_cli import run as run_test_connection

        return run_test_connection(args)
    if args.command in ("run", "poller", "worker", "actions", "demo"):
        os.umask(0o077)  # what the daemon's libraries create (Faust's, RocksDB's files) is private too
    if args.command in ("run", "poller", "worker", "actions"):
        return _run(args)
    if args.command == "demo":
        from detector.demo import run_demo

        configure_logging("warning")
        return asyncio.run(run_demo(args.data_dir, timeout=args.timeout, dry_run=args.dry_run))
    from detector.sim.cli import run as run_sim

    configure_logging("info")
    return asyncio.run(run_sim(args))


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r}")
    return int(value)


def _metrics_port_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="N",
        help="serve /metrics and /healthz on this port (overrides metrics.port; one port per process)",
    )


def _metrics_settings(config: Config, port: int | None) -> MetricsSettings | None:
    """The config's ``metrics:`` section with ``--metrics-port`` applied; the flag alone enables it on loopback."""
    if port is None:
        return config.metrics
    return (config.metrics or MetricsSettings()).model_copy(update={"port": port})


def _startup_config(path: Path) -> tuple[Config, list[str]]:
    """The config and its resolved secrets, each credential loaded as startup will (ConfigError if not)."""
    from detector.tenants import check_auth

    config = load_config(path)
    secrets = secret_values(config)
    check_auth(config)
    existing_redaction_key(config)
    return config, secrets


def _check_config(path: Path) -> int:
    try:
        config, _ = _startup_config(path)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    for tenant in config.tenants:
        enforce = tenant.enforce.kind if tenant.enforce else "none (alert only)"
        mode = "dry-run" if tenant.response.dry_run else "enforcing"
        print_info(f"tenant {tenant.name}: {tenant.org_url} read={tenant.read.kind} enforce={enforce} {mode}")
    print_info(f"config OK: {len(config.tenants)} tenant(s), data in {config.data_dir}")
    return 0


def _load(path: Path) -> Config | None:
    try:
        config, secrets = _startup_config(path)
    except ConfigError as exc:
        print_error(str(exc))
        return None
    configure_logging(config.log_level, secrets)
    return config


def _run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    http = _metrics_settings(config, args.metrics_port)
    if args.command == "run" and not args.kafka and config.kafka is None:
        from detector.pipeline import EmbeddedPipeline

        pipeline = EmbeddedPipeline(config)
        return _serve(pipeline.run, pipeline.metrics, "embedded", http)
    return _run_kafka(args, config, http)


def _run_kafka(args: argparse.Namespace, config: Config, http: MetricsSettings | None) -> int:
    from detector import kafka_roles
    from detector.config import KafkaSettings
    from detector.ops.http import OpsHttpServer

    if args.kafka:
        base = config.kafka.model_dump() if config.kafka else {}
        try:
            kafka = KafkaSettings.model_validate({**base, "bootstrap": args.kafka})
        except ValidationError as exc:
            print_error(f"--kafka {args.kafka!r}: {format_errors(exc)}")
            return 2
    elif config.kafka:
        kafka = config.kafka
    else:
        print_error("Kafka mode needs --kafka BOOTSTRAP or a kafka: section in the config")
        return 2
    metrics = Metrics()

    def pollers(stop: asyncio.Event) -> Awaitable[None]:
        return kafka_roles.run_pollers(config, kafka, metrics, stop)

    def actions(stop: asyncio.Event) -> Awaitable[None]:
        return kafka_roles.run_actions(config, kafka, metrics, stop)

    if args.command in ("poller", "actions"):
        return _serve(pollers if args.command == "poller" else actions, metrics, args.command, http)
    app = kafka_roles.worker_app(config, kafka, metrics, args.web_port)
    server = OpsHttpServer(metrics.registry, "worker" if args.command == "worker" else "all", http) if http else None
    kafka_roles.run_worker(app, kafka, [pollers, actions] if args.command == "run" else [], server)
    return 0


def _serve(
    role: Callable[[asyncio.Event], Awaitable[None]], metrics: Metrics, name: str, http: MetricsSettings | None
) -> int:
    from detector.ops.http import OpsHttpError, serving

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with serving(metrics.registry, name, http):
            await role(stop)

    try:
        asyncio.run(serve())
    except OpsHttpError as exc:
        print_error(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
