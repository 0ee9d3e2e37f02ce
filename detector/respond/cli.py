"""``detector actions list|undo`` and ``detector allowlist add|remove|list``: the audit trail and the
controls of response, from a shell.

Both read the ledger's SQLite file in the data directory (embedded: ``itdr.sqlite``; Kafka mode: the action
worker's ``actions-ledger.sqlite``). The allowlist is written there directly: the daemon reads it for every
finding, so an entry applies at once. An undo asks the running daemon (``POST /api/v1/actions/{id}/undo``,
so its incident is resolved too) and, when no daemon answers, calls Okta itself with the tenant's
enforcement credential and records it in the file. Tables are built from ``rich.text.Text``; every value
that came from an event passes through ``terminal_text``; a pipe gets plain text.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.config import Config, ConfigError
from detector.respond.actions import ActionWorker
from detector.respond.allowlist import AllowEntry, Allowlist, AllowlistRefused, iso
from detector.respond.decisions import Decisions, Refused
from detector.respond.escaping import terminal_text
from detector.respond.ledger import KAFKA_LEDGER_FILE, ActionRecord, SqliteLedger
from detector.stderr import print_error, print_info
from detector.tenants import OktaClients, link_signer, responder, validated_config

_STATUS_STYLE = {"done": "green", "failed": "bold red", "awaiting_approval": "yellow", "undone": "cyan"}
_DURATION = re.compile(r"^(\d+)([mhd])$")


def add_action_arguments(parser: argparse.ArgumentParser) -> None:
    """``detector actions`` alone runs the action worker; ``list`` and ``undo ID`` are the audit and undo."""
    parser.add_argument("verb", nargs="?", choices=("list", "undo"), help="list the ledger, or undo an action")
    parser.add_argument("action_id", nargs="?", help="undo: the action id (see `detector actions list`)")
    parser.add_argument("--tenant", help="list: only this tenant")
    parser.add_argument("--output", choices=("table", "jsonl"), default="table", help="list: a table or JSON lines")
    parser.add_argument("--limit", type=int, default=1000, help="list: the newest N actions")
    parser.add_argument("--by", default=None, help="undo: who is undoing it (default: your user name)")


def add_allowlist_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="hold back actions on a user's findings until a time, with a reason")
    add.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    add.add_argument("--tenant", required=True, help="the tenant the user belongs to")
    add.add_argument("--user", required=True, help="the Okta user id or login")
    add.add_argument("--reason", required=True, help='e.g. "in Singapore until 10 Dec (travel notice)"')
    until = add.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", help="ISO-8601 time or date (UTC), e.g. 2026-12-10")
    until.add_argument("--for", dest="duration", help="a duration: 90m, 12h, 14d")
    add.add_argument("--detection", action="append", default=[], help="only this detection (repeatable)")
    add.add_argument("--by", default=None, help="who asks (default: your user name)")
    remove = verbs.add_parser("remove", help="stop an entry now (it stays listed, as audit)")
    remove.add_argument("entry_id", help="the entry's id (see `detector allowlist list`)")
    remove.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    remove.add_argument("--by", default=None, help="who removes it (default: your user name)")
    listing = verbs.add_parser("list", help="the entries in force (--all: expired and removed ones too)")
    listing.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    listing.add_argument("--tenant", help="only this tenant")
    listing.add_argument("--all", action="store_true", help="also the expired and removed entries")
    listing.add_argument("--output", choices=("table", "jsonl"), default="table", help="a table or JSON lines")


def ledger_path(config: Config) -> Path:
    """Where the ledger (and the allowlist) lives: the action worker's file in Kafka mode."""
    return config.data_dir / KAFKA_LEDGER_FILE if config.kafka else config.db_path


