"""``detector posture --config F [--tenant T]``: what fails now, per tenant, from the stored inventory.

Reads the data directory (the inventory the daemon's sync stored), so it works while the daemon runs and after
it stopped; it never calls Okta. Exit 1 when a check fails, 2 when there is nothing to read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson
from rich.console import Console

from detector.config import Config
from detector.inventory.report import posture_report, table
from detector.inventory.store import SqliteInventoryStore
from detector.report_cli import config_of
from detector.stderr import print_error


def run(args: argparse.Namespace) -> int:
    config = config_of(args)
    if config is None:
        return 2
    names = [t.name for t in config.tenants]
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
