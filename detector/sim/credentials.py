"""Credentials the org knows (SSWS tokens, service apps, issued access tokens) and their checks.

Pure verification logic: client-assertion JWTs (private_key_jwt) and DPoP proofs (RFC 9449) are
checked with PyJWT against the org clock, so tests with a fake clock stay consistent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jwt

from detector.sim.timefmt import iso_ms

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"]
TOKEN_LIFETIME = 3600
PROOF_MAX_AGE = 300.0  # DPoP proofs older/newer than this (seconds) are rejected


class CredentialError(ValueError):
    """A client assertion, DPoP proof or token failed verification; the message says why."""


class DPoPNonceRequired(CredentialError):
    """The proof is sound but lacks the server's current nonce (`use_dpop_nonce`)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the System Log records it, and what Okta lets it do.

    Okta checks a call twice: an OAuth token must carry one of the endpoint's scopes, and the admin
    behind the call must hold a role permitting it. An SSWS token has every scope and its owner's
    roles; a service app has its token's scopes (its own admin roles are not modelled)."""

    credential_id: str  # "00T..." token id for SSWS, the client_id for OAuth
    actor: dict[str, Any]
    scopes: frozenset[str] | None  # None = all scopes (SSWS)
    client_id: str | None = None
    token_id: str | None = None
    permissions: frozenset[str] | None = None  # from the owner's admin roles; None = every permission
    user_id: str | None = None  # the admin user an SSWS token acts as

    def has_scope(self, needed: tuple[str, ...]) -> bool:
        return self.scopes is None or any(s in self.scopes for s in needed)

    def may(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions


@dataclass
class ApiToken:
    """An SSWS token: the secret and the metadata `GET /api/v1/api-tokens` shows.

    Okta expires a token `token_window` after its last use (`expiresAt` = last use + window); a token
    planted with `token_window=None` shows no expiry."""

    id: str
    name: str
    value: str
    admin: dict[str, Any]  # the admin user the token acts as (System Log actor)
    created: float = 0.0
    last_used: float = 0.0  # Okta's `lastUpdated`: the token's last use
    token_window_days: int | None = 30
    network: str = "ANYWHERE"  # ANYWHERE | ZONE
    include_zones: tuple[str, ...] = ()
    exclude_zones: tuple[str, ...] = ()
    client_name: str = "Okta API"

    def json(self, base: str) -> dict[str, Any]:
        """The `ApiToken` object (never the secret)."""
        network: dict[str, Any] = {"connection": self.network}
        if self.network == "ZONE":
            network |= {"include": list(self.include_zones), "exclude": list(self.exclude_zones)}
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "userId": self.admin["id"],
            "clientName": self.client_name,
            "created": iso_ms(self.created),
            "lastUpdated": iso_ms(self.last_used),
            "network": network,
            "_link": {"self": {"href": f"{base}/api/v1/api-tokens/{self.id}"}},
        }
        if self.token_window_days is not None:
            body["tokenWindow"] = f"P{self.token_window_days}D"
            body["expiresAt"] = iso_ms(self.last_used + self.token_window_days * 86400)
        return body


@dataclass
class ServiceApp:
    client_id: str
    jwks: dict[str, Any]
    scopes: frozenset[str]
    require_dpop: bool
    name: str

    def actor(self) -> dict[str, Any]:
        return {
            "id": self.client_id,
            "type": "PublicClientApp",
            "alternateId": self.client_id,
            "displayName": self.name,
            "detailEntry": None,
        }


@dataclass
class AccessToken:
    value: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jkt: str | None  # DPoP key thumbprint the token is bound to


@dataclass
class ReplayCache:
    """Single-use `jti` values, remembered until they could no longer be valid anyway."""

    seen: dict[str, float] = field(default_factory=dict)

    def use(self, key: str, expires_at: float, now: float) -> bool:
        for k in [k for k, exp in self.seen.items() if exp < now]:
            del self.seen[k]
        if key in self.seen:
            return False
        self.seen[key] = expires_at
        return True


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    kty = jwk.get("kty")
    if kty not in members:
        raise CredentialError(f"unsupported jwk kty {kty!r}")
    try:
        canon = {k: jwk[k] for k in members[kty]}
    except KeyError as exc:
        raise CredentialError(f"jwk lacks {exc.args[0]}") from exc
    return b64url(hashlib.sha256(json.dumps(canon, separators=(",", ":"), sort_keys=True).encode()).digest())


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise CredentialError(f"malformed JWT: {exc}") from exc


