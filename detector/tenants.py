"""The per-tenant parts both modes build from config: Okta auth, the detection engine, the action policy, the
incident channels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import aiohttp

from detections.directory import DirectoryFacts
from detections.engine import Engine, TenantContext
from detections.redaction import Redactor
from detections.registry import build_engine
from detections.threat_signals import Book
from detector.config import (
    ChannelConfig,
    Config,
    ConfigError,
    Credentials,
    OAuthCredentials,
    PagerDutyConfig,
    SecretRef,
    SlackBotConfig,
    SlackWebhookConfig,
    SswsCredentials,
    TeamsConfig,
    TenantConfig,
    WebhookConfig,
    load_config,
    secret_values,
)
from detector.ingest.poller import PollerSettings
from detector.inventory.facts import InventoryFacts
from detector.okta.auth import Auth, PrivateKeyJwtAuth, SswsAuth
from detector.okta.budget import Priority, RateBudget, SyncLimits
from detector.okta.client import OktaClient
from detector.ops.metrics import Metrics
from detector.redaction_key import configured_key, deployment_key, existing_redaction_key
from detector.respond.actions import ActionPolicy, TenantResponder
from detector.respond.channels.base import Channel, Routing
from detector.respond.channels.pagerduty import PagerDutyChannel
from detector.respond.channels.slack import SlackBotChannel, SlackWebhookChannel
from detector.respond.channels.teams import TeamsChannel
from detector.respond.channels.webhook import WebhookChannel
from detector.respond.links import LinkSigner
from detector.respond.policy import ResponsePolicy
from detector.respond.slack import SlackRequests


def make_auth(credentials: Credentials, org_url: str) -> Auth:
    if isinstance(credentials, SswsCredentials):
        return SswsAuth(credentials.token.resolve().get_secret_value())
    assert isinstance(credentials, OAuthCredentials)
    return PrivateKeyJwtAuth(
        org_url,
        credentials.client_id,
        credentials.private_key.resolve().get_secret_value(),
        credentials.key_id,
        credentials.scopes,
        dpop=credentials.dpop,
    )


def check_auth(config: Config) -> None:
    """Load each OAuth key as startup will, so one that cannot sign stops check-config too, with its field."""
    for i, tenant in enumerate(config.tenants):
        for role, credentials in (("read", tenant.read), ("enforce", tenant.enforce)):
            if isinstance(credentials, OAuthCredentials):
                try:
                    make_auth(credentials, tenant.org_url)
                except ValueError as exc:  # its message never quotes the key
                    raise ConfigError(f"tenants[{i}].{role}.private_key: {exc}") from None


def validated_config(path: Path) -> tuple[Config, list[str]]:
    """The config as startup accepts it (parsed, every secret readable, every key loadable, the redaction
    and link keys usable), and its secrets for the log redactor. ConfigError names the field when not."""
    config = load_config(path)
    secrets = secret_values(config)
    check_auth(config)
    existing_redaction_key(config)
    if config.approvals.link_key is not None:
        configured_key(config.approvals.link_key, "approvals.link_key")
    return config, secrets


def tenant_context(tenant: TenantConfig) -> TenantContext:
    """Our credentials' ids, so the System Log events our own actions cause are ignored, and the tenant's
    stated context (egress, travellers, service accounts)."""
    clients, tokens = set(), set()
    for creds in (tenant.read, tenant.enforce):
        if isinstance(creds, OAuthCredentials):
            clients.add(creds.client_id)
        elif isinstance(creds, SswsCredentials) and creds.token_id:
            tokens.add(creds.token_id)
    return TenantContext(tenant.name, frozenset(clients), frozenset(tokens), tenant.context.profile())


def policy_of(tenant: TenantConfig) -> ActionPolicy:
    r = tenant.response
    return ActionPolicy(
        dry_run=r.dry_run,
        response=ResponsePolicy(frozenset(r.actions), dict(r.modes), r.policy),
        protected_users=frozenset(r.protected_users),
        protected_groups=frozenset(r.protected_groups),
        max_actions_per_hour=r.max_actions_per_hour,
        allow_suspend=r.allow_suspend,
        quarantine_group=r.quarantine_group,
        stale_after_s=r.stale_after_s,
        approval_ttl_s=r.approval_ttl_s,
        undo_ttl_s=r.undo_ttl_s,
    )


def engine_for(tenant: TenantConfig, book: Book | None = None, directory: DirectoryFacts | None = None) -> Engine:
    """The tenant's detections with its thresholds and context (``detector replay --config`` builds the same);
    ``book``: the threat-signal book the tenants of this process share (detections/threat_signals.py);
    ``directory``: what the tenant's synced inventory says of its users (default: nothing known)."""
    context = tenant_context(tenant)
    return build_engine(tenant.detections, context, book, directory)


def directories_for(config: Config) -> dict[str, InventoryFacts]:
    """A facts object per tenant that syncs an inventory, trusted for as long as its sync interval (Kafka mode's
    workers and action workers: each follows itdr.inventory into them)."""
    return {t.name: InventoryFacts(t.inventory.interval_s) for t in config.tenants if t.inventory.enabled}


def redactor_for(tenant: TenantConfig, key: bytes) -> Redactor:
    """The tenant's password redaction: the deployment key, the tenant's stated login domains."""
    return Redactor(key, tenant.context.login_domains)


