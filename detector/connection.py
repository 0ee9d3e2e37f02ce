"""Test connection: what a tenant's credentials may do at Okta, against what its config enables, changing nothing.

The read credential is tried: one System Log event (polling feeds every detection) and one user. The
enforcement credential cannot be tried without acting, so each call the enabled actions make is judged
by detector.okta.permissions: by the admin roles of an API token's owner, or by the scopes the token
endpoint grants a service app. Each permission is ok, missing or error (with Okta's errorCode and
summary), and says what it disables: ``system_log`` (polling) or the actions that need it. With the
inventory enabled, each part the sync reads is tried too (detector/inventory/access.py): a missing one
disables nothing (the sync skips that part and goes on), so it is a line saying what the sync will skip,
not a failure of the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detector.config import ConfigError, Credentials, OAuthCredentials, SswsCredentials, TenantConfig
from detector.inventory.access import PERMISSIONS as INVENTORY_PERMISSIONS
from detector.inventory.access import probe_inventory
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError
from detector.okta.permissions import (
    SCOPES,
    Check,
    Operation,
    Outcome,
    admin_roles,
    check_scopes,
    probe_read,
    role_check,
)
from detector.ops.labels import known
from detector.ops.metrics import Metrics
from detector.respond.policy import Mode, ResponseAction
from detector.tenants import OktaClients

SYSTEM_LOG = "system_log"  # what a refused log read disables: polling, so every detection
READ, ENFORCE = "read", "enforce"

ACTION_CALLS: dict[ResponseAction, Operation] = {
    ResponseAction.CLEAR_SESSIONS: Operation.CLEAR_SESSIONS,
    ResponseAction.EXPIRE_PASSWORD: Operation.EXPIRE_PASSWORD,
    ResponseAction.RESET_FACTORS: Operation.RESET_FACTORS,
    ResponseAction.SUSPEND: Operation.SUSPEND,
    ResponseAction.QUARANTINE: Operation.MANAGE_GROUP_MEMBERSHIP,
}
# `permission` label values: each call, each scope; a configured scope outside these is `other`.
PERMISSION_LABELS = (
    frozenset(op.value for op in Operation)
    | {s for scopes in SCOPES.values() for s in scopes}
    | set(INVENTORY_PERMISSIONS)
)


@dataclass(frozen=True)
class PermissionResult:
    credential: str  # read | enforce
    permission: str  # an Operation value, or an OAuth scope of a service app
    check: Check
    needed_for: tuple[str, ...]  # system_log and the actions that cannot run without it
    inventory_part: str | None = None  # the inventory sync's part this read feeds (skipped without it)

    @property
    def disables(self) -> tuple[str, ...]:
        return () if self.check.outcome is Outcome.OK else self.needed_for

    @property
    def skips(self) -> tuple[str, ...]:
        """The inventory part the sync will skip for want of this permission."""
        return () if self.check.outcome is Outcome.OK or self.inventory_part is None else (self.inventory_part,)

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        error = {"code": c.error_code, "summary": c.error_summary} if c.error_code or c.error_summary else None
        return {
            "credential": self.credential,
            "permission": self.permission,
            "result": c.outcome.value,
            "detail": c.detail,
            "error": error,
            "needed_for": list(self.needed_for),
            "disables": list(self.disables),
            "inventory_skips": list(self.skips),
        }


@dataclass(frozen=True)
class CredentialInfo:
    kind: str  # ssws | oauth
    principal: str | None = None  # the service app's client id, or the API token's owner when looked up
    roles: tuple[str, ...] | None = None  # the API token owner's admin roles, when read


@dataclass(frozen=True)
class ConnectionReport:
    tenant: str
    org_url: str
    dry_run: bool
    enabled_actions: tuple[str, ...]
    credentials: dict[str, CredentialInfo]  # read, and enforce unless the tenant is alert-only
    results: tuple[PermissionResult, ...]

    @property
    def ok(self) -> bool:
        """Everything the config enables is permitted (a result that disables nothing does not count)."""
        return not any(r.disables for r in self.results)

    @property
    def disabled(self) -> tuple[str, ...]:
        """``system_log`` when polling is refused, then each enabled action that cannot run."""
        off = {d for r in self.results for d in r.disables}
        return tuple(d for d in (SYSTEM_LOG, *self.enabled_actions) if d in off)

    @property
    def inventory_skipped(self) -> tuple[str, ...]:
        """The inventory parts the sync will skip (each read Okta refuses), in the sync's order."""
        return tuple(part for r in self.results for part in r.skips)

    def to_dict(self) -> dict[str, Any]:
        """The admin API's JSON (plain strings, lists, bools and None); no secret is ever in it."""
        return {
            "tenant": self.tenant,
            "org_url": self.org_url,
            "ok": self.ok,
            "dry_run": self.dry_run,
            "enabled_actions": list(self.enabled_actions),
            "disabled": list(self.disabled),
            "inventory_skipped": list(self.inventory_skipped),
            "credentials": {
                name: {"kind": c.kind, "principal": c.principal, "roles": None if c.roles is None else list(c.roles)}
                for name, c in self.credentials.items()
            },
            "permissions": [r.to_dict() for r in self.results],
        }

    def set_metrics(self, metrics: Metrics) -> None:
        """``itdr_tenant_permission_ok``: 1 per permission held; a label shared by several (``other``) is their min."""
        values: dict[tuple[str, str], int] = {}
        for r in self.results:
            key = (r.credential, known(r.permission, PERMISSION_LABELS))
            values[key] = min(values.get(key, 1), int(r.check.outcome is Outcome.OK))
        for (credential, permission), value in values.items():
            metrics.permission_ok.labels(self.tenant, credential, permission).set(value)


