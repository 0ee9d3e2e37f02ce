"""One validated config file for the whole daemon: many tenants, secrets only by reference.

A wrong config stops startup with the field path and the reason
(``tenants[0].read.token: ...``). Secrets are never written inline: a config
file gets copied, committed and pasted into tickets, so it holds only
``{env: NAME}`` or ``{file: PATH}`` and the value is read at startup.
Whoever can write the file (or a value it refers to) is not trusted to write a
sane one: every number has a range, the file and each secret a bounded size,
and no error repeats a value that might be a secret.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_type_hints
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
    SecretStr,
    Strict,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from detections.confidence import Tier
from detections.registry import DetectionSettings
from detections.tenant_profile import TenantProfile
from detector.bounded_yaml import YamlRefused, load_yaml
from detector.regular_file import FileRefused, read_regular_file
from detector.respond.policy import Mode, ResponseAction, finding_ids

OKTA_MAX_LOOKBACK_MINUTES = 90 * 24 * 60  # System Log retention; older `since` returns nothing
MAX_CONFIG_BYTES = 1 << 20
MAX_SECRET_BYTES = 64 << 10  # a 4096-bit RSA key in PEM is about 3.3 KiB


class ConfigError(Exception):
    """The config cannot be used; the message names each bad field and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Numbers as YAML writes them, strictly (`true` is no count, "10" no window), and finite.
MAX_WINDOW_S = 90 * 86_400.0  # System Log retention: a longer window or duration is a typo
MAX_COUNT = 1_000_000  # counts and state-map sizes: more would only grow memory
StrictBool = Annotated[bool, Strict()]
Seconds = Annotated[float, Strict(), Field(gt=0, le=MAX_WINDOW_S, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=1, le=MAX_COUNT)]
Points = Annotated[int, Strict(), Field(ge=0, le=100)]  # the confidence scale: points, dampening, caps, minimums
Share = Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]
Km = Annotated[float, Strict(), Field(gt=0, le=20_040, allow_inf_nan=False)]  # half the equator: nothing is farther
Kmh = Annotated[float, Strict(), Field(gt=0, le=1_000_000, allow_inf_nan=False)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINE_ENDS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")  # an HTTP header value, not trimmed
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


def _no_control(path: Path) -> Path:
    if _CONTROL.search(str(path)):
        raise ValueError("a path must not hold control characters")
    return path


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):  # most often the secret itself, pasted here: never echoed
        raise ValueError("not an environment variable name (letters, digits and _, not starting with a digit)")
    return value


SafePath = Annotated[Path, AfterValidator(_no_control)]


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (e.g. a mounted Kubernetes secret).

    Errors name neither the variable nor the path (the caller adds the field path): a secret pasted
    into ``env:`` or ``file:`` by mistake must not reach a terminal or a ticket."""

    multiline: ClassVar[bool] = False  # a token goes in an HTTP header; a PEM key has lines

    env: Annotated[str, AfterValidator(_env_name)] | None = Field(
        None, description="the environment variable that holds the secret"
    )
    file: SafePath | None = Field(
        None, description="the file that holds the secret (a regular file of at most 64 KiB, e.g. a mounted secret)"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self

    def resolve(self) -> SecretStr:
        """The value without the one line ending an editor or ``echo`` leaves; refused if still unusable."""
        value = self._read()
        if value.endswith("\n"):
            value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise ConfigError(f"{self._source} is {'not set or empty' if self.env is not None else 'empty'}")
        if self.multiline and _CONTROL_BUT_LINE_ENDS.search(value):
            raise ConfigError(f"the secret in {self._source} holds control characters")
        if not self.multiline and not _HEADER_TOKEN.fullmatch(value):
            raise ConfigError(
                f"the secret in {self._source} must be one line of printable ASCII with no space at either end"
                " (it is sent in an HTTP header)"
            )
        return SecretStr(value)

    @property
    def _source(self) -> str:
        return "the environment variable named by `env`" if self.env is not None else "the file named by `file`"

    def _read(self) -> str:
        if self.env is not None:
            return os.environ.get(self.env, "")
        assert self.file is not None
        try:
            data = read_regular_file(self.file, MAX_SECRET_BYTES)
        except FileRefused as exc:
            raise ConfigError(f"cannot read {self._source}: {exc}") from None
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise ConfigError(f"{self._source} is not UTF-8 text") from None


class MultilineSecretRef(SecretRef):
    """A secret with lines, such as a PEM private key."""

    multiline: ClassVar[bool] = True


def _reject_inline(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError("secrets are never written inline: use {env: VAR_NAME} or {file: /path/to/secret}")
    return value


class SswsCredentials(_Strict):
    """An Okta API token (``Authorization: SSWS``): it acts with its owner's admin roles."""

    kind: Literal["ssws"] = Field("ssws", description="an API token")
    token: SecretRef = Field(description="the API token")
    token_id: str | None = Field(
        None, description="the token's 00T… id, so the daemon recognises its own actions in the System Log"
    )

    @field_validator("token", mode="before")
    @classmethod
    def _no_inline(cls, value: Any) -> Any:
        return _reject_inline(value)


