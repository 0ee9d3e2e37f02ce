"""One validated config file for the whole daemon: many tenants, secrets only by reference.

A wrong config stops startup with the field path and the reason
(``tenants[0].read.token: ...``). Secrets are never written inline: a config
file gets copied, committed and pasted into tickets, so it holds only
``{env: NAME}`` or ``{file: PATH}`` and the value is read at startup.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from detections.confidence import Action
from detections.registry import DetectionSettings
from detections.tenant_profile import TenantProfile

OKTA_MAX_LOOKBACK_MINUTES = 90 * 24 * 60  # System Log retention; older `since` returns nothing


class ConfigError(Exception):
    """The config cannot be used; the message names each bad field and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (e.g. a mounted Kubernetes secret)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"environment variable {self.env} is not set or empty")
            return SecretStr(value)
        assert self.file is not None
        try:
            value = self.file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"secret file {self.file} is empty")
        return SecretStr(value)


def _reject_inline(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError("secrets are never written inline: use {env: VAR_NAME} or {file: /path/to/secret}")
    return value


class SswsCredentials(_Strict):
    kind: Literal["ssws"] = "ssws"
    token: SecretRef
    token_id: str | None = None  # the token's 00T… id, so our own actions are recognised in the System Log

    @field_validator("token", mode="before")
    @classmethod
    def _no_inline(cls, value: Any) -> Any:
        return _reject_inline(value)


class OAuthCredentials(_Strict):
    """An API Services app using client credentials with a private_key_jwt assertion."""

    kind: Literal["oauth"] = "oauth"
    client_id: str = Field(min_length=1)
    private_key: SecretRef
    key_id: str | None = None
    scopes: list[str] = Field(min_length=1)
    dpop: bool | None = None  # None: use DPoP when the org demands it

    @field_validator("private_key", mode="before")
    @classmethod
    def _no_inline(cls, value: Any) -> Any:
        return _reject_inline(value)


Credentials = Annotated[SswsCredentials | OAuthCredentials, Field(discriminator="kind")]


class PollSettings(_Strict):
    interval_s: float = Field(1.0, gt=0, le=300)
    lookback_minutes: int = Field(15, ge=1)
    page_limit: int = Field(1000, ge=1, le=1000)
    budget_share: float = Field(0.5, gt=0, le=1)

    @field_validator("lookback_minutes")
    @classmethod
    def _cap_lookback(cls, value: int) -> int:
        return min(value, OKTA_MAX_LOOKBACK_MINUTES)


class ResponseSettings(_Strict):
    dry_run: bool = False
    actions: list[Action] = Field(default_factory=lambda: [Action.CLEAR_SESSIONS])
    protected_users: list[str] = Field(default_factory=list)  # user ids or logins
    protected_groups: list[str] = Field(default_factory=list)  # group ids or names
    max_actions_per_hour: int = Field(10, ge=0)
    allow_suspend: bool = False


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip()))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not a CIDR: {value!r} (e.g. 198.51.100.0/24)") from None
    raise ValueError(f"not a CIDR: {value!r} has host bits set (the network is {network})")