def enabled_actions(tenant: TenantConfig) -> tuple[ResponseAction, ...]:
    """The actions the action worker may run for this tenant: listed in ``actions``, or given a mode other than
    off by ``modes`` or a ``policy`` rule; suspend only with allow_suspend, quarantine only with its group."""
    r = tenant.response
    named = [*r.actions, *(a for a, m in r.modes.items() if m is not Mode.OFF)]
    named += [a for tiers in r.policy.values() for rule in tiers.values() for a, m in rule.items() if m is not Mode.OFF]
    return tuple(
        a
        for a in dict.fromkeys(named)
        if (a is not ResponseAction.SUSPEND or r.allow_suspend)
        and (a is not ResponseAction.QUARANTINE or r.quarantine_group)
    )


def enforcer_calls(tenant: TenantConfig) -> dict[Operation, tuple[str, ...]]:
    """Each Okta call the enabled actions make, with the actions that need it (detector/respond/actions.py):
    suspend reads the user's status first, and protected groups are checked by reading the user's groups."""
    needs: dict[Operation, list[str]] = {}
    for action in enabled_actions(tenant):
        needs.setdefault(ACTION_CALLS[action], []).append(action.value)
        if action is ResponseAction.SUSPEND or tenant.response.protected_groups:
            needs.setdefault(Operation.READ_USERS, []).append(action.value)
    return {op: tuple(actions) for op, actions in needs.items()}


async def test_connection(tenant: TenantConfig, clients: OktaClients) -> ConnectionReport:
    """Check the tenant's read and enforcement credentials; calls only reads and the token endpoint."""
    actions = tuple(a.value for a in enabled_actions(tenant))
    reads = {Operation.READ_LOGS: (SYSTEM_LOG,), Operation.READ_USERS: ()}  # the poller reads no user (yet)
    credentials = {READ: _info(tenant.read)}
    results = await _check_reader(tenant, clients, reads)
    if tenant.inventory.enabled:
        results += await _check_inventory(tenant, clients)
    if tenant.enforce is not None:
        info, enforced = await _check_enforcer(tenant, tenant.enforce, clients, enforcer_calls(tenant))
        credentials[ENFORCE] = info
        results += enforced
    return ConnectionReport(tenant.name, tenant.org_url, tenant.response.dry_run, actions, credentials, tuple(results))