class OAuthCredentials(_Strict):
    """An API Services app using client credentials with a private_key_jwt assertion."""

    kind: Literal["oauth"] = Field("oauth", description="an OAuth 2.0 service app (client credentials)")
    client_id: str = Field(min_length=1, description="the service app's client id (0oa…)")
    private_key: MultilineSecretRef = Field(
        description="the app's private key in PEM (RSA or EC), which signs the assertion"
    )
    key_id: str | None = Field(None, description="the key's `kid` in the app's JWKS, sent in the assertion's header")
    scopes: list[str] = Field(
        min_length=1, description="the OAuth scopes to ask for (okta.logs.read to poll; okta.users.manage to act)"
    )
    dpop: StrictBool | None = Field(
        None, description="bind tokens with DPoP: true always, false never, unset when the org demands it"
    )

    @field_validator("private_key", mode="before")
    @classmethod
    def _no_inline(cls, value: Any) -> Any:
        return _reject_inline(value)


Credentials = Annotated[SswsCredentials | OAuthCredentials, Field(discriminator="kind")]


class PollSettings(_Strict):
    """How the tenant's System Log is polled."""

    interval_s: Annotated[float, Strict(), Field(gt=0, le=300, allow_inf_nan=False)] = Field(
        1.0, description="seconds between polls once the log is caught up (a full page is followed at once)"
    )
    lookback_minutes: Annotated[int, Strict(), Field(ge=1)] = Field(
        15, description="how far back the first poll starts when no cursor is stored (capped at 90 days)"
    )
    page_limit: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(
        1000, description="events asked for per System Log page (`limit`; Okta's maximum is 1000)"
    )
    budget_share: Share = Field(
        0.5, description="the share of each Okta rate-limit bucket the daemon may spend, leaving the rest to admins"
    )
    sync_share: Share = Field(
        0.5, description="of that share, what the inventory sync may spend per window (the tail and actions first)"
    )
    sync_reserve: Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)] = Field(
        10,
        description="requests of the share the sync leaves unused in each window, for actions and the tail "
        "(keep it under `budget_share` × the smallest bucket's limit, or the sync never runs in that bucket)",
    )
    sync_concurrency: Annotated[int, Strict(), Field(ge=1, le=64)] = Field(
        2, description="inventory sync requests in flight at once, so it never holds Okta's per-org in-flight cap"
    )
    slow_sync_s: Annotated[float, Strict(), Field(gt=0, le=86400, allow_inf_nan=False)] = Field(
        300.0, description="tenant status: `slow` when the poll lag is above this many seconds"
    )

    @field_validator("lookback_minutes")
    @classmethod
    def _cap_lookback(cls, value: int) -> int:
        return min(value, OKTA_MAX_LOOKBACK_MINUTES)


class InventorySettings(_Strict):
    """The tenant's directory inventory (detector/inventory/): a full sync at start and on a schedule, kept
    current in between from the System Log. The read credential needs the read scopes of what it syncs
    (okta.users.read, okta.groups.read, okta.roles.read, okta.apps.read, okta.apiTokens.read, okta.idps.read,
    okta.policies.read, okta.threatInsights.read); a part whose scope is missing is skipped with the reason."""

    enabled: StrictBool = Field(True, description="sync the directory inventory of this tenant")
    interval_s: Annotated[float, Strict(), Field(ge=300, le=7 * 86400, allow_inf_nan=False)] = Field(
        21600.0, description="seconds from the start of one full sync to the start of the next (default 6 h)"
    )


Tiers = Literal["low", "medium", "high", "high-confidence", "*"]
OktaId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]