def verify_client_assertion(
    assertion: str, app: ServiceApp, token_url: str, now: float, replay: ReplayCache
) -> dict[str, Any]:
    """Check a private_key_jwt assertion: signature by a registered key, iss=sub=client_id,
    aud=token URL, exp no more than 1 h ahead, jti single-use. Returns the claims."""
    header = _unverified_header(assertion)
    if header.get("alg") not in ASYMMETRIC_ALGS:
        raise CredentialError("The client_assertion signature algorithm is not supported.")
    keys = app.jwks.get("keys", [])
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    if not candidates:
        raise CredentialError("The client_assertion token has a kid which is not registered.")
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(key).key,
                algorithms=ASYMMETRIC_ALGS,
                audience=token_url,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iss", "sub", "aud"],
                },
            )
            break
        except jwt.InvalidAudienceError as exc:
            raise CredentialError(
                "The audience claim for client_assertion must be the endpoint invoked for the request."
            ) from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # TypeError: key type does not fit the alg
            last = exc
    if claims is None:
        raise CredentialError(f"The client_assertion signature is invalid. ({last})")
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise CredentialError("The client_assertion iss and sub claims must be the client_id.")
    exp = float(claims["exp"])
    if exp <= now:
        raise CredentialError("The client_assertion token is expired.")
    if exp > now + TOKEN_LIFETIME + 60:
        raise CredentialError("The client_assertion token has an expiration too far in the future.")
    if "nbf" in claims and float(claims["nbf"]) > now + 60:
        raise CredentialError("The client_assertion token is not yet valid.")
    jti = claims.get("jti")
    if jti is not None and not replay.use(f"{app.client_id}:{jti}", exp, now):
        raise CredentialError("The client_assertion token has already been used (jti).")
    return claims


@dataclass(frozen=True)
class DPoPProof:
    claims: dict[str, Any]
    jkt: str


def verify_dpop_proof(
    proof: str,
    method: str,
    url: str,
    now: float,
    replay: ReplayCache,
    access_token: str | None = None,
    nonce: str | None = None,
) -> DPoPProof:
    """Check a DPoP proof JWT (typ, embedded public jwk, signature, htm/htu, iat window, jti, ath)."""
    header = _unverified_header(proof)
    if header.get("typ") != "dpop+jwt":
        raise CredentialError("DPoP proof typ must be dpop+jwt")
    if header.get("alg") not in ASYMMETRIC_ALGS:
        raise CredentialError("DPoP proof alg must be asymmetric")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk:
        raise CredentialError("DPoP proof must carry a public jwk")
    try:
        claims = jwt.decode(
            proof,
            jwt.PyJWK(jwk).key,
            algorithms=[header["alg"]],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "require": ["htm", "htu", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise CredentialError(f"DPoP proof signature invalid: {exc}") from exc
    if str(claims["htm"]).upper() != method.upper():
        raise CredentialError("DPoP proof htm does not match the request method")
    if str(claims["htu"]).split("?")[0].split("#")[0].rstrip("/") != url.rstrip("/"):
        raise CredentialError("DPoP proof htu does not match the request URL")
    iat = float(claims["iat"])
    if abs(now - iat) > PROOF_MAX_AGE:
        raise CredentialError("DPoP proof iat is outside the acceptable window")
    if access_token is not None:
        expected = b64url(hashlib.sha256(access_token.encode()).digest())
        if claims.get("ath") != expected:
            raise CredentialError("DPoP proof ath does not match the access token")
    if nonce is not None and claims.get("nonce") != nonce:
        raise DPoPNonceRequired("Authorization server requires nonce in DPoP proof.")
    jti = claims.get("jti")
    if access_token is not None or jti is not None:
        if not jti:
            raise CredentialError("DPoP proof jti is required")
        if not replay.use(f"dpop:{jti}", iat + PROOF_MAX_AGE, now):
            raise CredentialError("DPoP proof jti has already been used")
    return DPoPProof(claims, jwk_thumbprint(jwk))
