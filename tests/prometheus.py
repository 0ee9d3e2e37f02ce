"""A real Prometheus for the tests: Debian's package, installed when missing, run on loopback.

``binary`` finds ``prometheus`` or ``promtool`` and installs the package when either is missing (the tests run as
root, as CI does on a clean machine); it fails, never skips. ``Prometheus`` runs the server on a free port with a
data directory of its own, scraping the given targets every second and evaluating deploy/prometheus/alerts.yml.
``check_expressions`` is the check the live tests share: every PromQL expression of the Grafana dashboard and of
the alert rules, against what Prometheus scraped from running daemons.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from deploy.kafka.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "okta-itdr.json"
JOB = "okta-itdr"  # the job name the rules and the dashboard select
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is for a 15 s scrape interval
INSTALL_TIMEOUT_S = 900
READY_TIMEOUT_S = 30


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``, installing Debian's ``prometheus`` package if it is missing."""
    found = _which(name)
    if found is None:
        _install()
        found = _which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH or in /usr/bin after installing Debian's prometheus package")
    return found


def _which(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if os.access(p, os.X_OK)), None)


@functools.cache
def _install() -> None:
    """``apt-get install``, after ``apt-get update`` if the first try fails (a stale or empty package list)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # another engineer's apt-get may hold the lock
    install = ["apt-get", "install", "-y", "--no-install-recommends", *lock, "prometheus"]
    done = _run(install, env)
    if done.returncode != 0:
        _run(["apt-get", "update", *lock], env)
        done = _run(install, env)
    if done.returncode != 0:
        pytest.fail(f"cannot install Debian's prometheus package (exit {done.returncode}):\n{done.stdout[-3000:]}")


def _run(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=INSTALL_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{command[0]} {command[1]} could not run: {exc}")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


class Prometheus:
    """``prometheus`` scraping ``targets`` (role name -> host:port) every second, with the alert rules."""

    def __init__(self, folder: Path, targets: Mapping[str, str]) -> None:
        self.folder, self.targets = folder, targets
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = folder / "prometheus.log"
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "static_configs": [{"targets": [t], "labels": {"role": r}} for r, t in self.targets.items()],
                }
            ],
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        command = [
            binary("prometheus"),
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
            "--log.level=warn",
        ]
        with self.log.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await self._ready():
            assert self._process.returncode is None, f"prometheus exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"prometheus not ready in {READY_TIMEOUT_S} s:\n{self.tail()}"
            await asyncio.sleep(0.2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    async def _ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{self.url}/-/ready") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    async def api(self, path: str, **params: str | list[str]) -> Any:
        """GET ``/api/v1/<path>``: its ``data``; an error answer (a query that does not parse) fails the test."""
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/api/v1/{path}", params=params) as r:
            body = await r.json()
        assert body["status"] == "success", f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return data["result"]

    async def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Query until ``expr`` returns something."""
        deadline = time.monotonic() + timeout
        while not (result := await self.query(expr)):
            assert time.monotonic() < deadline, f"{expr} returned nothing in {timeout} s"
            await asyncio.sleep(0.5)
        return result

    async def scraped(self, scrapes: int = 3) -> None:
        """Every target up, and scraped ``scrapes`` times: enough samples for rate() and increase()."""
        await self.wait_for(f'count(up{{job="{JOB}"}} == 1) == {len(self.targets)}')
        await self.wait_for(f'min(count_over_time(up{{job="{JOB}"}}[1m])) >= {scrapes}')


def dashboard_variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}


def dashboard_expressions() -> dict[str, str]:
    """Each panel target's PromQL, named by its panel title and refId."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {f"{p['title']} [{t['refId']}]": t["expr"] for p in panels for t in p.get("targets", []) if "expr" in t}


def alert_expressions() -> dict[str, str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


# A vector selector: a metric name with its matchers, not a function's name.
_SELECTOR = re.compile(r"\b((?:itdr_\w+|up)(?:\{[^}]*\})?)(?!\w|\()")


def selectors(expr: str) -> list[str]:
    return _SELECTOR.findall(re.sub(r"\[[^\]]*\]", "", expr))  # range selectors' [30m] dropped


def families(expr: str) -> set[str]:
    """The daemon's metric families an expression reads (``itdr_actions`` for ``itdr_actions_total``)."""
    return {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in re.findall(r"\bitdr_\w+", expr)}


async def label_values(prometheus: Prometheus, variable: dict[str, Any]) -> list[str]:
    """A Grafana ``label_values(selector, label)`` variable, answered by Prometheus's label values API."""
    query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert match, f"variable {variable['name']}: not a label_values() query: {query}"
    selector, label = match.groups()
    return await prometheus.api(f"label/{label}/values", **{"match[]": selector})


def substitute(expr: str, values: Mapping[str, list[str]]) -> str:
    """The expression as Grafana sends it: a multi-value variable as an escaped regex alternation."""
    for name, chosen in values.items():
        regex = "|".join(re.escape(v) for v in chosen).replace("\\", "\\\\")
        expr = expr.replace(f"${{{name}}}", regex).replace(f"${name}", regex)
    return expr.replace("$__rate_interval", RATE_INTERVAL)


async def check_expressions(
    prometheus: Prometheus, tenants: Collection[str], absent: Collection[str] = (), defined_only: Collection[str] = ()
) -> None:
    """Every dashboard and alert expression parses and returns data from what Prometheus scraped.

    A dashboard expression must return data. An alert is empty when all is well, so the rule for it: its whole
    expression evaluates (it parses, its operands type-check), each vector selector in it returns series, and
    Prometheus evaluated the rule itself without error. Exceptions, which must still parse: ``absent``, families
    these processes do not export (consumer lag is Kafka's); ``defined_only``, families the daemon declares but
    another part sets (no series yet), which Prometheus must know from the scrape's metadata. The dashboard's
    ``$tenant`` variable must list every configured tenant, the failing ones too."""
    variables = dashboard_variables()
    chosen = {name: await label_values(prometheus, variables[name]) for name in ("tenant", "instance")}
    assert sorted(chosen["tenant"]) == sorted(tenants)
    assert len(chosen["instance"]) == len(prometheus.targets), chosen["instance"]
    metadata = await prometheus.api("metadata")
    alerts = alert_expressions()
    expressions = {**{k: substitute(v, chosen) for k, v in dashboard_expressions().items()}, **alerts}
    empty: list[str] = []
    for name, expr in expressions.items():
        result = await prometheus.query(expr)  # fails the test unless it parses and evaluates
        used = families(expr)
        if used & set(absent) or (used and used <= set(defined_only)):
            unknown = {f for f in used & set(defined_only) if f not in metadata}
            assert not unknown, f"{name}: Prometheus never scraped {unknown}"
        elif name in alerts:
            empty += [f"{name}: {s}" for s in selectors(expr) if not await prometheus.query(s)]
        elif not result:
            empty.append(f"{name}: {expr}")
    assert not empty, "no data for:\n" + "\n".join(empty)
    rules = [rule for group in (await prometheus.api("rules"))["groups"] for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == set(alerts)
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not unhealthy, unhealthy
