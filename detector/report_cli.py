"""What the commands that report on a running deployment (``detector status``, ``detector posture``) share: their
arguments, and the config they read with its errors and an unknown ``--tenant`` said the same way."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.config import Config, ConfigError, load_config
from detector.respond.escaping import terminal_text
from detector.stderr import print_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--output", choices=("table", "json"), default="table", help="a table, or the API's JSON")


def config_of(args: argparse.Namespace) -> Config | None:
    """The config ``--config`` names, or None once the reason is printed (invalid, or no such ``--tenant``)."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print_error(str(exc))
        return None
    if args.tenant is not None and args.tenant not in {t.name for t in config.tenants}:
        print_error(f"no tenant {terminal_text(args.tenant)!r} in {args.config}")
        return None
    return config