def _asn(value: Any) -> Any:
    """Accept 53813 and "AS53813"."""
    if isinstance(value, str) and value.strip().upper().startswith("AS"):
        return value.strip()[2:]
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
Asn = Annotated[int, BeforeValidator(_asn), Field(ge=1, le=2**32 - 1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ContextSettings(_Strict):
    """What the organisation looks like, stated once for every detection (see detections/tenant_profile.py).

    Merged with the per-detection allowlists under ``detections:``; protected users/groups live under
    ``response:`` (they restrict enforcement, not detection)."""

    egress_cidrs: list[Cidr] = Field(default_factory=list)  # corporate VPN / secure web gateway egress
    egress_asns: list[Asn] = Field(default_factory=list)  # e.g. Zscaler 53813
    vpn_operators: list[Name] = Field(default_factory=list)  # Okta debugData.tunnels operators the company uses
    known_travellers: list[Name] = Field(default_factory=list)  # user ids or logins: impossible travel dampened
    service_accounts: list[Name] = Field(default_factory=list)  # user ids or logins: no human-only detections
    login_domains: list[Name] = Field(default_factory=list)  # e.g. acme.com: what the org's logins end with

    def profile(self) -> TenantProfile:
        return TenantProfile(
            egress_cidrs=tuple(self.egress_cidrs),
            egress_asns=frozenset(self.egress_asns),
            vpn_operators=frozenset(self.vpn_operators),
            known_travellers=frozenset(self.known_travellers),
            service_accounts=frozenset(self.service_accounts),
            login_domains=frozenset(self.login_domains),
        )


def _known_detection_settings(value: Any) -> Any:
    """Catch typos: pydantic ignores unknown keys of a dataclass, and a silently ignored threshold is a bug."""
    if not isinstance(value, dict):
        return value
    defaults = DetectionSettings()
    for name, overrides in value.items():
        if name not in {f.name for f in fields(DetectionSettings)}:
            known = ", ".join(f.name for f in fields(DetectionSettings))
            raise ValueError(f"unknown detection {name!r}; known: {known}")
        if isinstance(overrides, dict):
            allowed = {f.name for f in fields(getattr(defaults, name))}
            unknown = sorted(set(overrides) - allowed)
            if unknown:
                raise ValueError(
                    f"{name}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
                )
            cidrs = overrides.get("allowlist_cidrs")
            for i, cidr in enumerate(cidrs if isinstance(cidrs, list | tuple) else ()):
                try:
                    if isinstance(cidr, str):  # other types: pydantic names them below
                        _cidr(cidr)
                except ValueError as exc:
                    raise ValueError(f"{name}.allowlist_cidrs[{i}]: {exc}") from None
    return value


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class TenantConfig(_Strict):
    name: str
    org_url: str
    read: Credentials
    enforce: Credentials | None = None  # separate least-privilege credentials; None: alert only
    poll: PollSettings = Field(default_factory=PollSettings)
    response: ResponseSettings = Field(default_factory=ResponseSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)  # the organisation, for every detection
    detections: DetectionSettings = Field(default_factory=DetectionSettings)  # per-detection thresholds

    @field_validator("detections", mode="before")
    @classmethod
    def _detections(cls, value: Any) -> Any:
        return _known_detection_settings(value)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-' or '_' (it keys Kafka records and metrics)")
        return value

    @field_validator("org_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        parts = urlsplit(value)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("must be an https:// URL (plain http only on loopback, for the simulator)")
        if not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError("must be the org's base URL, e.g. https://acme.okta.com")
        return value.rstrip("/")


class KafkaSettings(_Strict):
    """Kafka mode. Partitions cap how many detection workers share the load; replication 3 in production."""

    bootstrap: str = Field(pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$")  # host:port[,host:port...]
    partitions: int = Field(6, ge=1, le=1024)
    replication: int = Field(1, ge=1, le=7)
    app_id: str = Field("okta-itdr", pattern=r"^[a-z0-9][a-z0-9._-]*$")  # Faust app id = consumer group prefix
    topic_prefix: str = Field("", pattern=r"^([a-z0-9][a-z0-9._-]*[._-])?$")  # e.g. "prod." on a shared cluster
    store: str = Field("memory://", pattern=r"^(memory|rocksdb)://$")  # detection state; rocksdb needs rocksdict
    web_port: int = Field(6066, ge=1, le=65535)  # Faust's web server, on 127.0.0.1 only
    events_retention_hours: int = Field(7 * 24, ge=1)
    audit_retention_days: int = Field(400, ge=1)  # itdr.actions is the audit trail


class MetricsSettings(_Strict):
    """The process's ``/metrics`` and ``/healthz`` HTTP server (detector.ops.http).

    Off unless this section (or ``--metrics-port``) is given: several roles share a host, and a fixed default
    port would make the second one fail to start. Loopback unless ``bind`` says otherwise: ``0.0.0.0`` (or
    ``::``) is for containers, where Prometheus scrapes from another network namespace."""

    bind: str = "127.0.0.1"
    port: int = Field(9108, ge=1, le=65535)

    @field_validator("bind")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"not an IP address: {value!r} (127.0.0.1 by default; 0.0.0.0 in a container)") from None


class Config(_Strict):
    data_dir: Path = Path("var")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    findings_jsonl: Path | None = None  # default: <data_dir>/findings.jsonl
    kafka: KafkaSettings | None = None  # None: embedded mode (one process, SQLite)
    metrics: MetricsSettings | None = None  # None: no /metrics server (unless --metrics-port)
    redaction_key: Annotated[SecretRef, BeforeValidator(_reject_inline)] | None = None  # None: <data_dir>/redaction.key
    tenants: list[TenantConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [t.name for t in self.tenants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tenant names must be unique; repeated: {', '.join(dupes)}")
        return self

    @property
    def findings_path(self) -> Path:
        return self.findings_jsonl or self.data_dir / "findings.jsonl"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "itdr.sqlite"


def parse_config(data: Any) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None


def load_config(path: Path) -> Config:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(data)


def format_errors(exc: ValidationError) -> str:
    """One line per problem: the field path as written in YAML, then the reason."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ""
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part in ("ssws", "oauth") and path:  # discriminated-union tag, not a YAML key
                continue
            else:
                path += f".{part}" if path else str(part)
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '<root>'}: {message}")
    return "invalid config:\n  " + "\n  ".join(lines)


def secret_values(config: Config) -> list[str]:
    """Every secret the config refers to, resolved, for the log redactor (fails like startup would)."""
    values = [config.redaction_key.resolve().get_secret_value()] if config.redaction_key else []
    for tenant in config.tenants:
        for creds in (tenant.read, tenant.enforce):
            if isinstance(creds, SswsCredentials):
                values.append(creds.token.resolve().get_secret_value())
            elif isinstance(creds, OAuthCredentials):
                values.append(creds.private_key.resolve().get_secret_value())
    return values