class ResponseSettings(_Strict):
    """What a finding may make the daemon do to a user (detector/respond/policy.py says how it is decided)."""

    dry_run: StrictBool = Field(False, description="decide and record every action, never call Okta")
    actions: list[ResponseAction] = Field(
        default_factory=lambda: [ResponseAction.CLEAR_SESSIONS],
        description="the default rule: the earned actions that may run (`suspend` also needs `allow_suspend`)",
    )
    modes: dict[ResponseAction, Mode] = Field(
        default_factory=dict,
        description="the default rule's mode per action (auto, approve, shadow, off); suspend is approve at most",
    )
    policy: dict[str, dict[Tiers, dict[ResponseAction, Mode]]] = Field(
        default_factory=dict, description="rules: detection (or *) -> tier (or *) -> action -> mode"
    )
    protected_users: list[str] = Field(
        default_factory=list, description="user ids or logins never actioned (still detected and alerted)"
    )
    protected_groups: list[str] = Field(
        default_factory=list, description="group ids or names whose members are never actioned"
    )
    max_actions_per_hour: Annotated[int, Strict(), Field(ge=0, le=3600)] = Field(
        10, description="the circuit breaker: actions done per tenant per hour (0: never act)"
    )
    allow_suspend: StrictBool = Field(False, description="suspend is opt-in, and never automatic")
    quarantine_group: OktaId | None = Field(None, description="the group id the quarantine action adds a user to")
    stale_after_s: Seconds = Field(900.0, description="a finding whose events are older asks instead of acting")
    approval_ttl_s: Annotated[float, Strict(), Field(ge=60, le=7 * 86_400, allow_inf_nan=False)] = Field(
        1800.0, description="an unanswered approval request expires after this long, doing nothing"
    )
    undo_ttl_s: Annotated[float, Strict(), Field(ge=60, le=30 * 86_400, allow_inf_nan=False)] = Field(
        7 * 86_400.0, description="how long an undo link works"
    )

    @field_validator("policy")
    @classmethod
    def _known_detections(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - finding_ids() - {"*"})
        if unknown:
            known = ", ".join(sorted(finding_ids()))
            raise ValueError(f"unknown detection(s) {', '.join(unknown)}; known: *, {known}")
        return value

    @model_validator(mode="after")
    def _safe_modes(self) -> ResponseSettings:
        named = [(f"modes.{a}", a, m) for a, m in self.modes.items()] + [
            (f"policy.{d}.{t}.{a}", a, m)
            for d, tiers in self.policy.items()
            for t, actions in tiers.items()
            for a, m in actions.items()
        ]
        problems = []
        for where, action, mode in named:
            if action is ResponseAction.SUSPEND and mode is Mode.AUTO:
                problems.append(f"{where}: suspend is never automatic (approve or shadow)")
            elif action is ResponseAction.SUSPEND and mode is not Mode.OFF and not self.allow_suspend:
                problems.append(f"{where}: suspend needs allow_suspend: true")
            elif action is ResponseAction.QUARANTINE and mode is not Mode.OFF and self.quarantine_group is None:
                problems.append(f"{where}: quarantine needs quarantine_group (the quarantine group's id)")
        if ResponseAction.QUARANTINE in self.actions and self.quarantine_group is None:
            problems.append("actions: quarantine needs quarantine_group (the quarantine group's id)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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

    egress_cidrs: list[Cidr] = Field(
        default_factory=list, description="corporate VPN / secure web gateway egress networks, e.g. 198.51.100.0/24"
    )
    egress_asns: list[Asn] = Field(
        default_factory=list, description="AS numbers of the company's egress (e.g. Zscaler 53813; AS53813 works too)"
    )
    vpn_operators: list[Name] = Field(
        default_factory=list, description="tunnel operators the company uses (Okta debugData.tunnels)"
    )
    known_travellers: list[Name] = Field(
        default_factory=list, description="user ids or logins whose impossible travel is dampened, not dropped"
    )
    service_accounts: list[Name] = Field(
        default_factory=list, description="user ids or logins of non-human users: the human-only detections skip them"
    )
    login_domains: list[Name] = Field(
        default_factory=list, description="what the org's logins end with (e.g. acme.com); else learned"
    )

    def profile(self) -> TenantProfile:
        return TenantProfile(
            egress_cidrs=tuple(self.egress_cidrs),
            egress_asns=frozenset(self.egress_asns),
            vpn_operators=frozenset(self.vpn_operators),
            known_travellers=frozenset(self.known_travellers),
            service_accounts=frozenset(self.service_accounts),
            login_domains=frozenset(self.login_domains),
        )


# The range of each detection setting, by field name and type: detections/ holds stdlib dataclasses (no
# pydantic there), so the rules live here. The first rule whose pattern and type match applies;
# tests/test_config_ranges.py fails on a numeric setting that none covers.
_DETECTION_RULES: tuple[tuple[re.Pattern[str], Any, Any], ...] = tuple(
    (re.compile(pattern), kind, checked)
    for pattern, kind, checked in (
        (r".*_s", float, Seconds),  # windows, durations, suppressions
        (r".*_(points|dampening|cap|confidence)", int, Points),
        (r".*_(share|similarity)", float, Share),
        (r".*_km", float, Km),
        (r".*_kmh", float, Kmh),
        (r"(.*_)?(min|max)_.*|.*_(logins|sign_ins|signins|ips|users)", int, Count),
        (r".*_asns", frozenset[int], frozenset[Asn]),
        (r".*_cidrs", tuple[str, ...], tuple[Cidr, ...]),
        (r".*", bool, StrictBool),
    )
)


def detection_rule(name: str, kind: Any) -> Any | None:
    """The checked type of the detection setting ``name: kind``; None if no rule covers it."""
    return next((checked for p, k, checked in _DETECTION_RULES if k == kind and p.fullmatch(name)), None)


def _checked(cls: type) -> Any:
    """``cls`` (a detections config dataclass) validated field by field by :func:`detection_rule`.

    Pydantic validates a mirror model that carries the rules, so errors have the YAML's paths; the
    dataclass is then built from the keys given, so its own defaults and ``__post_init__`` apply."""
    hints = get_type_hints(cls)
    spec: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        checked = _checked(kind) if dataclasses.is_dataclass(kind) else detection_rule(f.name, kind)
        spec[f.name] = (checked or kind, None)
    mirror = create_model(f"{cls.__name__}Input", __config__=ConfigDict(extra="forbid"), **spec)

    def build(given: BaseModel) -> Any:
        return cls(**{name: getattr(given, name) for name in given.model_fields_set})

    def schema(_source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(build, handler.generate_schema(mirror))

    return Annotated[cls, GetPydanticSchema(schema)]


CheckedDetectionSettings = _checked(DetectionSettings)


def _known_detection_settings(value: Any) -> Any:
    """Name the known detections and settings when a key is a typo (a silently ignored threshold is a bug)."""
    if not isinstance(value, dict):
        return value
    defaults = DetectionSettings()
    for name, overrides in value.items():
        if name not in {f.name for f in dataclasses.fields(DetectionSettings)}:
            known = ", ".join(f.name for f in dataclasses.fields(DetectionSettings))
            raise ValueError(f"unknown detection {name!r}; known: {known}")
        if isinstance(overrides, dict):
            allowed = {f.name for f in dataclasses.fields(getattr(defaults, name))}
            unknown = sorted(set(overrides) - allowed)
            if unknown:
                raise ValueError(
                    f"{name}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
                )
    return value


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_NETLOC = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::(?P<port>.*))?")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}\.?")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _org_url(value: str) -> str:
    """The org's origin, nothing the HTTP client could read another way: the token goes to this host.

    ``https://acme.okta.com@evil.com`` sends it to evil.com, a backslash is a path separator to some
    parsers and not others, and userinfo is a password in a file that gets pasted: none is echoed."""
    if "@" in value:
        raise ValueError("must not hold a user name or password (user:password@); credentials go under read:")
    if not value.isascii() or _CONTROL.search(value) or " " in value or "\\" in value:
        raise ValueError("must not hold spaces, backslashes, control or non-ASCII characters (use the xn-- form)")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed [IPv6 literal
        raise ValueError("must be the org's base URL with a valid host name, e.g. https://acme.okta.com") from None
    netloc = _NETLOC.fullmatch(parts.netloc)
    host = (netloc["host"] if netloc else "").strip("[]")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        raise ValueError("must be an https:// URL (plain http only on loopback, for the simulator)")
    if parts.path not in ("", "/") or "?" in value or "#" in value:
        raise ValueError("must be the org's base URL, e.g. https://acme.okta.com (no path, query or fragment)")
    port = netloc["port"] if netloc else None
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError("the port must be a number within 1..65535")
    if not netloc or not (_HOSTNAME.fullmatch(host) or _is_ipv6(netloc["host"])):
        raise ValueError("must be the org's base URL with a valid host name, e.g. https://acme.okta.com")
    return value.rstrip("/")


def _is_ipv6(host: str) -> bool:
    try:
        return host.startswith("[") and ipaddress.ip_address(host[1:-1]).version == 6
    except ValueError:
        return False


# -- channels: where incidents are sent (detector/respond/channels) ------------------------------------------
# A Slack or Teams webhook URL is itself a credential, like a token: only a reference, never echoed.


def _endpoint_problem(value: str) -> str | None:
    """Why ``value`` is not a URL incidents may be POSTed to; None when it is one."""
    if not value.isascii() or _CONTROL.search(value) or " " in value or "\\" in value:
        return "must not hold spaces, backslashes, control or non-ASCII characters"
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname or "", parts.port
    except ValueError:
        return "must be a URL with a valid host and port"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password"
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        return "must be an https:// URL (plain http only on loopback, for tests)"
    return None if host else "must be a URL with a host name"


def _endpoint(value: str) -> str:
    problem = _endpoint_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Endpoint = Annotated[str, AfterValidator(_endpoint)]


class UrlSecretRef(SecretRef):
    """A URL that is a credential (a Slack incoming webhook, a Teams workflow URL with its signature)."""

    def resolve(self) -> SecretStr:
        value = super().resolve()
        problem = _endpoint_problem(value.get_secret_value())
        if problem:
            raise ConfigError(f"the URL in {self._source} {problem}")
        return value


class SigningSecretRef(SecretRef):
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 24 to 64 random bytes."""

    def resolve(self) -> SecretStr:
        value = super().resolve()
        self._decode(value.get_secret_value())
        return value

    def key(self) -> bytes:
        """The HMAC key the secret stands for."""
        return self._decode(self.resolve().get_secret_value())

    def _decode(self, value: str) -> bytes:
        try:
            key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
        except ValueError:  # binascii.Error is one
            key = b""
        if not value.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise ConfigError(f"the secret in {self._source} must be whsec_ and the base64 of 24 to 64 random bytes")
        return key


@functools.cache
def _findings_by_detection() -> dict[str, tuple[str, ...]]:
    from detections.catalogue import entries  # reads the detections' source: only when a channel excludes one

    return {e.id: e.findings for e in entries()}


class _Channel(_Strict):
    """What every channel has: a name (unique in its tenant), the lowest tier it takes, and the detections it
    opts out of, by detection id (``mfa_fatigue``: all its findings) or finding id (``mfa_push_bombing``)."""

    name: str = Field(pattern=_NAME.pattern, description="the channel's name, unique in its tenant (metrics, logs)")
    min_tier: Tier = Field(Tier.MEDIUM, description="the lowest incident tier the channel takes")
    exclude_detections: list[str] = Field(
        default_factory=list, description="detection ids or finding ids whose findings do not count for it"
    )

    @field_validator("exclude_detections")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        by_detection = _findings_by_detection() if value else {}
        known = set(by_detection) | {f for findings in by_detection.values() for f in findings}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown detection(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return value

    @property
    def excluded_findings(self) -> frozenset[str]:
        """The finding ids excluded (what an incident's timeline names)."""
        by_detection = _findings_by_detection() if self.exclude_detections else {}
        return frozenset(f for name in self.exclude_detections for f in by_detection.get(name, (name,)))

    def secrets(self) -> dict[str, SecretRef]:
        """Each secret reference by its field path, for the log redactor and startup's checks."""
        return {name: ref for name, ref in vars(self).items() if isinstance(ref, SecretRef)}


InlineRefused = BeforeValidator(_reject_inline)


class SlackWebhookConfig(_Channel):
    """A Slack incoming webhook: one message per incident update."""

    kind: Literal["slack_webhook"] = Field(description="`slack_webhook`")
    url: Annotated[UrlSecretRef, InlineRefused] = Field(description="the webhook URL (a secret reference)")


class SlackBotConfig(_Channel):
    """A Slack app's bot: the incident's first message, then its updates in the thread, the header kept current."""

    kind: Literal["slack_bot"] = Field(description="`slack_bot`")
    token: Annotated[SecretRef, InlineRefused] = Field(description="a bot token (xoxb-) with chat:write")
    channel: str = Field(pattern=r"^#?[A-Za-z0-9._-]{1,80}$", description="a channel id (C0123ABC) or #name")
    base_url: Endpoint = Field("https://slack.com/api/", description="Slack's Web API (a stand-in in tests)")


class TeamsConfig(_Channel):
    """Microsoft Teams through a Workflows webhook: an Adaptive Card per incident update."""

    kind: Literal["teams"] = Field(description="`teams`")
    url: Annotated[UrlSecretRef, InlineRefused] = Field(
        description='the Workflows "when a Teams webhook request is received" URL (a secret reference)'
    )


PagerDutyKeyName = Literal["default", "low", "medium", "high", "high-confidence"]


class PagerDutyConfig(_Channel):
    """PagerDuty Events API v2: trigger with the incident key as dedup_key, resolve when it is resolved."""

    kind: Literal["pagerduty"] = Field(description="`pagerduty`")
    routing_keys: dict[PagerDutyKeyName, Annotated[SecretRef, InlineRefused]] = Field(
        description="integration keys: `default`, and optionally one per tier"
    )
    base_url: Endpoint = Field("https://events.pagerduty.com", description="the Events API (a stand-in in tests)")

    @field_validator("routing_keys")
    @classmethod
    def _default(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        if "default" not in value:
            raise ValueError("give a `default` routing key (and optionally one per tier)")
        return value

    def secrets(self) -> dict[str, SecretRef]:
        return {f"routing_keys.{name}": ref for name, ref in self.routing_keys.items()}


class WebhookConfig(_Channel):
    """A generic webhook signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."""

    kind: Literal["webhook"] = Field(description="`webhook`")
    url: Annotated[UrlSecretRef, InlineRefused] = Field(description="the receiver's URL (a secret reference)")
    secret: Annotated[SigningSecretRef, InlineRefused] = Field(description="the signing secret, `whsec_<base64>`")


ChannelConfig = Annotated[
    SlackWebhookConfig | SlackBotConfig | TeamsConfig | PagerDutyConfig | WebhookConfig, Field(discriminator="kind")
]
_CHANNEL_KINDS = frozenset({"slack_webhook", "slack_bot", "teams", "pagerduty", "webhook"})


def _unique_channel_names(channels: list[Any]) -> list[Any]:
    names = [c.name for c in channels]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"channel names must be unique in a tenant; repeated: {', '.join(dupes)}")
    return channels


Channels = Annotated[list[ChannelConfig], AfterValidator(_unique_channel_names)]


Days = Annotated[int, Strict(), Field(ge=1, le=3650)]


def _known_checks(value: list[str]) -> list[str]:
    from detector.inventory.posture import check_ids  # posture reads these settings: imported when validated

    unknown = sorted(set(value) - set(check_ids()))
    if unknown:
        raise ValueError(f"unknown posture check(s) {', '.join(unknown)}; known: {', '.join(check_ids())}")
    return value


class PostureSettings(_Strict):
    """The thresholds of the posture checks and inventory-change findings run after each directory sync
    (detector/inventory/posture.py, changes.py; docs/posture.md lists them)."""

    enabled: StrictBool = Field(
        True, description="raise posture and inventory-change findings after each sync (false: `detector posture` only)"
    )
    skip: Annotated[list[str], AfterValidator(_known_checks)] = Field(
        default_factory=list, description="posture check ids not run (a risk the organisation accepts)"
    )
    max_super_admins: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(
        4, description="more users holding Super Administrator (directly or through a group) fail the check"
    )
    admin_inactive_days: Days = Field(90, description="an admin without a sign-in for this many days is inactive")
    api_token_max_age_days: Days = Field(90, description="an API token created longer ago is due for rotation")
    token_unused_days: Days = Field(90, description="an API token unused for this many days is raised as stale")
    max_users_without_mfa: Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)] = Field(
        0, description="more users who can sign in without any MFA factor fail the check"
    )
    password_min_length: Annotated[int, Strict(), Field(ge=1, le=256)] = Field(
        12, description="a password policy allowing shorter passwords fails"
    )
    password_min_classes: Annotated[int, Strict(), Field(ge=0, le=4)] = Field(
        3, description="character classes (lower, upper, digit, symbol) a password policy must require"
    )
    max_session_hours: Annotated[int, Strict(), Field(ge=1, le=8760)] = Field(
        12, description="a sign-on policy letting a session live longer (or without limit) fails"
    )
    created_admin_window_hours: Annotated[int, Strict(), Field(ge=1, le=8760)] = Field(
        24, description="a user made admin within this many hours of being created is raised"
    )
    evidence_limit: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(
        20, description="the most records one finding names (the rest are counted)"
    )


