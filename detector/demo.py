"""`detector demo`: the simulator, the daemon in embedded mode and an MFA push-bombing, end to end.

Everything is real except the Okta org and the SOC's receiver: the daemon tails the simulator's System
Log over HTTP with a read-only SSWS token, detects the attack, clears the victim's sessions with a
separate OAuth service app (private_key_jwt + DPoP), exactly as it would against a real tenant, and
delivers the incident, signed, to a local webhook receiver that verifies it as the README says a
receiver should. With ``approve`` the policy asks a person first: the demo approves through the signed
link the action record carries, POSTed to the daemon's own admin server. The demo ends when the
simulator has received the session clear and the incident version that shows it done was delivered.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.text import Text

from detector.config import Config, parse_config
from detector.demo_approval import approve_by_link
from detector.ops.http import serving
from detector.pipeline import EmbeddedPipeline
from detector.private_files import open_private, private_dir
from detector.respond.alerts import format_evidence, format_finding
from detector.respond.escaping import terminal_text
from detector.respond.ledger import ActionRecord, SqliteLedger, Status
from detector.sim.org import SimOrg
from detector.sim.receiver import Delivery, WebhookReceiver
from detector.sim.scenario import ScenarioRunner, load_scenario
from detector.sim.server import SimServer
from detector.stream.bus import EVENTS

ENFORCER_CLIENT_ID = "0oa1itdrenforcer"
READ_TOKEN_ENV = "ITDR_DEMO_READ_TOKEN"
WEBHOOK_URL_ENV, WEBHOOK_SECRET_ENV = "ITDR_DEMO_WEBHOOK_URL", "ITDR_DEMO_WEBHOOK_SECRET"
ADMIN_TOKEN_ENV, LINK_KEY_ENV = "ITDR_DEMO_ADMIN_TOKEN", "ITDR_DEMO_LINK_KEY"
TENANT, CHANNEL = "acme", "soc"
ACTION = "clear_sessions"
APPROVER = "demo-analyst"  # who the demo approves as: the ledger says link:demo-analyst
ENFORCE_SCOPES = ["okta.users.read", "okta.users.manage"]
ROLES_READ = "okta.roles.read"  # an approval reads the target's admin roles: an admin needs two approvers


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(
    data_dir: Path, org_url: str, key_path: Path, scopes: list[str], *, dry_run: bool, approve: bool
) -> Config:
    """The demo tenant: one webhook channel (to the local receiver); with ``approve``, a policy that asks
    before clearing sessions on an accepted push, and the admin server its signed links point to."""
    response: dict[str, Any] = {"dry_run": dry_run}
    raw: dict[str, Any] = {"data_dir": str(data_dir)}
    if approve:
        response["policy"] = {"mfa_push_accepted": {"high-confidence": {ACTION: "approve"}}}
        port = _free_port()
        os.environ[ADMIN_TOKEN_ENV], os.environ[LINK_KEY_ENV] = secrets.token_urlsafe(24), secrets.token_hex(32)
        raw["http"] = {"port": port, "token": {"env": ADMIN_TOKEN_ENV}, "public_url": f"http://127.0.0.1:{port}"}
        raw["approvals"] = {"link_key": {"env": LINK_KEY_ENV}}
    raw["tenants"] = [
        {
            "name": TENANT,
            "org_url": org_url,
            "read": {"kind": "ssws", "token": {"env": READ_TOKEN_ENV}},
            "enforce": {
                "kind": "oauth",
                "client_id": ENFORCER_CLIENT_ID,
                "private_key": {"file": str(key_path)},
                "key_id": "demo-1",
                "scopes": scopes,
            },
            "poll": {"interval_s": 0.5, "lookback_minutes": 5},
            "posture": {"enabled": False},  # one attack, one incident: `detector posture` shows the directory's
            "response": response,
            "channels": [
                {
                    "kind": "webhook",
                    "name": CHANNEL,
                    "url": {"env": WEBHOOK_URL_ENV},
                    "secret": {"env": WEBHOOK_SECRET_ENV},
                }
            ],
        }
    ]
    return parse_config(raw)


class DemoRun:
    """What the demo shows as the daemon, the simulated org and the receiver report it, and what it waits
    for: the clear reached Okta (dry-run: was decided) and an incident version showing it was delivered."""

    def __init__(self, console: Console, org: SimOrg, *, dry_run: bool) -> None:
        self.console, self.org = console, org
        self.started = time.monotonic()
        self.final = Status.DRY_RUN.value if dry_run else Status.DONE.value  # the status the clear must reach
        self.enforced = dry_run  # a dry run calls nobody
        self.delivered = False
        self.failure = ""
        self.finished = asyncio.Event()
        self.approvals: set[asyncio.Task[None]] = set()

    def say(self, tag: str, line: str) -> None:
        """One timed line; ``tag`` empty: a line that continues the one before."""
        lead = f"[{time.monotonic() - self.started:5.1f}s] {tag:<8}" if tag else " " * 9
        self.console.print(Text(terminal_text(lead + line)))

    def on_finding(self, finding: dict[str, Any]) -> None:
        self.console.print(Text(f"[{time.monotonic() - self.started:5.1f}s] FINDING ") + format_finding(finding))
        for line in format_evidence(finding):
            self.console.print(line)

    def on_action(self, record: ActionRecord) -> None:
        waiting = record.status is Status.AWAITING_APPROVAL
        request = (record.approval or {}).get("request_id") if waiting else None
        self.say(
            "ACTION",
            f"{record.action} on {record.principal_login}: {record.status.value} ({record.detail})"
            + (f", approval request {request}" if request else ""),
        )
        if record.action == ACTION and record.status is Status.DONE:
            self.check_okta()  # at once: the org's side is shown before the delivery that follows

    def on_delivery(self, delivery: Delivery) -> None:
        self.say("WEBHOOK", delivery_line(delivery))
        action = _action(delivery.incident)
        url = (action.get("approval") or {}).get("approve_url")
        if action.get("status") == Status.AWAITING_APPROVAL.value and url and not self.approvals:
            self.approvals.add(asyncio.create_task(self._approve(url)))
        self.delivered |= action.get("status") == self.final
        self._update()

    async def _approve(self, url: str) -> None:
        """The SOC analyst approves from the channel: the signed link of the action record it delivered."""
        answer = await approve_by_link(url, by=APPROVER)
        self.say("APPROVE", answer.line())
        if not answer.ok:
            self.failure = f"the approval was refused: {answer.line()}"
            self._update()

    def check_okta(self) -> bool:
        """What the simulated org itself saw: the enforcement call and the System Log event it wrote."""
        calls = [] if self.enforced else [c for c in self.org.calls if c.action == ACTION and c.status == 204]
        if calls:
            call = calls[0]
            self.say("OKTA", f"simulator received {call.method} {call.path} from {call.credential_id} → {call.status}")
            logged = [e for e in self.org.events_visible() if e["eventType"] == "user.session.clear"]
            if logged:
                target = (logged[0].get("target") or [{}])[0].get("alternateId")
                self.say("", f"System Log now shows user.session.clear for {target}")
            self.enforced = True
            self._update()
        return self.enforced

    def timed_out(self, timeout: float) -> None:
        missing = [] if self.check_okta() else ["the session clear did not reach the simulator"]
        if not self.delivered:
            missing.append(f"no incident with {ACTION} {self.final} was delivered")
        self.failure = f"not finished within {timeout:g} s: {'; '.join(missing)}"

    def _update(self) -> None:
        if (self.enforced and self.delivered) or self.failure:
            self.finished.set()


async def run_demo(data_dir: Path, *, timeout: float = 90.0, dry_run: bool = False, approve: bool = False) -> int:
    console = Console(highlight=False)
    _fresh(data_dir)
    scenario = load_scenario("demo")
    org = SimOrg(name=TENANT, seed=7)
    run = DemoRun(console, org, dry_run=dry_run)
    read_token = secrets.token_urlsafe(24)
    os.environ[READ_TOKEN_ENV] = read_token
    org.add_api_token(read_token, name="itdr-reader")
    key_path, jwk = enforcer_key(data_dir)
    scopes = [*ENFORCE_SCOPES, ROLES_READ] if approve else ENFORCE_SCOPES
    org.add_service_app(ENFORCER_CLIENT_ID, {"keys": [jwk]}, scopes, require_dpop=True)
    server = SimServer(org, host="127.0.0.1", port=0)
    await server.start()
    receiver = WebhookReceiver(_webhook_secret(), run.on_delivery)
    os.environ[WEBHOOK_URL_ENV] = await receiver.start()
    config = demo_config(data_dir, server.url, key_path, scopes, dry_run=dry_run, approve=approve)
    _introduce(console, server, scenario, config, receiver, approve)

    stop = asyncio.Event()
    pipeline = EmbeddedPipeline(config, on_finding=run.on_finding, on_action=run.on_action)
    async with serving(pipeline.metrics.registry, "embedded", config.http, pipeline.api()):
        tasks = [
            asyncio.create_task(pipeline.run(stop)),
            asyncio.create_task(ScenarioRunner(org, scenario).run(until_cancelled=True)),
        ]
        finished = asyncio.ensure_future(run.finished.wait())
        try:  # until it has all been shown, or the daemon stops (its error is raised below)
            done, _ = await asyncio.wait([finished, tasks[0]], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                run.timed_out(timeout)
            elif finished not in done:
                run.failure = "the daemon stopped"
        finally:
            finished.cancel()
            stop.set()
            await asyncio.wait_for(tasks[0], 15)
            others = [*tasks[1:], *run.approvals]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await receiver.stop()
            await server.stop()
    if run.failure:
        console.print(Text(terminal_text(run.failure), style="red"))
        return 1
    console.rule()
    audit = await _audit(config)
    events = await _count_events(config.db_path)
    outcome = "action decided (dry-run)" if dry_run else "victim's sessions cleared in Okta"
    for line in (
        audit_line(audit) if audit else "Audit (action ledger): no record",
        deliveries_summary(receiver),
        f"Done in {time.monotonic() - run.started:.1f} s: {events} System Log events tailed, attack detected, "
        f"{outcome}.",
    ):
        console.print(Text(terminal_text(line)))
    return 0


def delivery_line(delivery: Delivery) -> str:
    """What the receiver got: which channel, which incident (one for the whole attack), its version, how many
    findings are folded into it and where the action stands."""
    incident = delivery.incident
    line = (
        f"{incident.get('tenant')}/{CHANNEL} got {incident.get('key')} v{incident.get('version')}"
        f" ({delivery.type}): {_count(incident.get('finding_count'), 'finding')} folded in"
    )
    action = _action(incident)
    if action:
        line += f"; {action.get('action')} {action.get('status')}"
    return line


def audit_line(record: ActionRecord) -> str:
    return (
        f"Audit (action ledger): {record.action} on {record.principal_login}, status {record.status.value},"
        f" by {record.by}: {record.detail}"
    )


def deliveries_summary(receiver: WebhookReceiver) -> str:
    keys = sorted({str(d.incident.get("key")) for d in receiver.deliveries})
    versions = ", ".join(f"v{d.incident.get('version')}" for d in receiver.deliveries)
    return (
        f"Deliveries to {TENANT}/{CHANNEL}: {len(receiver.deliveries)}, of {_count(len(keys), 'incident')}"
        f" ({', '.join(keys)}: {versions}); signatures verified, {receiver.rejected} rejected"
    )


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _action(incident: dict[str, Any]) -> dict[str, Any]:
    """The incident's session clear, as its latest decision stands."""
    return next((a for a in incident.get("actions") or () if isinstance(a, dict) and a.get("action") == ACTION), {})


