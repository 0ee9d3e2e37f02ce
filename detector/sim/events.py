"""Builders of System Log LogEvents in the exact wire shape Okta emits.

Pure functions: each takes an explicit `random.Random` (for uuid / request ids, so a seed replays
the same log), the `published` time, and a `Ctx` (who made the request, from where, in which session).
Shapes follow the real events in `tests/data/okta-samples/`: every top-level key present, `null` where
Okta puts null, camelCase keys, and every `debugContext.debugData` value a *string* (booleans and
maps included: `behaviors` is the Java-map string `"{New Geo-Location=NEGATIVE, ...}"`).

Engines differ (docs/okta-quirks.md#push-events): Identity Engine (`oie`) logs the password as a factor
(`user.authentication.auth_via_mfa` factor PASSWORD_AS_FACTOR) and a denied push as `auth_via_mfa`
FAILURE; Classic (`classic`) logs `user.mfa.okta_verify.deny_push` and `/api/v1/authn` request URIs.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

Engine = Literal["oie", "classic"]
ENGINES: tuple[Engine, ...] = ("oie", "classic")

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"

# Okta's default behavior names, in the order real events print them.
BEHAVIOR_NAMES: tuple[str, ...] = (
    "New Geo-Location",
    "New Device",
    "New IP",
    "New State",
    "New Country",
    "Velocity",
    "New City",
)


# --------------------------------------------------------------------------- context types


@dataclass(frozen=True)
class Place:
    """`client.geographicalContext`: Okta's own geo enrichment of the client IP."""

    city: str
    state: str | None
    country: str
    postal_code: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class NetOwner:
    """`securityContext`: ASN / ISP of the client IP."""

    asn: int
    as_org: str
    isp: str
    domain: str
    is_proxy: bool = False


@dataclass(frozen=True)
class Agent:
    """`client.userAgent` plus `client.device` (Computer / Mobile)."""

    raw: str
    os: str
    browser: str
    device: str = "Computer"


@dataclass(frozen=True)
class Origin:
    """Where a request came from: IP, geo, network, user agent and the browser's device cookies."""

    ip: str
    place: Place | None
    net: NetOwner | None
    agent: Agent
    fingerprint: str | None = None
    dt_hash: str | None = None
    zone: str = "null"
    threat_suspected: bool = False


@dataclass(frozen=True)
class Actor:
    """`actor` (and the User target) of an end-user event."""

    id: str
    login: str
    display_name: str


@dataclass(frozen=True)
class Ctx:
    """One request as Okta sees it: who, from where, which session and transaction, what risk."""

    actor: Actor
    origin: Origin
    engine: Engine = "oie"
    session_id: str | None = None
    transaction_id: str = ""
    authn_request_id: str | None = None
    positive: frozenset[str] = field(default_factory=frozenset)  # behaviors detected (POSITIVE)
    risk: str = "LOW"
    risk_reasons: tuple[str, ...] = ()

    def next_request(self, rng: random.Random) -> Ctx:
        """The same client making its next HTTP request (new transaction id)."""
        return replace(self, transaction_id=request_id(rng))


@dataclass(frozen=True)
class AppRef:
    """An app instance as an SSO target."""

    id: str
    name: str  # Okta app name, e.g. "salesforce"
    label: str
    sign_on_mode: str = "SAML_2_0"


@dataclass(frozen=True)
class PushDevice:
    """An Okta Verify enrollment on one device: a push prompt is fanned out to each of these."""

    device_id: str  # guo...
    enrollment_id: str  # opf...
    name: str
    platform: str  # IOS / ANDROID
    agent: Agent


# --------------------------------------------------------------------------- ids and formats