def run_actions(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    if args.verb == "undo":
        if not args.action_id:
            print_error("undo needs the action id: detector actions undo ID --config FILE")
            return 2
        return asyncio.run(_undo(config, args.action_id, args.by or getpass.getuser()))
    if args.tenant is not None and args.tenant not in {t.name for t in config.tenants}:
        print_error(f"no tenant {args.tenant!r} in {args.config}")
        return 2
    records = asyncio.run(_records(config, args.tenant, args.limit)) if ledger_path(config).exists() else []
    if args.output == "jsonl":
        _jsonl(r.to_dict() for r in records)
    else:
        _console().print(actions_table(records))
    return 0


def run_allowlist(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    try:
        return asyncio.run(_allowlist(config, args))
    except AllowlistRefused as exc:
        print_error(f"refused: {exc}")
        return 2


async def _allowlist(config: Config, args: argparse.Namespace) -> int:
    now = time.time()
    store = await Allowlist(ledger_path(config)).open()
    try:
        if args.verb == "add":
            if args.tenant not in {t.name for t in config.tenants}:
                raise AllowlistRefused(f"tenant: no tenant {args.tenant!r} in the config")
            expires = _until(args.until, now) if args.until else _duration(args.duration, now)
            by = args.by or getpass.getuser()
            entry = await store.add(args.tenant, args.user, args.reason, expires, by, now, args.detection)
            print_info(f"added {entry.entry_id}: {terminal_text(entry.user)} until {iso(entry.expires_at)}")
            return 0
        if args.verb == "remove":
            removed = await store.remove(args.entry_id, args.by or getpass.getuser(), now)
            if removed is None:
                print_error(f"no active entry {args.entry_id!r}")
                return 1
            print_info(f"removed {removed.entry_id}")
            return 0
        entries = [e for e in await store.entries(args.tenant) if args.all or e.active(now)]
    finally:
        await store.close()
    if args.output == "jsonl":
        _jsonl(e.to_dict(now) for e in entries)
    else:
        _console().print(allowlist_table(entries, now))
    return 0


async def _records(config: Config, tenant: str | None, limit: int) -> list[ActionRecord]:
    ledger = await SqliteLedger(ledger_path(config)).open()
    try:
        return await ledger.all(tenant, limit)
    finally:
        await ledger.close()


async def _undo(config: Config, action_id: str, by: str) -> int:
    answer = await _undo_by_api(config, action_id, by)
    if answer is None:
        answer = await _undo_here(config, action_id, by)
    status, body = answer
    if status != 200:
        print_error(f"not undone: {body.get('error', body)}")
        return 1
    print_info(f"undone: {terminal_text(body['action']['detail'])}")
    return 0


async def _undo_by_api(config: Config, action_id: str, by: str) -> tuple[int, dict[str, Any]] | None:
    """The running daemon's answer; None when no daemon (or no token) is there to ask."""
    http = config.http
    if http is None or http.token is None:
        return None
    host = "127.0.0.1" if http.bind in ("0.0.0.0", "::") else (f"[{http.bind}]" if ":" in http.bind else http.bind)
    url = f"http://{host}:{http.port}/api/v1/actions/{action_id}/undo"
    headers = {"Authorization": f"Bearer {http.token.resolve().get_secret_value()}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(url, json={"by": by}, headers=headers) as resp,
        ):
            return resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


async def _undo_here(config: Config, action_id: str, by: str) -> tuple[int, dict[str, Any]]:
    """No daemon: call Okta with the tenant's enforcement credential and record the undo in the file."""
    ledger = await SqliteLedger(ledger_path(config)).open()
    try:
        async with OktaClients() as clients:
            tenants = {t.name: responder(t, clients) for t in config.tenants}
            decisions = Decisions(ActionWorker(tenants, ledger, links=link_signer(config)))
            try:
                record = await decisions.undo(action_id, by)
            except Refused as exc:
                return exc.status, {"error": str(exc)}
            return 200, {"action": record.to_dict()}
    finally:
        await ledger.close()


def actions_table(records: list[ActionRecord]) -> Table:
    t = terminal_text
    out = Table(title="actions (the ledger)", title_justify="left")
    for column in ("updated", "tenant", "user", "action", "mode", "status", "by", "detail", "action id"):
        out.add_column(column)
    for r in records:
        out.add_row(
            Text(iso(r.updated_at)),
            Text(t(r.tenant)),
            Text(t(r.principal_login or r.principal)),
            Text(r.action),
            Text(r.mode),
            Text(r.status.value, style=_STATUS_STYLE.get(r.status.value, "")),
            Text(t(r.by)),
            Text(t(r.detail)),
            Text(r.action_id),
        )
    return out


def allowlist_table(entries: list[AllowEntry], now: float) -> Table:
    t = terminal_text
    out = Table(title="allowlist", title_justify="left")
    for column in ("id", "tenant", "user", "detections", "until", "reason", "by", "state"):
        out.add_column(column)
    for e in entries:
        state = "active" if e.active(now) else (f"removed by {e.removed_by}" if e.removed_at else "expired")
        out.add_row(
            Text(e.entry_id),
            Text(t(e.tenant)),
            Text(t(e.user)),
            Text(", ".join(e.detections) or "all"),
            Text(iso(e.expires_at)),
            Text(t(e.reason)),
            Text(t(e.added_by)),
            Text(t(state), style="green" if e.active(now) else "dim"),
        )
    return out


def _config(path: Path) -> Config | None:
    try:
        return validated_config(path)[0]
    except ConfigError as exc:
        print_error(str(exc))
        return None


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 240  # a pipe or a file: one row per line, not a wrapped column
    return console


def _jsonl(items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        sys.stdout.buffer.write(orjson.dumps(item) + b"\n")
    sys.stdout.flush()


def _until(value: str, now: float) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AllowlistRefused("--until: an ISO-8601 time or date, e.g. 2026-12-10 or 2026-12-10T18:00:00Z") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _duration(value: str, now: float) -> float:
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise AllowlistRefused("--for: a number and m, h or d, e.g. 90m, 12h, 14d")
    return now + int(match[1]) * {"m": 60, "h": 3600, "d": 86_400}[match[2]]