class TenantConfig(_Strict):
    """One Okta org: where it is, the credentials to read and to act, and how it is watched."""

    name: str = Field(
        description="lower-case letters, digits, - and _, at most 63: it keys Kafka records, metrics and the admin API"
    )
    org_url: Annotated[str, AfterValidator(_org_url)] = Field(
        description="the org's https origin, e.g. https://acme.okta.com (http only on loopback, for the simulator)"
    )
    read: Credentials = Field(
        description="the credential that polls the System Log (okta.logs.read) and syncs the inventory (read scopes)"
    )
    enforce: Credentials | None = Field(
        None, description="a separate credential that may act (okta.users.manage); unset: alert only"
    )
    poll: PollSettings = Field(default_factory=PollSettings, description="how the System Log is polled")
    inventory: InventorySettings = Field(
        default_factory=InventorySettings, description="the directory inventory: full syncs and event updates"
    )
    response: ResponseSettings = Field(default_factory=ResponseSettings, description="what may be enforced")
    context: ContextSettings = Field(
        default_factory=ContextSettings, description="the organisation, stated once for every detection"
    )
    detections: CheckedDetectionSettings = Field(
        default_factory=DetectionSettings, description="per-detection thresholds and allowlists"
    )
    channels: Channels = Field(
        default_factory=list, description="where incidents go: Slack, Teams, PagerDuty, signed webhooks"
    )
    posture: PostureSettings = Field(
        default_factory=PostureSettings, description="posture checks and inventory-change findings: thresholds"
    )

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


