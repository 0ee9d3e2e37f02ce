"""`detector test-connection`: each tenant's Okta permissions as a table or JSON, and an exit code for scripts.

A table on a terminal; off one (a pipe, a file, CI), one tab-separated line per permission, so that
nothing wraps and ``grep missing`` works. Every value passes ``terminal_text`` (an Okta summary or a
login never moves the cursor nor splits a line) and goes into a ``rich.text.Text``, never into markup.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.config import ConfigError, TenantConfig, load_config, secret_values
from detector.connection import ConnectionReport, PermissionResult, test_connection
from detector.logsetup import configure_logging
from detector.okta.permissions import Outcome
from detector.respond.escaping import terminal_text
from detector.stderr import print_error
from detector.tenants import OktaClients, check_auth

EXIT_CODES = """exit codes:
  0  everything the config enables is permitted
  1  something it enables is missing or could not be checked (the output says what, and what it disables)
  2  the config cannot be used, or names no such tenant"""
COLUMNS = ("tenant", "credential", "permission", "result", "disables", "detail")
_STYLES = {Outcome.OK: "green", Outcome.MISSING: "red", Outcome.ERROR: "yellow"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", "-c", type=Path, required=True, help="the daemon's config file")
    parser.add_argument("--tenant", help="check only this tenant (default: every tenant)")
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="a table (tab-separated lines off a terminal), or JSON as the admin API returns it",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        secrets = secret_values(config)
        check_auth(config)
    except ConfigError as exc:
        print_error(str(exc))
        return 2
    tenants = [t for t in config.tenants if args.tenant in (None, t.name)]
    if not tenants:
        names = ", ".join(t.name for t in config.tenants)
        print_error(f"no tenant {args.tenant!r} in {args.config} (have: {names})")
        return 2
    configure_logging("warning", secrets)
    reports = asyncio.run(_test_all(tenants))
    ok = all(r.ok for r in reports)
    if args.output == "json":
        body = {"ok": ok, "tenants": [r.to_dict() for r in reports]}
        sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        print_reports(Console(highlight=False, soft_wrap=True), reports)
    return 0 if ok else 1


async def _test_all(tenants: list[TenantConfig]) -> list[ConnectionReport]:
    async with OktaClients() as clients:
        return [await test_connection(tenant, clients) for tenant in tenants]


def print_reports(console: Console, reports: list[ConnectionReport]) -> None:
    """A table on a terminal, else tab-separated lines; then one verdict line per tenant."""
    rows = [_row(report, result) for report in reports for result in report.results]
    verdicts = [line for report in reports for line in _verdict(report)]
    if console.is_terminal:
        table = Table(*COLUMNS, title="Okta permissions", title_justify="left")
        for row in rows:
            table.add_row(*(Text(text, style=style) for text, style in row))
        console.print(table)
        for text, style in verdicts:
            console.print(Text(text, style=style))
        return
    lines = ["\t".join(COLUMNS), *("\t".join(text for text, _ in row) for row in rows), *(t for t, _ in verdicts)]
    console.file.write("".join(line + "\n" for line in lines))
    console.file.flush()


def _row(report: ConnectionReport, result: PermissionResult) -> tuple[tuple[str, str], ...]:
    """Each cell's text (control characters escaped, so a tab or an escape sequence shows as \\t, \\x1b) and style."""
    check = result.check
    okta = " ".join(x for x in (check.error_code, check.error_summary) if x)
    detail = f"{check.detail} [{okta}]" if okta else check.detail
    if result.disables or check.outcome is Outcome.OK:
        style = _STYLES[check.outcome]
    else:
        style = "yellow" if result.skips else "dim"
    off = ", ".join(result.disables) or ", ".join(f"inventory {part} (skipped)" for part in result.skips)
    return (
        *((terminal_text(c), "") for c in (report.tenant, result.credential, result.permission)),
        (check.outcome.value, style),
        (terminal_text(off or "-"), ""),
        (terminal_text(detail), ""),
    )


def _verdict(report: ConnectionReport) -> list[tuple[str, str]]:
    """The tenant's verdict, then the inventory parts the sync will skip (a warning, not a failure)."""
    name = terminal_text(report.tenant)
    dry = " (response.dry_run is on: no action runs yet)" if report.dry_run and report.enabled_actions else ""
    if report.ok:
        lines = [(f"{name}: ok, every permission the config enables is granted{dry}", "green")]
    else:
        lines = [(f"{name}: NOT OK, disabled: {', '.join(report.disabled)}{dry}", "red")]
    if report.inventory_skipped:
        parts = ", ".join(report.inventory_skipped)
        lines.append((f"{name}: the inventory sync will skip {parts} (Okta refuses their reads)", "yellow"))
    return lines
