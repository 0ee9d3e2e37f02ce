"""`detector demo`: the simulator, the daemon in embedded mode and an MFA push-bombing, end to end.

Everything is real except the Okta org: the daemon tails the simulator's System
Log over HTTP with a read-only SSWS token, detects the attack, and clears the
victim's sessions with a separate OAuth service app (private_key_jwt + DPoP),
exactly as it would against a real tenant. The demo ends when the simulator has
received the session clear.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.text import Text

from detector.config import parse_config
from detector.pipeline import EmbeddedPipeline
from detector.private_files import open_private, private_dir
from detector.respond.alerts import format_evidence, format_finding
from detector.respond.escaping import terminal_text
from detector.respond.ledger import ActionRecord
from detector.sim.org import SimOrg
from detector.sim.scenario import ScenarioRunner, load_scenario
from detector.sim.server import SimServer
from detector.stream.bus import EVENTS

ENFORCER_CLIENT_ID = "0oa1itdrenforcer"
READ_TOKEN_ENV = "ITDR_DEMO_READ_TOKEN"


def enforcer_key(data_dir: Path) -> tuple[Path, dict]:
    """A fresh RSA key for the enforcement app: the private half on disk (0600), the public JWK for the org."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = data_dir / "enforcer-key.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as f:  # 0600 from its first byte
        f.write(pem)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return path, {**jwk, "kid": "demo-1", "use": "sig", "alg": "RS256"}


def _fresh(data_dir: Path) -> None:
    private_dir(data_dir)
    for name in ("itdr.sqlite", "itdr.sqlite-wal", "itdr.sqlite-shm", "findings.jsonl", "enforcer-key.pem"):
        (data_dir / name).unlink(missing_ok=True)


async def run_demo(data_dir: Path, *, timeout: float = 90.0, dry_run: bool = False) -> int:
    console = Console(highlight=False)
    started = time.monotonic()
    _fresh(data_dir)
    scenario = load_scenario("demo")
    org = SimOrg(name="acme", seed=7)
    read_token = secrets.token_urlsafe(24)
    os.environ[READ_TOKEN_ENV] = read_token
    org.add_api_token(read_token, name="itdr-reader")
    key_path, jwk = enforcer_key(data_dir)
    org.add_service_app(
        ENFORCER_CLIENT_ID, {"keys": [jwk]}, ["okta.users.read", "okta.users.manage"], require_dpop=True
    )
    server = SimServer(org, host="127.0.0.1", port=0)
    await server.start()
    config = parse_config(
        {
            "data_dir": str(data_dir),
            "tenants": [
                {
                    "name": "acme",
                    "org_url": server.url,
                    "read": {"kind": "ssws", "token": {"env": READ_TOKEN_ENV}},
                    "enforce": {
                        "kind": "oauth",
                        "client_id": ENFORCER_CLIENT_ID,
                        "private_key": {"file": str(key_path)},
                        "key_id": "demo-1",
                        "scopes": ["okta.users.read", "okta.users.manage"],
                    },
                    "poll": {"interval_s": 0.5, "lookback_minutes": 5},
                    "response": {"dry_run": dry_run},
                }
            ],
        }
    )
    console.rule("[bold]okta-itdr demo")
    console.print(
        f"Okta simulator: {server.url}  ({scenario.population.size} users, ~{scenario.background.rate:g} ev/s)"
    )
    console.print(f"Attack: {scenario.description.strip()}")
    console.print("Daemon: embedded mode, tailing /api/v1/logs with a read-only SSWS token; enforcement via an")
    console.print(
        f"OAuth service app ({ENFORCER_CLIENT_ID}, private_key_jwt + DPoP). Findings: {config.findings_path}\n"
    )

    done = asyncio.Event()

    def on_finding(finding: dict) -> None:
        console.print(Text(f"[{time.monotonic() - started:5.1f}s] FINDING ") + format_finding(finding))
        for line in format_evidence(finding):
            console.print(line)

    def on_action(record: ActionRecord) -> None:
        console.print(
            Text(
                terminal_text(
                    f"[{time.monotonic() - started:5.1f}s] ACTION  {record.action} on {record.principal_login}: "
                    f"{record.status.value} ({record.detail})"
                )
            )
        )
        if dry_run:
            done.set()

    stop = asyncio.Event()
    pipeline = EmbeddedPipeline(config, on_finding=on_finding, on_action=on_action)
    tasks = [
        asyncio.create_task(pipeline.run(stop)),
        asyncio.create_task(ScenarioRunner(org, scenario).run(until_cancelled=True)),
        asyncio.create_task(_watch_enforcement(org, console, started, done)),
    ]
    try:
        await asyncio.wait_for(done.wait(), timeout)
        ok = True
    except TimeoutError:
        console.print(f"[red]no enforcement reached the simulator within {timeout:g} s[/]")
        ok = False
    finally:
        stop.set()
        await asyncio.wait_for(tasks[0], 15)
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        await server.stop()
    if ok:
        events = await _count_events(config.db_path)
        console.rule()
        console.print(
            f"Done in {time.monotonic() - started:.1f} s: {events} System Log events tailed, attack detected, "
            + ("action decided (dry-run)." if dry_run else "victim's sessions cleared in Okta.")
        )
    return 0 if ok else 1


async def _watch_enforcement(org: SimOrg, console: Console, started: float, done: asyncio.Event) -> None:
    """Show what the simulated Okta org itself saw: the enforcement call and the System Log event it wrote."""
    while True:
        calls = [c for c in org.calls if c.action == "clear_sessions" and c.status == 204]
        if calls:
            call = calls[0]
            console.print(
                Text(
                    terminal_text(
                        f"[{time.monotonic() - started:5.1f}s] OKTA    simulator received {call.method} {call.path} "
                        f"from {call.credential_id} → {call.status}"
                    )
                )
            )
            logged = [e for e in org.events_visible() if e["eventType"] == "user.session.clear"]
            if logged:
                target = (logged[0].get("target") or [{}])[0].get("alternateId")
                line = f"         System Log now shows user.session.clear for {target}"
                console.print(Text(terminal_text(line)))
            done.set()
            return
        await asyncio.sleep(0.1)


async def _count_events(db_path: Path) -> int:
    from detector.stream.embedded import EmbeddedBus

    async with EmbeddedBus(db_path) as bus:
        return await bus.count(EVENTS)