class KafkaSettings(_Strict):
    """Kafka mode. Partitions cap how many detection workers share the load; replication 3 in production."""

    bootstrap: str = Field(pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$", description="the brokers: host:port[,host:port...]")
    partitions: Annotated[int, Strict(), Field(ge=1, le=1024)] = Field(
        6, description="partitions of the topics the roles create: the most detection workers that share the load"
    )
    replication: Annotated[int, Strict(), Field(ge=1, le=7)] = Field(
        1, description="replication factor of the topics the roles create (3 in production)"
    )
    app_id: str = Field(
        "okta-itdr", pattern=r"^[a-z0-9][a-z0-9._-]*$", description="the Faust app id, prefix of the consumer groups"
    )
    topic_prefix: str = Field(
        "", pattern=r"^([a-z0-9][a-z0-9._-]*[._-])?$", description='put before every topic name, e.g. "prod."'
    )
    store: str = Field(
        "memory://",
        pattern=r"^(memory|rocksdb)://$",
        description="where workers keep detection state: memory, or rocksdb on disk (needs rocksdict)",
    )
    web_port: Port = Field(6066, description="Faust's web server port, on 127.0.0.1 only (`--web-port` overrides it)")
    events_retention_hours: Annotated[int, Strict(), Field(ge=1, le=100 * 365 * 24)] = Field(
        7 * 24, description="retention of okta.events and the re-keyed events topic"
    )
    audit_retention_days: Annotated[int, Strict(), Field(ge=1, le=100 * 365)] = Field(
        400, description="retention of itdr.findings, itdr.actions (the audit trail) and itdr.deadletter"
    )


def _public_url(value: str) -> str:
    """Where people reach this server (a reverse proxy, usually): approval and undo links start with it."""
    if "@" in value or not value.isascii() or _CONTROL.search(value) or " " in value or "\\" in value:
        raise ValueError("must be a plain URL: no user name, spaces, backslashes, control or non-ASCII characters")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        raise ValueError("must be an https:// URL (plain http only on loopback)")
    if not host or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must be a base URL with a host and no query or fragment, e.g. https://itdr.acme.com")
    return value.rstrip("/")


class HttpSettings(_Strict):
    """The process's one HTTP server (detector.ops.http): ``/metrics``, ``/healthz``, ``/readyz`` and, when
    ``token`` is set, the admin API under ``/api/v1`` (bearer token; tenant status, findings, sync).

    Off unless this section (or ``--metrics-port``) is given: several roles share a host, and a fixed default
    port would make the second one fail to start. Loopback unless ``bind`` says otherwise: ``0.0.0.0`` (or
    ``::``) is for containers, where Prometheus scrapes from another network namespace. Written ``http:``;
    ``metrics:`` is the same section under its earlier name."""

    bind: str = Field("127.0.0.1", description="the IP address to listen on (0.0.0.0 or :: in a container)")
    port: Port = Field(9108, description="the port (`--metrics-port` overrides it; one per process on a host)")
    token: SecretRef | None = Field(
        None, description="the admin API's bearer token; unset: the API answers 401 to everyone"
    )
    public_url: Annotated[str, AfterValidator(_public_url)] | None = Field(
        None, description="where people reach this server: the base of approval and undo links; unset: no links"
    )

    @field_validator("token", mode="before")
    @classmethod
    def _no_inline(cls, value: Any) -> Any:
        return _reject_inline(value)

    @field_validator("bind")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"not an IP address: {value!r} (127.0.0.1 by default; 0.0.0.0 in a container)") from None