def _webhook_secret() -> str:
    """The channel's signing secret (``whsec_`` and base64 of 32 random bytes), for the daemon and the receiver."""
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    os.environ[WEBHOOK_SECRET_ENV] = secret
    return secret


def _introduce(
    console: Console, server: SimServer, scenario: Any, config: Config, receiver: WebhookReceiver, approve: bool
) -> None:
    console.rule(Text("okta-itdr demo", style="bold"))
    lines = [
        f"Okta simulator: {server.url}  ({scenario.population.size} users, ~{scenario.background.rate:g} ev/s)",
        f"Attack: {scenario.description.strip()}",
        "Daemon: embedded mode, tailing /api/v1/logs with a read-only SSWS token; enforcement via an",
        f"OAuth service app ({ENFORCER_CLIENT_ID}, private_key_jwt + DPoP). Findings: {config.findings_path}",
        f"Incidents: webhook channel {TENANT}/{CHANNEL}, signed, to a local receiver at {receiver.url}",
    ]
    if approve and config.http is not None:
        lines.append(f"Policy: {ACTION} on an accepted push needs approval; signed links to {config.http.public_url}")
    for line in lines:
        console.print(Text(terminal_text(line)))
    console.print()


async def _audit(config: Config) -> ActionRecord | None:
    """The session clear's row in the action ledger: the audit trail, as ``detector actions list`` shows it."""
    ledger = await SqliteLedger(config.db_path).open()
    try:
        return next((r for r in await ledger.all(TENANT) if r.action == ACTION), None)
    finally:
        await ledger.close()


async def _count_events(db_path: Path) -> int:
    from detector.stream.embedded import EmbeddedBus

    async with EmbeddedBus(db_path) as bus:
        return await bus.count(EVENTS)
