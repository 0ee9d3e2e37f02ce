"""``detector inventory sync`` (one full sync now, per tenant: records per kind and duration) and ``detector
inventory show`` (what is stored: a summary, or the records of one kind).

A sync from here raises what the daemon's sync raises (posture on change, inventory changes: the same
``raise_after_sync``) onto itdr.findings; the daemon takes them on from there when it runs, so a sync run by
hand is not a sync whose changes are never raised.

Every value shown passes ``terminal_text`` and goes into a ``rich.text.Text``, never into markup: group names,
app labels and logins are typed by the org's admins and users. Errors are one line, without a traceback and
without a secret (Okta's error code, summary and request id at most).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.config import Config, ConfigError, TenantConfig, load_config
from detector.datadir_lock import DataDirInUse, DataDirLock
from detector.inventory.model import RECORD_KINDS, decode, encode
from detector.inventory.review import PostureResults, raise_after_sync, watched
from detector.inventory.store import SqliteInventoryStore
from detector.inventory.sync import InventorySync
from detector.logsetup import configure_logging
from detector.okta.budget import Priority
from detector.respond.escaping import terminal_text
from detector.stderr import print_error
from detector.stream.embedded import EmbeddedBus
from detector.tenants import OktaClients, validated_config

_STATE_STYLE = {"success": "green", "in_progress": "yellow", "error": "bold red"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="inventory_command", required=True)
    sync = sub.add_parser("sync", help="run one full inventory sync now (the daemon must not be running)")
    sync.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    sync.add_argument("--tenant", help="only this tenant (default: every tenant with inventory.enabled)")
    show = sub.add_parser("show", help="what the inventory holds: a summary, or the records of one kind")
    show.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    show.add_argument("--tenant", required=True, help="the tenant")
    show.add_argument("--kind", choices=sorted(RECORD_KINDS), help="list the records of this kind")
    show.add_argument("--limit", type=int, default=200, help="at most this many records (default 200)")
    show.add_argument("--output", choices=("table", "json"), default="table", help="a table, or JSON")


def run(args: argparse.Namespace) -> int:
    if args.inventory_command == "sync":
        return _sync(args)
    return _show(args)


# -- sync -------------------------------------------------------------------------------------------


def _sync(args: argparse.Namespace) -> int:
    try:
        config, secrets = validated_config(args.config)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    tenants = [t for t in config.tenants if (t.name == args.tenant if args.tenant else t.inventory.enabled)]
    if not tenants:
        names = ", ".join(t.name for t in config.tenants)
        print_error(
            f"no tenant {args.tenant!r} in {args.config} (have: {names})"
            if args.tenant
            else "no tenant has inventory.enabled"
        )
        return 2
    configure_logging("error", secrets)
    try:
        with DataDirLock(config.data_dir):
            results = asyncio.run(_sync_all(config, tenants))
    except DataDirInUse as exc:
        print_error(f"{exc} (a running daemon syncs the inventory itself, at start and every inventory.interval_s)")
        return 2
    console = Console(highlight=False, soft_wrap=True)
    for tenant, status in results:
        console.print(sync_table(tenant, status))
        for line, style in sync_lines(status):
            console.print(Text(line, style=style))
    return 0 if all(s["state"] == "success" for _, s in results) else 1


async def _sync_all(config: Config, tenants: list[TenantConfig]) -> list[tuple[str, dict[str, Any]]]:
    """Each tenant's sync, then what it raises (``status["raised"]``: how many findings; absent: no review)."""
    results = []
    bus = await EmbeddedBus(config.db_path).open()
    try:
        async with (
            SqliteInventoryStore(config.db_path) as store,
            PostureResults(config.db_path) as posture,
            OktaClients() as clients,
        ):
            polled = await bus.load_status()  # the daemon's tenant status: when it first read each System Log
            for tenant in tenants:
                previous = await store.load(tenant.name)
                status = await InventorySync(
                    tenant.name, clients.reader(tenant).with_priority(Priority.SYNC), store
                ).run()
                if status["state"] == "success":
                    now = time.time()
                    watch = watched(tenant, (polled.get(tenant.name) or {}).get("first_connected"), now)
                    current = await store.load(tenant.name)
                    done = await raise_after_sync(bus, posture, tenant, status, previous, current, watch, now)
                    if done is not None:
                        status = status | {"raised": len(done.findings)}
                results.append((tenant.name, status))
    finally:
        await bus.close()
    return results