class ApprovalSettings(_Strict):
    """The deployment's approval channels: the key that signs one-time links and Slack's signing secret."""

    link_key: Annotated[SecretRef, BeforeValidator(_reject_inline)] | None = Field(
        None, description="the key signing approval and undo links; unset: made once in `<data_dir>/link.key`"
    )
    slack_signing_secret: Annotated[SecretRef, BeforeValidator(_reject_inline)] | None = Field(
        None, description="the Slack app's signing secret: enables Slack's buttons; unset: no Slack route"
    )


class Config(_Strict):
    """The whole daemon: where its data lives, how its stages are joined, its HTTP server, its tenants."""

    data_dir: SafePath = Field(
        Path("var"), description="the daemon's data: SQLite bus and ledger, findings, redaction key (made 0700)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="the least severe log line written (JSON lines on stderr)"
    )
    findings_jsonl: SafePath | None = Field(
        None, description="embedded mode: the file findings are appended to; unset: `<data_dir>/findings.jsonl`"
    )
    kafka: KafkaSettings | None = Field(
        None, description="Kafka mode (or `--kafka`); unset: embedded mode (one process, SQLite)"
    )
    http: HttpSettings | None = Field(
        None,
        validation_alias=AliasChoices("http", "metrics"),
        description="the ops HTTP server (also written `metrics:`); unset: none unless `--metrics-port` is given",
    )
    redaction_key: Annotated[SecretRef, BeforeValidator(_reject_inline)] | None = Field(
        None, description="the key of password redaction markers; unset: made once in `<data_dir>/redaction.key`"
    )
    approvals: ApprovalSettings = Field(
        default_factory=ApprovalSettings, description="how approval links are signed and Slack's buttons verified"
    )
    tenants: list[TenantConfig] = Field(min_length=1, description="the Okta orgs to watch (unique names)")

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
    """Only a regular file of at most MAX_CONFIG_BYTES, UTF-8 (a BOM is fine), YAML within bounded_yaml's limits."""
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES)
    except FileRefused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        if b"\x00" in raw:
            raise UnicodeError
        text = raw.decode("utf-8-sig")
    except UnicodeError:
        raise ConfigError(f"{path}: not UTF-8 text (UTF-16? save it as UTF-8)") from None
    try:
        data = load_yaml(text)
    except YamlRefused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(data)