test_connection.__test__ = False  # type: ignore[attr-defined]  # a function named test_*, not a pytest test


async def _check_reader(
    tenant: TenantConfig, clients: OktaClients, reads: dict[Operation, tuple[str, ...]]
) -> list[PermissionResult]:
    client = _client(clients.reader, tenant)
    if isinstance(client, Check):
        return [PermissionResult(READ, op.value, client, needed) for op, needed in reads.items()]
    return [PermissionResult(READ, op.value, await probe_read(client, op), needed) for op, needed in reads.items()]


async def _check_inventory(tenant: TenantConfig, clients: OktaClients) -> list[PermissionResult]:
    """Each inventory part the sync reads, with the read credential (the sync's)."""
    client = _client(clients.reader, tenant)
    if isinstance(client, Check):
        return []  # the read credential's error is already each read's result
    return [PermissionResult(READ, a.permission, a.check, (), a.part) for a in await probe_inventory(client)]


async def _check_enforcer(
    tenant: TenantConfig, creds: Credentials, clients: OktaClients, calls: dict[Operation, tuple[str, ...]]
) -> tuple[CredentialInfo, list[PermissionResult]]:
    info = _info(creds)
    client = _client(clients.enforcer, tenant) if calls else None
    if isinstance(client, Check):
        return info, [PermissionResult(ENFORCE, op.value, client, needed) for op, needed in calls.items()]
    if client is None:
        return info, []  # no action enabled: nothing to check
    results = []
    if Operation.READ_USERS in calls:
        check = await probe_read(client, Operation.READ_USERS)
        results.append(PermissionResult(ENFORCE, Operation.READ_USERS.value, check, calls[Operation.READ_USERS]))
    acting = {op: needed for op, needed in calls.items() if op is not Operation.READ_USERS}
    if isinstance(creds, OAuthCredentials):
        for sc in await check_scopes(client, list(acting)):
            needed = tuple(dict.fromkeys(a for op in acting if op in sc.operations for a in acting[op]))
            results.append(PermissionResult(ENFORCE, sc.scope, sc.check, needed))
        return info, results
    try:
        held = await admin_roles(client)
    except OktaApiError as exc:
        failed = Check.failed(exc)
        why = f"cannot read the token owner's admin roles: {failed.detail}"
        check = Check(Outcome.ERROR, why, failed.error_code, failed.error_summary)
        return info, results + [PermissionResult(ENFORCE, op.value, check, n) for op, n in acting.items()]
    info = CredentialInfo(info.kind, held.login, held.roles)
    return info, results + [PermissionResult(ENFORCE, op.value, role_check(held, op), n) for op, n in acting.items()]


def _client(make: Callable[[TenantConfig], OktaClient | None], tenant: TenantConfig) -> OktaClient | Check | None:
    """The credential's client, or the error check when its secret or key cannot be loaded."""
    try:
        return make(tenant)
    except (ConfigError, ValueError) as exc:  # their messages never quote the secret
        return Check(Outcome.ERROR, f"cannot load the credential: {exc}")


def _info(creds: Credentials) -> CredentialInfo:
    if isinstance(creds, SswsCredentials):
        return CredentialInfo("ssws")
    return CredentialInfo("oauth", creds.client_id)


async def check_connection(tenant: TenantConfig, metrics: Metrics) -> dict[str, Any]:
    """A daemon's test connection: its own short-lived clients (closed after), the metrics set, the report's JSON."""
    async with OktaClients() as clients:
        report = await test_connection(tenant, clients)
    report.set_metrics(metrics)
    return report.to_dict()