def sync_table(tenant: str, status: dict[str, Any]) -> Table:
    table = Table(title=f"inventory of {terminal_text(tenant)}", title_justify="left")
    table.add_column("kind")
    table.add_column("records", justify="right")
    for kind, n in sorted((status.get("counts") or {}).items()):
        table.add_row(Text(terminal_text(kind)), Text(str(n)))
    return table


def sync_lines(status: dict[str, Any]) -> list[tuple[str, str]]:
    """The verdict (state and duration), then each part skipped with Okta's reason, and what was malformed."""
    state = str(status.get("state"))
    resumed = f", resumed {status['resumed']} time(s)" if status.get("resumed") else ""
    lines = [(f"{state} in {float(status.get('duration_s') or 0):.1f} s{resumed}", _STATE_STYLE.get(state, ""))]
    if status.get("error"):
        lines.append((terminal_text(f"error: {status['error']}"), "red"))
    for part, reason in sorted((status.get("skipped") or {}).items()):
        lines.append((terminal_text(f"skipped {part}: {reason}"), "yellow"))
    for part, reason in sorted((status.get("fallbacks") or {}).items()):
        lines.append((terminal_text(f"{part} read one object at a time (its list was refused: {reason})"), "yellow"))
    for kind, n in sorted((status.get("malformed") or {}).items()):
        lines.append((terminal_text(f"malformed {kind}: {n} object(s) skipped"), "yellow"))
    if "raised" in status:
        lines.append((f"raised {status['raised']} posture and inventory-change finding(s) onto itdr.findings", ""))
    return lines


# -- show -------------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    if args.tenant not in {t.name for t in config.tenants}:
        print_error(f"no tenant {args.tenant!r} in {args.config}")
        return 2
    if args.limit < 1:
        print_error("--limit must be at least 1")
        return 2
    if not config.db_path.exists():
        print_error(f"no data in {config.data_dir}: no inventory has been synced yet")
        return 2
    db = sqlite3.connect(f"file:{config.db_path}?mode=ro", uri=True)  # works while the daemon runs
    try:
        status_row = db.execute("SELECT value FROM inventory_sync_status WHERE tenant = ?", (args.tenant,)).fetchone()
        if args.kind is None:
            counts = dict(
                db.execute(
                    "SELECT kind, COUNT(*) FROM inventory_records WHERE tenant = ? GROUP BY kind", (args.tenant,)
                )
            )
            records: list[Any] = []
        else:
            rows = db.execute(
                "SELECT value FROM inventory_records WHERE tenant = ? AND kind = ? ORDER BY id LIMIT ?",
                (args.tenant, args.kind, args.limit),
            ).fetchall()
            records = [decode(args.kind, orjson.loads(v)) for (v,) in rows]
    except sqlite3.OperationalError as exc:
        print_error(f"cannot read the inventory from {config.db_path}: {exc} (has a sync run yet?)")
        return 2
    finally:
        db.close()
    status = orjson.loads(status_row[0]) if status_row else None
    if args.output == "json":
        body = {"tenant": args.tenant, "sync": status}
        body |= {"records": [encode(r) for r in records]} if args.kind else {"counts": counts}
        sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    console = Console(highlight=False, soft_wrap=True)
    if args.kind is None:
        console.print(sync_table(args.tenant, {"counts": counts}))
        for line, style in sync_lines(status) if status else [("never synced", "red")]:
            console.print(Text(line, style=style))
    else:
        console.print(records_table(args.tenant, args.kind, records))
    return 0


def records_table(tenant: str, kind: str, records: list[Any]) -> Table:
    names = [f.name for f in fields(RECORD_KINDS[kind])]
    table = Table(title=f"{kind} records of {terminal_text(tenant)} ({len(records)})", title_justify="left")
    for name in names:
        table.add_column(name)
    for record in records:
        table.add_row(*(Text(terminal_text(_cell(getattr(record, name)))) for name in names))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):  # every float of a record is a time (epoch seconds)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)