_SECRET_BEARING = frozenset({"read", "enforce", "channels"})  # blocks where an unknown key may be a secret


def format_errors(exc: ValidationError) -> str:
    """One line per problem: the field path as written in YAML, then the reason; never the input."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc, message = error["loc"], error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and _SECRET_BEARING & set(loc):
            loc, message = loc[:-1], "unknown key (not shown: it may be a misplaced secret)"
        elif error["type"] == "union_tag_invalid":  # pydantic's message quotes the tag given
            ctx = error.get("ctx", {})
            message = f"{ctx.get('discriminator')} must be one of {ctx.get('expected_tags')}"
        elif error["type"] == "union_tag_not_found":  # pydantic: "Unable to extract tag using discriminator"
            kinds = sorted(_CHANNEL_KINDS) if "channels" in loc else ["ssws", "oauth"]
            message = f"{error.get('ctx', {}).get('discriminator')} is missing: one of {', '.join(map(repr, kinds))}"
        lines.append(f"{_yaml_path(loc)}: {message}")
    return "invalid config:\n  " + "\n  ".join(lines)


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif (part in ("ssws", "oauth") or part in _CHANNEL_KINDS) and path:  # discriminated-union tag, not a key
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def secret_values(config: Config) -> list[str]:
    """Every secret the config refers to, resolved, for the log redactor (fails like startup would)."""
    values = [config.redaction_key.resolve().get_secret_value()] if config.redaction_key else []
    for name in ("link_key", "slack_signing_secret"):
        ref = getattr(config.approvals, name)
        if ref is not None:
            try:
                values.append(ref.resolve().get_secret_value())
            except ConfigError as exc:
                raise ConfigError(f"approvals.{name}: {exc}") from None
    if config.http is not None and config.http.token is not None:
        try:
            values.append(config.http.token.resolve().get_secret_value())
        except ConfigError as exc:
            raise ConfigError(f"http.token: {exc}") from None
    for i, tenant in enumerate(config.tenants):
        for role, creds in (("read", tenant.read), ("enforce", tenant.enforce)):
            if creds is None:
                continue
            ssws = isinstance(creds, SswsCredentials)
            field, ref = ("token", creds.token) if ssws else ("private_key", creds.private_key)
            try:
                values.append(ref.resolve().get_secret_value())
            except ConfigError as exc:
                raise ConfigError(f"tenants[{i}].{role}.{field}: {exc}") from None
        for j, channel in enumerate(tenant.channels):
            for field, ref in channel.secrets().items():
                try:
                    values.append(ref.resolve().get_secret_value())
                except ConfigError as exc:
                    raise ConfigError(f"tenants[{i}].channels[{j}].{field}: {exc}") from None
    return values
