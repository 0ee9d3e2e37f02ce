"""``detector status``: the tenant table, from the running daemon's API or, when it is down, its data.

The running daemon knows the live status (readiness, rate limits); its data directory keeps what a
restart keeps (state, error and since when, first connected, last success, recent polls), which is
what an operator needs when the daemon will not start. Slow tenants and errors are red.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.config import Config
from detector.ops.status import TenantStatus
from detector.report_cli import config_of
from detector.respond.escaping import terminal_text


def run(args: argparse.Namespace) -> int:
    config = config_of(args)
    if config is None:
        return 2
    tenants, source = asyncio.run(_from_api(config)) or (_from_data_dir(config), f"data in {config.data_dir}")
    tenants = [t for t in tenants if args.tenant in (None, t["tenant"])]
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps({"source": source, "tenants": tenants}, option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
    else:
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 200  # a pipe or a file: one row per tenant, not a wrapped column
        console.print(table(tenants, source))
    return 1 if any(t["status"] == "error" for t in tenants) else 0


async def _from_api(config: Config) -> tuple[list[dict[str, Any]], str] | None:
    """The running daemon's ``/api/v1/tenants``; None when there is no daemon (or no token) to ask."""
    http = config.http
    if http is None or http.token is None:
        return None
    host = f"[{http.bind}]" if ":" in http.bind else http.bind
    host = "127.0.0.1" if http.bind in ("0.0.0.0", "::") else host
    url = f"http://{host}:{http.port}/api/v1/tenants"
    headers = {"Authorization": f"Bearer {http.token.resolve().get_secret_value()}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(url, headers=headers) as resp,
        ):
            if resp.status != 200:
                return None
            return (await resp.json())["tenants"], f"the daemon at {url}"
    except (aiohttp.ClientError, TimeoutError):
        return None


def _from_data_dir(config: Config) -> list[dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = {}
    synced: dict[str, dict[str, Any]] = {}
    if config.db_path.exists():
        db = sqlite3.connect(f"file:{config.db_path}?mode=ro", uri=True)
        try:
            stored = _rows(db, "tenant_status")  # absent in a data directory from before tenant status existed
            synced = _rows(db, "inventory_sync_status")  # absent until an inventory sync ran
        finally:
            db.close()
    now = time.time()
    views = []
    for tenant in config.tenants:
        status = TenantStatus.restored(tenant.name, stored.get(tenant.name, {}))
        status.inventory = synced.get(tenant.name)
        view = status.to_dict(now, tenant.poll.slow_sync_s)
        if tenant.name not in stored:
            view["status"] = "never synced"
        views.append(view)
    return views


def _rows(db: sqlite3.Connection, table: str) -> dict[str, dict[str, Any]]:
    try:
        return {t: orjson.loads(v) for t, v in db.execute(f"SELECT tenant, value FROM {table}")}
    except sqlite3.OperationalError:
        return {}


def inventory_cell(view: dict[str, Any] | None) -> Text:
    """The inventory sync in one cell: its state, duration and user count, or its error (red)."""
    if not view:
        return Text("-")
    state = str(view.get("state"))
    counts = view.get("counts") or {}
    text = f"{state} {float(view.get('duration_s') or 0):.0f} s, {counts.get('user', 0)} users"
    if view.get("skipped"):
        text += f", {len(view['skipped'])} part(s) skipped"
    if state == "error":
        text += f": {view.get('error')}"
    style = {"success": "green", "error": "bold red"}.get(state, "yellow")
    return Text(terminal_text(text), style=style)


def table(tenants: list[dict[str, Any]], source: str) -> Table:
    out = Table(title=f"tenants ({source})", title_justify="left")
    for column in ("tenant", "status", "error", "first connected", "last success", "lag", "events/min", "inventory"):
        out.add_column(column, justify="right" if column in ("lag", "events/min") else "left")
    for t in tenants:
        error = t.get("error") or {}
        why = f"{error.get('code')}: {error.get('summary')} since {error.get('since')}" if error else ""
        failing = t["status"] in ("error", "never synced")
        lag = t.get("lag_seconds")
        out.add_row(
            Text(terminal_text(t["tenant"])),
            Text(t["status"], style="bold red" if failing else "green" if t["status"] == "success" else "yellow"),
            Text(terminal_text(why)),
            Text(t.get("first_connected") or "never"),
            Text(t.get("last_success") or "never"),
            Text("-" if lag is None else f"{lag:.0f} s", style="bold red" if t.get("slow") else ""),
            Text(str(t.get("events_per_minute", 0))),
            inventory_cell(t.get("inventory")),
        )
    return out