def poller_settings(tenant: TenantConfig) -> PollerSettings:
    return PollerSettings(
        interval_s=tenant.poll.interval_s,
        lookback=timedelta(minutes=tenant.poll.lookback_minutes),
        page_limit=tenant.poll.page_limit,
    )


class OktaClients:
    """Makes each tenant's Okta clients (read and enforce credentials apart) and closes them all on exit. The
    clients of one tenant share one rate budget (they draw on the org's same buckets), which reports the
    rate-limit headers and its waits to ``metrics``."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._made: list[OktaClient] = []
        self._budgets: dict[str, tuple[tuple[object, ...], RateBudget]] = {}

    def reader(self, tenant: TenantConfig) -> OktaClient:
        return self.client(tenant, tenant.read)

    def enforcer(self, tenant: TenantConfig) -> OktaClient | None:
        return self.client(tenant, tenant.enforce) if tenant.enforce else None

    def client(self, tenant: TenantConfig, creds: Credentials, priority: Priority = Priority.TAIL) -> OktaClient:
        """A client of ``creds`` on the tenant's shared budget (the inventory sync: ``priority=Priority.SYNC``);
        its enforcement calls are ENFORCE whatever ``priority`` says."""
        client = OktaClient(
            tenant.org_url, make_auth(creds, tenant.org_url), budget=self.budget(tenant), priority=priority
        )
        self._made.append(client)
        return client

    def budget(self, tenant: TenantConfig) -> RateBudget:
        """The tenant's one budget; a new one when its org or budget settings changed (a reload)."""
        poll = tenant.poll
        key = (tenant.org_url, poll.budget_share, poll.sync_share, poll.sync_reserve, poll.sync_concurrency)
        made = self._budgets.get(tenant.name)
        if made is None or made[0] != key:
            made = (
                key,
                RateBudget(
                    poll.budget_share,
                    sync=SyncLimits(poll.sync_share, poll.sync_reserve, poll.sync_concurrency),
                    observe=self.metrics.rate_observer(tenant.name) if self.metrics else None,
                    on_wait=self.metrics.wait_observer(tenant.name) if self.metrics else None,
                ),
            )
            self._budgets[tenant.name] = made
        return made[1]

    def rotate(self, tenant: TenantConfig, reader: OktaClient, enforcer: OktaClient | None) -> None:
        """Re-read the tenant's secrets into its clients: the next request uses the rotated token or key."""
        reader.auth = make_auth(tenant.read, tenant.org_url)
        if enforcer is not None and tenant.enforce is not None:
            enforcer.auth = make_auth(tenant.enforce, tenant.org_url)

    async def release(self, client: OktaClient | None) -> None:
        """Close a client of a tenant that stopped (removed or changed by a reload)."""
        if client is not None and client in self._made:
            self._made.remove(client)
            await client.aclose()

    async def __aenter__(self) -> OktaClients:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for client in self._made:
            await client.aclose()


def responder(tenant: TenantConfig, clients: OktaClients, directory: InventoryFacts | None = None) -> TenantResponder:
    """``directory``: the tenant's synced inventory, read for group protection and admin roles when fresh."""
    return TenantResponder(policy_of(tenant), clients.enforcer(tenant), directory=directory)


def channels_for(tenant: TenantConfig, session: aiohttp.ClientSession) -> list[Channel]:
    """The tenant's incident channels, their secrets read now (a reload builds them again, rotated secrets
    included). ``session`` is the caller's (``channels.http.new_session()``), closed by the caller."""
    return [channel_for(c, session) for c in tenant.channels]


def channel_for(config: ChannelConfig, session: aiohttp.ClientSession) -> Channel:
    routing = Routing(config.min_tier.value, config.excluded_findings)
    if isinstance(config, SlackWebhookConfig):
        return SlackWebhookChannel(config.name, routing, _secret(config.url), session)
    if isinstance(config, SlackBotConfig):
        return SlackBotChannel(config.name, routing, _secret(config.token), config.channel, config.base_url, session)
    if isinstance(config, TeamsConfig):
        return TeamsChannel(config.name, routing, _secret(config.url), session)
    if isinstance(config, PagerDutyConfig):
        keys = {tier: _secret(ref) for tier, ref in config.routing_keys.items()}
        return PagerDutyChannel(config.name, routing, keys, config.base_url, session)
    assert isinstance(config, WebhookConfig)
    return WebhookChannel(config.name, routing, _secret(config.url), config.secret.key(), session)


def _secret(ref: SecretRef) -> str:
    return ref.resolve().get_secret_value()


LINK_KEY_FILE = "link.key"


def link_signer(config: Config) -> LinkSigner:
    """The signer of approval and undo links: ``approvals.link_key``, else ``<data_dir>/link.key`` (made once)."""
    key = deployment_key(config.approvals.link_key, config.data_dir / LINK_KEY_FILE, "approvals.link_key")
    return LinkSigner(key, config.http.public_url if config.http else None)


def slack_requests(config: Config, clock: Callable[[], float]) -> SlackRequests | None:
    """Slack's request verifier, when ``approvals.slack_signing_secret`` is set."""
    secret = config.approvals.slack_signing_secret
    return SlackRequests(secret.resolve().get_secret_value(), clock) if secret else None
