"""``detector posture --config F [--tenant T]``: what fails now, per tenant, from the stored inventory.

Reads the data directory (the inventory the daemon's sync stored), so it works while the daemon runs and after
it stopped; it never calls Okta. Exit 1 when a check fails, 2 when there is nothing to read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from detector.config import Config, ConfigError, load_config
from detector.inventory.report import posture_report, table
from detector.inventory.store import SqliteInventoryStore
from detector.respond.escaping import terminal_text
from detector.stderr import print_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--output", choices=("table", "json"), default="table", help="a table, or the API's JSON")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    names = [t.name for t in config.tenants]
    if args.tenant is not None and args.tenant not in names:
        print_error(f"no tenant {terminal_text(args.tenant)!r} in {args.config}")
        return 2
    if not config.db_path.exists():
        print_error(f"no data in {config.data_dir}: the daemon has not synced the directory yet")
        return 2
    reports = asyncio.run(_reports(config, [n for n in names if args.tenant in (None, n)]))
    return show(reports, args.output)


async def _reports(config: Config, tenants: list[str]) -> list[dict[str, Any]]:
    settings = {t.name: t.posture for t in config.tenants}
    now = time.time()
    async with SqliteInventoryStore(config.db_path) as store:
        return [posture_report(await store.load(name), settings[name], now) for name in tenants]


def show(reports: list[dict[str, Any]], output: str) -> int:
    """Print the reports; 1 when a check fails (scripts and CI can gate on it), else 0."""
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps({"tenants": reports}, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 200  # a pipe or a file: rows not wrapped into a narrow column
        for report in reports:
            console.print(table(report))
    return 1 if any(r["findings"] for r in reports) else 0