def chars(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def okta_id(rng: random.Random, prefix: str) -> str:
    """A 20-char Okta object id with a 3-char type prefix (`00u` user, `0oa` app, `opf` push factor)."""
    return prefix + chars(rng, 20 - len(prefix))


def request_id(rng: random.Random) -> str:
    """A `transaction.id` / `requestId` like `XkccyyMli2Uay2I93ZgRzQAAB0c`."""
    return chars(rng, 23) + "AAA" + chars(rng, 1, string.ascii_uppercase)


def session_id(rng: random.Random, engine: Engine = "oie") -> str:
    """`externalSessionId`: `idx…` for Identity Engine, `102…` for Classic."""
    return ("idx" if engine == "oie" else "102") + chars(rng, 22)


def event_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex_token(rng: random.Random, n: int) -> str:
    """`deviceFingerprint` (32 hex) / `dtHash` (64 hex)."""
    return chars(rng, n, _HEX)


def iso_ms(when: datetime) -> str:
    """`published` as Okta writes it: `2024-08-13T15:58:20.353Z`."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def behaviors_string(positive: Iterable[str] = ()) -> str:
    """`debugData.behaviors` as Okta's Java-map string; names in `positive` are POSITIVE."""
    pos = set(positive)
    return "{" + ", ".join(f"{n}={'POSITIVE' if n in pos else 'NEGATIVE'}" for n in BEHAVIOR_NAMES) + "}"


def risk_string(level: str, reasons: Iterable[str] = ()) -> str:
    """`debugData.risk`: `{level=LOW}` or `{reasons=Anomalous Device, Anomalous Location, level=HIGH}`."""
    reasons = list(reasons)
    return "{" + (f"reasons={', '.join(reasons)}, " if reasons else "") + f"level={level}" + "}"


# --------------------------------------------------------------------------- the envelope


def _geo(place: Place | None) -> dict[str, Any]:
    if place is None:
        return {"city": None, "country": None, "geolocation": None, "postalCode": None, "state": None}
    return {
        "city": place.city,
        "country": place.country,
        "geolocation": {"lat": place.lat, "lon": place.lon},
        "postalCode": place.postal_code,
        "state": place.state,
    }


def _security(net: NetOwner | None) -> dict[str, Any]:
    if net is None:
        return {"asNumber": None, "asOrg": None, "domain": None, "isProxy": None, "isp": None}
    return {
        "asNumber": net.asn,
        "asOrg": net.as_org,
        "domain": net.domain,
        "isProxy": net.is_proxy,
        "isp": net.isp,
    }


def user_target(actor: Actor) -> dict[str, Any]:
    return {
        "alternateId": actor.login,
        "detailEntry": None,
        "displayName": actor.display_name,
        "id": actor.id,
        "type": "User",
    }


def log_event(
    rng: random.Random,
    when: datetime,
    ctx: Ctx,
    *,
    event_type: str,
    display_message: str,
    result: str = "SUCCESS",
    reason: str | None = None,
    legacy_event_type: str | None = None,
    severity: str = "INFO",
    target: list[dict[str, Any]] | None = None,
    debug: Mapping[str, str] | None = None,
    with_risk: bool = False,
    auth_provider: str | None = None,
    credential_provider: str | None = None,
    credential_type: str | None = None,
    session: bool = True,
) -> dict[str, Any]:
    """The common LogEvent envelope; specific builders below fill type, outcome, target, debugData.

    `with_risk` adds Okta's `behaviors` / `risk` evaluation (logged on sign-in, policy and push events).
    `session=False` logs `externalSessionId` as null (failed primary authentication).
    """
    o = ctx.origin
    geo = _geo(o.place)
    data: dict[str, str] = {"requestId": ctx.transaction_id}
    if ctx.authn_request_id:
        data["authnRequestId"] = ctx.authn_request_id
    if o.fingerprint:
        data["deviceFingerprint"] = o.fingerprint
    if o.dt_hash:
        data["dtHash"] = o.dt_hash
    if with_risk:
        data["behaviors"] = behaviors_string(ctx.positive)
        data["risk"] = risk_string(ctx.risk, ctx.risk_reasons)
    data["threatSuspected"] = "true" if o.threat_suspected else "false"
    if debug:
        data.update(debug)
    if "requestUri" in data and "url" not in data:
        data["url"] = data["requestUri"] + "?"
    return {
        "actor": {
            "alternateId": ctx.actor.login,
            "detailEntry": None,
            "displayName": ctx.actor.display_name,
            "id": ctx.actor.id,
            "type": "User",
        },
        "authenticationContext": {
            "authenticationProvider": auth_provider,
            "authenticationStep": 0,
            "credentialProvider": credential_provider,
            "credentialType": credential_type,
            "externalSessionId": ctx.session_id if session else None,
            "interface": None,
            "issuer": None,
        },
        "client": {
            "device": o.agent.device,
            "geographicalContext": geo,
            "id": None,
            "ipAddress": o.ip,
            "userAgent": {"browser": o.agent.browser, "os": o.agent.os, "rawUserAgent": o.agent.raw},
            "zone": o.zone,
        },
        "debugContext": {"debugData": data},
        "device": None,
        "displayMessage": display_message,
        "eventType": event_type,
        "legacyEventType": legacy_event_type,
        "outcome": {"reason": reason, "result": result},
        "published": iso_ms(when),
        "request": {
            "ipChain": [{"geographicalContext": geo, "ip": o.ip, "source": None, "version": "V4"}],
        },
        "securityContext": _security(o.net),
        "severity": severity,
        "target": target,
        "transaction": {"detail": {}, "id": ctx.transaction_id, "type": "WEB"},
        "uuid": event_uuid(rng),
        "version": "0",
    }


def _uri(ctx: Ctx, oie: str, classic: str) -> dict[str, str]:
    return {"requestUri": oie if ctx.engine == "oie" else classic}


# --------------------------------------------------------------------------- sign-in


def password_verify(rng: random.Random, when: datetime, ctx: Ctx, *, success: bool = True) -> dict[str, Any]:
    """OIE password step: `auth_via_mfa` with factor PASSWORD_AS_FACTOR (Identity Engine only)."""
    return log_event(
        rng,
        when,
        ctx,
        event_type="user.authentication.auth_via_mfa",
        display_message="Authentication of user via MFA",
        result="SUCCESS" if success else "FAILURE",
        reason=None if success else "INVALID_CREDENTIALS",
        legacy_event_type="core.user.factor.attempt_success" if success else "core.user.factor.attempt_fail",
        severity="INFO" if success else "WARN",
        target=[
            user_target(ctx.actor),
            {
                "alternateId": "unknown",
                "detailEntry": {"methodTypeUsed": "Password", "methodUsedVerifiedProperties": "[KNOWLEDGE]"},
                "displayName": "Password",
                "id": "lae" + ctx.actor.id[3:],
                "type": "AuthenticatorEnrollment",
            },
        ],
        debug={"factor": "PASSWORD_AS_FACTOR", "factorIntent": "LOGIN", "requestUri": "/idp/idx/challenge/answer"},
        with_risk=True,
        auth_provider="FACTOR_PROVIDER",
        credential_provider="OKTA_CREDENTIAL_PROVIDER",
        credential_type="PASSWORD",
    )


def policy_evaluation(rng: random.Random, when: datetime, ctx: Ctx, *, result: str = "CHALLENGE") -> dict[str, Any]:
    """`policy.evaluate_sign_on` of the global session policy (ALLOW / CHALLENGE / DENY)."""
    return log_event(
        rng,
        when,
        ctx,
        event_type="policy.evaluate_sign_on",
        display_message="Evaluation of sign-on policy",
        result=result,
        reason=f"Sign-on policy evaluation resulted in {result}",
        target=[
            {
                "alternateId": "unknown",
                "detailEntry": {"policyType": "OktaSignOn"},
                "displayName": "Default Policy",
                "id": "00p1abvweGGDW10Ur4x6",
                "type": "PolicyEntity",
            },
            {
                "alternateId": "00p1abvweGGDW10Ur4x6",
                "detailEntry": None,
                "displayName": "Default Rule",
                "id": "0pr1abvwfqGFI4n064x6",
                "type": "PolicyRule",
            },
        ],
        debug=_uri(ctx, "/idp/idx/identify", "/api/v1/authn"),
        with_risk=True,
    )


def session_start(
    rng: random.Random, when: datetime, ctx: Ctx, *, success: bool = True, reason: str | None = None
) -> dict[str, Any]:
    """`user.session.start`: Okta issues a session; also the failed sign-in (reason INVALID_CREDENTIALS)."""
    reason = None if success else reason or "INVALID_CREDENTIALS"
    return log_event(
        rng,
        when,
        ctx,
        event_type="user.session.start",
        display_message="User login to Okta",
        result="SUCCESS" if success else "FAILURE",
        reason=reason,
        legacy_event_type="core.user_auth.login_success" if success else "core.user_auth.login_failed",
        severity="INFO" if success else "WARN",
        target=None,
        debug=_uri(ctx, "/idp/idx/challenge/answer", "/api/v1/authn"),
        with_risk=True,
        credential_type=None if ctx.engine == "oie" else "PASSWORD",
        session=success,
    )


def session_end(rng: random.Random, when: datetime, ctx: Ctx) -> dict[str, Any]:
    """`user.session.end`: the user signs out."""
    return log_event(
        rng,
        when,
        ctx,
        event_type="user.session.end",
        display_message="User logout from Okta",
        legacy_event_type="core.user_auth.logout_success",
        target=None,
        debug={"requestUri": "/login/signout", "url": "/login/signout?"},
    )


def sso(rng: random.Random, when: datetime, ctx: Ctx, app: AppRef) -> dict[str, Any]:
    """`user.authentication.sso` to one app (target AppInstance + AppUser)."""
    kind = "saml" if app.sign_on_mode.startswith("SAML") else "oauth2"
    return log_event(
        rng,
        when,
        ctx,
        event_type="user.authentication.sso",
        display_message="User single sign on to app",
        legacy_event_type="app.auth.sso",
        target=[
            {
                "alternateId": app.label,
                "detailEntry": {"signOnModeType": app.sign_on_mode},
                "displayName": app.label,
                "id": app.id,
                "type": "AppInstance",
            },
            {
                "alternateId": ctx.actor.login,
                "detailEntry": None,
                "displayName": ctx.actor.display_name,
                "id": "0ua" + ctx.actor.id[3:],
                "type": "AppUser",
            },
        ],
        debug={"requestUri": f"/app/{app.name}/{app.id}/sso/{kind}"},
    )


# --------------------------------------------------------------------------- Okta Verify push


def _enrollment_target(device: PushDevice) -> dict[str, Any]:
    return {
        "alternateId": "unknown",
        "detailEntry": {"methodTypeUsed": "Get a push notification", "deviceName": device.name},
        "displayName": "Okta Verify",
        "id": device.enrollment_id,
        "type": "AuthenticatorEnrollment",
    }


def push_sent(rng: random.Random, when: datetime, ctx: Ctx, devices: Iterable[PushDevice]) -> list[dict[str, Any]]:
    """`system.push.send_factor_verify_push`: ONE event per enrolled device for the same prompt.

    `ctx` is the requester (the browser that asked for the push), so its IP / behaviors are the
    requester's — the attacker's in a push-bombing.
    """
    uri = _uri(ctx, "/idp/idx/challenge", "/api/v1/authn/factors/push/verify")
    return [
        log_event(
            rng,
            when,
            ctx,
            event_type="system.push.send_factor_verify_push",
            display_message="Push notification sent for verification",
            legacy_event_type=None,
            target=[user_target(ctx.actor), _enrollment_target(d)],
            debug={**uri, "factor": "OKTA_VERIFY_PUSH"},
            with_risk=True,
        )
        for d in devices
    ]


def push_response(
    rng: random.Random,
    when: datetime,
    ctx: Ctx,
    device: PushDevice,
    *,
    approve: bool,
) -> list[dict[str, Any]]:
    """The user's answer on `device` (accept or deny), logged in the engine's vocabulary.

    OIE: `user.authentication.auth_via_mfa` SUCCESS/FAILURE(INVALID_CREDENTIALS) with factor
    OKTA_VERIFY_PUSH and `pushOnlyResponseType`. Classic: `user.mfa.okta_verify` (+ the second-factor
    `auth_via_mfa` SUCCESS) or `user.mfa.okta_verify.deny_push`.
    `ctx.origin` should be the phone (responder), `ctx.session_id` the requester's session.
    """
    target = [user_target(ctx.actor), _enrollment_target(device)]
    tx = okta_id(rng, "v2m")
    if ctx.engine == "oie":
        uri = f"/idp/authenticators/{device.enrollment_id}/transactions/{tx}/verify"
        return [
            log_event(
                rng,
                when,
                ctx,
                event_type="user.authentication.auth_via_mfa",
                display_message="Authentication of user via MFA",
                result="SUCCESS" if approve else "FAILURE",
                reason=None if approve else "INVALID_CREDENTIALS",
                legacy_event_type=("core.user.factor.attempt_success" if approve else "core.user.factor.attempt_fail"),
                severity="INFO" if approve else "WARN",
                target=target,
                debug={
                    "factor": "OKTA_VERIFY_PUSH",
                    "factorIntent": "LOGIN",
                    "pushOnlyResponseType": "OV_RESPONSE_APPROVE" if approve else "OV_RESPONSE_DENY",
                    "pushWithNumberChallengeResponseType": "OV_WITH_CHALLENGE_RESPONSE_NOT_APPLICABLE",
                    "requestUri": uri,
                },
                with_risk=True,
                auth_provider="FACTOR_PROVIDER",
                credential_provider="OKTA_CREDENTIAL_PROVIDER",
            )
        ]
    uri = f"/api/v1/authn/factors/{device.enrollment_id}/transactions/{tx}/verify"
    if not approve:
        return [
            log_event(
                rng,
                when,
                ctx,
                event_type="user.mfa.okta_verify.deny_push",
                display_message="User rejected Okta push verify",
                result="FAILURE",
                reason="User rejected Okta push verify",
                legacy_event_type="core.user.factor.attempt_fail",
                severity="WARN",
                target=target,
                debug={"factor": "OKTA_VERIFY_PUSH", "requestUri": uri},
            )
        ]
    verified = log_event(
        rng,
        when,
        ctx,
        event_type="user.mfa.okta_verify",
        display_message="Verify user with Okta Verify",
        legacy_event_type="core.user.factor.attempt_success",
        target=target,
        debug={"factor": "OKTA_VERIFY_PUSH", "requestUri": uri},
    )
    second = log_event(
        rng,
        when,
        ctx,
        event_type="user.authentication.auth_via_mfa",
        display_message="Authentication of user via MFA",
        legacy_event_type="core.user.factor.attempt_success",
        target=target,
        debug={"factor": "OKTA_VERIFY_PUSH", "requestUri": uri},
        with_risk=True,
        auth_provider="FACTOR_PROVIDER",
        credential_provider="OKTA_CREDENTIAL_PROVIDER",
    )
    return [verified, second]
