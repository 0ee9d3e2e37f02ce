"""``detector incidents list`` and ``detector incidents show KEY``: the incidents an embedded daemon keeps in
its data directory (read-only, so it works while the daemon runs and after it stopped)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.config import ConfigError, load_config
from detector.respond.escaping import terminal_text
from detector.stderr import print_error

_TIER_STYLE = {"low": "dim", "medium": "yellow", "high": "bold red", "high-confidence": "bold white on red"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    parser.add_argument("--output", choices=("table", "jsonl"), default="table", help="a table, or one JSON per line")
    sub = parser.add_subparsers(dest="incidents_command", required=True)
    listing = sub.add_parser("list", help="the newest incidents")
    listing.add_argument("--tenant", help="only this tenant")
    listing.add_argument("--status", choices=("open", "resolved"), help="only open or only resolved ones")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = sub.add_parser("show", help="one incident: its timeline, evidence, actions and deliveries")
    show.add_argument("key", help="the incident key (inc-...)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    if not config.db_path.exists():
        print_error(f"no data in {config.data_dir}: the daemon has not run yet")
        return 2
    db = sqlite3.connect(f"file:{config.db_path}?mode=ro", uri=True)
    try:
        if args.incidents_command == "show":
            return _show(db, args.key, args.output)
        return _list(db, args)
    except sqlite3.OperationalError as exc:
        print_error(f"cannot read incidents from {config.db_path}: {exc}")
        return 2
    finally:
        db.close()


def _list(db: sqlite3.Connection, args: argparse.Namespace) -> int:
    where, params = [], []
    for clause, value in (("tenant = ?", args.tenant), ("status = ?", args.status)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = "SELECT value FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
    rows = [orjson.loads(v) for (v,) in db.execute(sql + " ORDER BY updated_at DESC LIMIT ?", (*params, args.limit))]
    if args.output == "jsonl":
        sys.stdout.buffer.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        return 0
    table = Table(title=f"incidents ({len(rows)})", title_justify="left")
    for column in ("key", "tenant", "severity", "status", "who", "what", "findings", "actions", "updated"):
        table.add_column(column)
    for i in rows:
        table.add_row(
            i["key"],
            Text(terminal_text(i["tenant"])),
            Text(i["severity"], style=_TIER_STYLE.get(i["severity"], "")),
            i["status"],
            Text(terminal_text(i.get("login") or i["entity"])),
            Text(terminal_text(i["title"])),
            str(i["finding_count"]),
            Text(terminal_text(", ".join(f"{a['action']} {a['status']}" for a in i["actions"]) or "none")),
            i["updated"],
        )
    _console().print(table)
    return 0


def _show(db: sqlite3.Connection, key: str, output: str) -> int:
    row = db.execute("SELECT value FROM incidents WHERE key = ?", (key,)).fetchone()
    if row is None:
        print_error(f"no incident {key}")
        return 1
    incident: dict[str, Any] = orjson.loads(row[0])
    incident["deliveries"] = [
        {"channel": c, "version": v, "state": s, "attempts": n, "reason": r}
        for c, v, s, n, r in db.execute(
            "SELECT channel, version, state, attempts, reason FROM outbox WHERE incident = ? ORDER BY id", (key,)
        )
    ]
    if output == "jsonl":
        sys.stdout.buffer.write(orjson.dumps(incident) + b"\n")
        return 0
    console = _console()
    head = Text.assemble(
        (f"{incident['severity'].upper()} ", _TIER_STYLE.get(incident["severity"], "")),
        (terminal_text(incident["title"]), "bold"),
        f"  {incident['key']}  {incident['status']}  tenant={terminal_text(incident['tenant'])}",
        f"  who={terminal_text(incident.get('login') or incident['entity'])}",
    )
    console.print(head)
    sources = incident["sources"]
    console.print(
        Text(
            terminal_text(
                f"from {', '.join(sources['ips']) or '-'}  {', '.join(sources['asns'])}  "
                f"{', '.join(sources['countries'])}"
            )
        )
    )
    for f in incident["findings"]:
        console.print(
            Text(terminal_text(f"  {f['time']}  {f['tier']:>15} {f['confidence']:>3}  {f['title']}: {f['summary']}"))
        )
        for e in f["evidence"]:
            console.print(Text(terminal_text(f"      +{e['points']:<3} {e['label']}")))
    for a in incident["actions"]:
        console.print(Text(terminal_text(f"  action {a['action']}: {a['status']} ({a['detail']})")))
    for d in incident["deliveries"]:
        reason = f" ({d['reason']})" if d["reason"] else ""
        console.print(Text(terminal_text(f"  delivery {d['channel']} v{d['version']}: {d['state']}{reason}")))
    return 0


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    return console
