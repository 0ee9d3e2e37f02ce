"""The `detector` command: run (embedded or Kafka), poller, worker, actions (and its list, undo), allowlist,
status, incidents, inventory (sync, show), posture, check-config, sim, demo, replay."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from pydantic import ValidationError

from detector.config import Config, ConfigError, HttpSettings, format_errors
from detector.logsetup import configure_logging
from detector.ops.http import Api
from detector.ops.metrics import Metrics
from detector.stderr import print_error, print_info
from detector.tenants import validated_config
from detector.version import package_version

CONFIG_HELP = "the daemon's config file (YAML; docs/config.md)"


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag (also used by tests that check the commands in deploy/)."""
    parser = argparse.ArgumentParser(prog="detector", description="Streaming ITDR for Okta")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon: embedded (one process, SQLite) unless Kafka is set")
    run.add_argument("--config", "-c", type=Path, required=True, help=CONFIG_HELP)
    run.add_argument("--kafka", metavar="BOOTSTRAP", help="Kafka mode, every role in this process")
    run.add_argument("--web-port", type=_port, help="Kafka mode: Faust's web server port on 127.0.0.1")
    _metrics_port_argument(run)
    for role, text in (
        ("poller", "Kafka mode: only the System Log pollers"),
        ("worker", "Kafka mode: only a detection worker (Faust)"),
        ("actions", "Kafka mode: only the action worker; `actions list|undo ID`: the ledger, undo an action"),
    ):
        sub = commands.add_parser(role, help=text)
        sub.add_argument("--config", "-c", type=Path, required=True, help=CONFIG_HELP)
        sub.add_argument("--kafka", metavar="BOOTSTRAP", help="host:port[,host:port] (default: kafka.bootstrap)")
        if role == "worker":
            sub.add_argument("--web-port", type=_port, help="Faust's web server port on 127.0.0.1")
        if role == "actions":
            from detector.respond.cli import add_action_arguments

            add_action_arguments(sub)
        _metrics_port_argument(sub)

    allowlist = commands.add_parser("allowlist", help="hold back actions on a user until a time (a travel notice)")
    from detector.respond.cli import add_allowlist_arguments

    add_allowlist_arguments(allowlist)

    status = commands.add_parser("status", help="each tenant's status, from the running daemon or its data")
    from detector.report_cli import add_arguments as add_status_arguments

    add_status_arguments(status)

    incidents = commands.add_parser("incidents", help="the incidents an embedded daemon keeps: list, show KEY")
    from detector.respond.incidents_cli import add_arguments as add_incident_arguments

    add_incident_arguments(incidents)

    inventory = commands.add_parser("inventory", help="the directory inventory: sync it now, show what it holds")
    from detector.inventory.cli import add_arguments as add_inventory_arguments

    add_inventory_arguments(inventory)

    posture = commands.add_parser(
        "posture", help="what each tenant's posture checks find now, from the stored directory inventory"
    )
    from detector.report_cli import add_arguments as add_posture_arguments

    add_posture_arguments(posture)

    check = commands.add_parser("check-config", help="validate a config file and resolve its secret references")
    check.add_argument("config", type=Path, help=CONFIG_HELP)

    test = commands.add_parser(
        "test-connection", help="check what each tenant's Okta credentials may do, changing nothing in the org"
    )
    from detector.connection_cli import add_arguments as add_connection_arguments

    add_connection_arguments(test)

    demo = commands.add_parser("demo", help="simulator + daemon + an MFA push-bombing attack, end to end")
    demo.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="where the demo keeps its data")
    demo.add_argument("--timeout", type=float, default=90.0, help="give up after this many seconds")
    demo_mode = demo.add_mutually_exclusive_group()
    demo_mode.add_argument("--dry-run", action="store_true", help="decide actions but do not call Okta")
    demo_mode.add_argument(
        "--approve", action="store_true", help="the session clear waits for approval; the demo approves by signed link"
    )

    sim = commands.add_parser("sim", help="run the Okta simulator (a real HTTP server) with background traffic")
    from detector.sim.cli import add_arguments as add_sim_arguments

    add_sim_arguments(sim)

    listing = commands.add_parser(
        "detections", help="every detection: MITRE techniques, tiers, evidence, actions, settings with their ranges"
    )
    listing.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="a table (tab-separated lines off a terminal), or a JSON array as docs/detections.md's model",
    )

    replay = commands.add_parser("replay", help="run the detections offline over exported System Log files")
    from detector.replay import add_arguments as add_replay_arguments

    add_replay_arguments(replay)
    return parser


def _list_detections(output: str) -> int:
    """The catalogue docs/detections.md is generated from: rich on a terminal, plain text in a pipe, or JSON."""
    import json

    from rich.console import Console

    from detector import catalogue

    rows = catalogue.detections()
    if output == "json":
        print(json.dumps([d.to_dict() for d in rows], indent=2, ensure_ascii=False))
    elif sys.stdout.isatty():
        Console().print(catalogue.table(rows))
    else:
        sys.stdout.write(catalogue.plain(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "detections":
        return _list_detections(args.output)
    if args.command == "replay":
        from detector.replay import run as run_replay

        return run_replay(args)
    if args.command == "status":
        from detector.ops.status_cli import run as run_status

        return run_status(args)
    if args.command == "incidents":
        from detector.respond.incidents_cli import run as run_incidents

        return run_incidents(args)
    if args.command == "inventory":
        from detector.inventory.cli import run as run_inventory

        return run_inventory(args)
    if args.command == "posture":
        from detector.inventory.posture_cli import run as run_posture

        return run_posture(args)
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "test-connection":
        from detector.connection_cli import run as run_test_connection

        return run_test_connection(args)
    if args.command == "allowlist" or (args.command == "actions" and args.verb):
        from detector.respond.cli import run_actions, run_allowlist

        return run_allowlist(args) if args.command == "allowlist" else run_actions(args)
    if args.command in ("run", "poller", "worker", "actions", "demo"):
        os.umask(0o077)  # what the daemon's libraries create (Faust's, RocksDB's files) is private too
    if args.command in ("run", "poller", "worker", "actions"):
        return _run(args)
    if args.command == "demo":
        from detector.demo import run_demo

        configure_logging("warning")
        return asyncio.run(run_demo(args.data_dir, timeout=args.timeout, dry_run=args.dry_run, approve=args.approve))
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
        help="serve /metrics, /healthz, /readyz and the admin API on this port (overrides http.port; one per process)",
    )


def _metrics_settings(config: Config, port: int | None) -> HttpSettings | None:
    """The config's ``http:`` section with ``--metrics-port`` applied; the flag alone enables it on loopback."""
    if port is None:
        return config.http
    return (config.http or HttpSettings()).model_copy(update={"port": port})


def _check_config(path: Path) -> int:
    try:
        config, _ = validated_config(path)
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
        config, secrets = validated_config(path)
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

        pipeline = EmbeddedPipeline(config, config_path=args.config)
        return _serve(pipeline.run, pipeline.metrics, "embedded", http, pipeline.api(), pipeline.reload)
    return _run_kafka(args, config, http)


def _run_kafka(args: argparse.Namespace, config: Config, http: HttpSettings | None) -> int:
    from detector import kafka_roles
    from detector.config import KafkaSettings
    from detector.ops.http import build_server
    from detector.respond.routes import ResponseDesk, response_routes

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
    poller_role = kafka_roles.PollerRole(config, kafka, metrics)

    def pollers(stop: asyncio.Event) -> Awaitable[None]:
        return poller_role.run(stop)

    desk: list[ResponseDesk | None] = [None]  # set by the action worker once it is up

    def actions(stop: asyncio.Event) -> Awaitable[None]:
        return kafka_roles.run_actions(config, kafka, metrics, stop, on_desk=lambda d: desk.__setitem__(0, d))

    response, public = response_routes(lambda: desk[0])
    actions_api = Api(routes=response, public=public)
    if args.command == "poller":
        return _serve(pollers, metrics, "poller", http, poller_role.api())
    if args.command == "actions":
        return _serve(actions, metrics, "actions", http, actions_api)
    app = kafka_roles.worker_app(config, kafka, metrics, args.web_port)
    both = poller_role.api()
    both = Api(routes=[*both.routes, *response], public=public, readiness=both.readiness)
    role, api = ("worker", None) if args.command == "worker" else ("all", both)
    server = build_server(metrics.registry, role, http, api) if http else None
    kafka_roles.run_worker(app, kafka, [pollers, actions] if args.command == "run" else [], server)
    return 0


def _serve(
    role: Callable[[asyncio.Event], Awaitable[None]],
    metrics: Metrics,
    name: str,
    http: HttpSettings | None,
    api: Api | None = None,
    reload: Callable[[], Awaitable[list[str]]] | None = None,
) -> int:
    from detector.datadir_lock import DataDirInUse
    from detector.ops.http import OpsHttpError, serving

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reloads: set[asyncio.Task[None]] = set()

        def on_hup() -> None:  # without a handler SIGHUP would kill the role mid-batch
            if reload is None:
                structlog.get_logger(__name__).warning(
                    "config.reload_unsupported", role=name, hint="restart this role to apply a new config"
                )
                return
            task = asyncio.create_task(_reload_logged(reload))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
        async with serving(metrics.registry, name, http, api):
            await role(stop)

    try:
        asyncio.run(serve())
    except (OpsHttpError, DataDirInUse) as exc:
        print_error(str(exc))
        return 2
    return 0


async def _reload_logged(reload: Callable[[], Awaitable[list[str]]]) -> None:
    """A SIGHUP's reload: a config that fails validation is refused, with the reason, and the running one kept."""
    try:
        await reload()
    except ConfigError as exc:
        structlog.get_logger(__name__).error("config.reload_refused", reason=str(exc))


if __name__ == "__main__":
    sys.exit(main())
