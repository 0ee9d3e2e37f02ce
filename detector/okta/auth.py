"""Credentials for Okta: SSWS API tokens and OAuth 2.0 private_key_jwt service apps (+ DPoP).

An ``Auth`` turns (method, url) into request headers. OAuth tokens are fetched lazily over the
client's own session, cached until shortly before expiry and refreshed by one task at a time.
Secrets never leave these objects except inside the ``Authorization``/``DPoP`` headers; every
``repr`` redacts them and every error is built without them.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import jwt
import orjson
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from yarl import URL

from detector.okta.budget import reset_wait
from detector.okta.errors import (
    OktaBadResponse,
    OktaRateLimited,
    OktaServerError,
    OktaTokenError,
    OktaTransportError,
)

log = structlog.get_logger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_DPOP_ERRORS = frozenset({"use_dpop_nonce", "invalid_dpop_proof"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def htu_of(url: str) -> str:
    """The DPoP ``htu`` claim: the request URL without query and fragment (RFC 9449 §4.2)."""
    return str(URL(url).with_query(None).with_fragment(None))


class Auth:
    """Base class: how a request is authorised. Subclasses must not leak secrets in ``repr``."""

    #: True when a 401 may be cured by fetching a new token (OAuth); SSWS cannot be refreshed.
    refreshable: bool = False

    async def headers(self, session: aiohttp.ClientSession, method: str, url: str) -> dict[str, str]:
        raise NotImplementedError

    async def invalidate(self, used: Mapping[str, str]) -> None:
        """Drop the cached credential that produced ``used`` headers (after a 401)."""

    def accept_dpop_nonce(self, status: int, headers: Mapping[str, str], body: bytes) -> bool:
        """Take a resource server's ``use_dpop_nonce`` challenge; True if a retry may succeed."""
        return False


class SswsAuth(Auth):
    """Static API token: ``Authorization: SSWS <token>``."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("SSWS token is empty")
        self._token = token

    async def headers(self, session: aiohttp.ClientSession, method: str, url: str) -> dict[str, str]:
        return {"Authorization": f"SSWS {self._token}"}

    def __repr__(self) -> str:
        return "SswsAuth(token=<redacted>)"

    __str__ = __repr__


class DpopKey:
    """A dedicated EC P-256 key for DPoP proofs (Okta requires it to differ from the client key)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._jwk: dict[str, Any] = ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self._jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        now: float | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            "htm": method.upper(),
            "htu": htu_of(url),
            "iat": int(now if now is not None else time.time()),
            "jti": uuid.uuid4().hex,
        }
        if nonce:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self._jwk})

    def __repr__(self) -> str:
        return f"DpopKey(kid_thumb={self._jwk.get('x', '')[:8]}…)"


def _load_signing_key(pem: str | bytes) -> tuple[Any, str]:
    """Load the client-auth private key and pick the JWS alg from its type."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # Do not chain: the underlying message could quote key material.
        raise ValueError("private_key_pem is not a valid unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        alg = algs.get(key.curve.name)
        if alg:
            return key, alg
    raise ValueError(f"unsupported private key type for private_key_jwt: {type(key).__name__}")


class PrivateKeyJwtAuth(Auth):
    """OAuth 2.0 client credentials with a private_key_jwt client assertion, optionally DPoP-bound.

    ``dpop``: True = always DPoP; False = never; None = switch to DPoP when the token endpoint
    says the app requires it (``invalid_dpop_proof`` / ``use_dpop_nonce``), as new Okta service
    apps do by default.
    """

    refreshable = True

    def __init__(
        self,
        org_url: str,
        client_id: str,
        private_key_pem: str | bytes,
        key_id: str | None,
        scopes: list[str],
        dpop: bool | None = None,
        *,
        refresh_margin: float = 60.0,
        assertion_lifetime: int = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not scopes:
            raise ValueError("at least one OAuth scope is required")
        if not 0 < assertion_lifetime <= 3600:
            raise ValueError("assertion_lifetime must be within (0, 3600] seconds")
        self.org_url = org_url.rstrip("/")
        self.token_url = f"{self.org_url}/oauth2/v1/token"
        self.client_id = client_id
        self.key_id = key_id
        self.scopes = list(scopes)
        self.dpop = dpop
        self._key, self.alg = _load_signing_key(private_key_pem)
        self._refresh_margin = refresh_margin
        self._assertion_lifetime = assertion_lifetime
        self._clock = clock
        self._dpop_key: DpopKey | None = DpopKey() if dpop else None
        self._token_nonce: str | None = None
        self._api_nonce: str | None = None
        self._forget_token()

    def _forget_token(self) -> None:
        self._lock = asyncio.Lock()
        self._access_token: str | None = None
        self._token_type: str = "Bearer"
        self._expires_at: float = 0.0
        #: The scopes Okta granted with the last token (its response's ``scope``).
        self.granted_scopes: frozenset[str] = frozenset()
        #: Number of successful token fetches (for metrics and tests).
        self.token_fetches = 0

    def with_scopes(self, scopes: list[str]) -> PrivateKeyJwtAuth:
        """The same app and keys asking for other scopes, with a token cache of its own."""
        if not scopes:
            raise ValueError("at least one OAuth scope is required")
        other = copy.copy(self)
        other.scopes = list(scopes)
        other._forget_token()
        return other

    def __repr__(self) -> str:
        return (
            f"PrivateKeyJwtAuth(org_url={self.org_url!r}, client_id={self.client_id!r}, "
            f"key_id={self.key_id!r}, alg={self.alg!r}, scopes={self.scopes!r}, dpop={self.dpop!r}, "
            "private_key=<redacted>, access_token=<redacted>)"
        )

    __str__ = __repr__

    @property
    def dpop_active(self) -> bool:
        return self._dpop_key is not None

    # -- API requests -------------------------------------------------------------------------

    async def headers(self, session: aiohttp.ClientSession, method: str, url: str) -> dict[str, str]:
        token, token_type = await self._current_token(session)
        if token_type.lower() == "dpop":
            assert self._dpop_key is not None
            proof = self._dpop_key.proof(method, url, nonce=self._api_nonce, access_token=token)
            return {"Authorization": f"DPoP {token}", "DPoP": proof}
        return {"Authorization": f"Bearer {token}"}

    async def invalidate(self, used: Mapping[str, str]) -> None:
        async with self._lock:
            current = self._access_token
            if current is not None and used.get("Authorization", "").endswith(" " + current):
                self._access_token = None
                self._expires_at = 0.0

    def accept_dpop_nonce(self, status: int, headers: Mapping[str, str], body: bytes) -> bool:
        if self._dpop_key is None or status not in (400, 401):
            return False
        nonce = headers.get("DPoP-Nonce")
        challenge = headers.get("WWW-Authenticate", "")
        if not nonce or ("use_dpop_nonce" not in challenge and b"use_dpop_nonce" not in body):
            return False
        if nonce == self._api_nonce:
            return False
        self._api_nonce = nonce
        return True

    # -- token endpoint -----------------------------------------------------------------------

    async def fetch_token(self, session: aiohttp.ClientSession) -> frozenset[str]:
        """Ask the token endpoint for a new token now and return the scopes it granted.

        Okta refuses the whole request (``invalid_scope``) when one scope asked for is not granted
        to the app, so asking for one scope at a time tells which ones are."""
        async with self._lock:
            await self._fetch_token(session)
            return self.granted_scopes

    async def _current_token(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        token = self._access_token
        if token is not None and self._clock() < self._expires_at:
            return token, self._token_type
        async with self._lock:
            if self._access_token is None or self._clock() >= self._expires_at:
                await self._fetch_token(session)
            assert self._access_token is not None
            return self._access_token, self._token_type

    def _client_assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + self._assertion_lifetime,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._key, algorithm=self.alg, headers=headers)

    async def _fetch_token(self, session: aiohttp.ClientSession) -> None:
        """Run the client-credentials grant, including the DPoP nonce dance (max 4 round trips)."""
        last: OktaTokenError | None = None
        for _ in range(4):
            form = {
                "grant_type": "client_credentials",
                "scope": " ".join(self.scopes),
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self._client_assertion(),
            }
            req_headers = {"Accept": "application/json"}
            if self._dpop_key is not None:
                req_headers["DPoP"] = self._dpop_key.proof("POST", self.token_url, nonce=self._token_nonce)
            status, resp_headers, body = await self._post_token(session, form, req_headers)
            request_id = resp_headers.get("X-Okta-Request-Id")
            obj = _json_obj(body)
            if 200 <= status < 300:
                self._store_token(obj, status, request_id)
                if nonce := resp_headers.get("DPoP-Nonce"):
                    self._token_nonce = nonce
                return
            err = obj.get("error") if isinstance(obj.get("error"), str) else None
            desc = obj.get("error_description") if isinstance(obj.get("error_description"), str) else None
            if status == 429:
                raise OktaRateLimited(
                    status,
                    "E0000047",
                    "token endpoint rate limited",
                    request_id=request_id,
                    method="POST",
                    path="/oauth2/v1/token",
                    retry_after=_retry_after(resp_headers),
                )
            if status >= 500:
                raise OktaServerError(status, err, desc, request_id=request_id, method="POST", path="/oauth2/v1/token")
            last = OktaTokenError(status, err, desc, request_id=request_id)
            if err in _DPOP_ERRORS and self.dpop is not False:
                nonce = resp_headers.get("DPoP-Nonce")
                if self._dpop_key is None:
                    log.info("okta.dpop.enabled", client_id=self.client_id, reason=err)
                    self._dpop_key = DpopKey()
                    self._token_nonce = nonce
                    continue
                if err == "use_dpop_nonce" and nonce and nonce != self._token_nonce:
                    self._token_nonce = nonce
                    continue
            raise last
        assert last is not None
        raise last

    async def _post_token(
        self, session: aiohttp.ClientSession, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            async with session.post(self.token_url, data=form, headers=headers) as resp:
                return resp.status, resp.headers, await resp.read()
        except TimeoutError:
            raise OktaTransportError("timeout", method="POST", path="/oauth2/v1/token") from None
        except aiohttp.ClientError as exc:
            raise OktaTransportError(type(exc).__name__, method="POST", path="/oauth2/v1/token") from None

    def _store_token(self, obj: Mapping[str, Any], status: int, request_id: str | None) -> None:
        token = obj.get("access_token")
        token_type = obj.get("token_type")
        expires_in = obj.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(token_type, str):
            raise OktaBadResponse(
                status,
                None,
                "token response lacks access_token/token_type",
                request_id=request_id,
                method="POST",
                path="/oauth2/v1/token",
            )
        if token_type.lower() == "dpop" and self._dpop_key is None:
            raise OktaBadResponse(
                status,
                None,
                "DPoP-bound token issued without a DPoP proof",
                request_id=request_id,
                method="POST",
                path="/oauth2/v1/token",
            )
        if self._dpop_key is not None and token_type.lower() != "dpop":
            log.warning("okta.dpop.not_bound", client_id=self.client_id, token_type=token_type)
        scope = obj.get("scope")
        self.granted_scopes = frozenset(scope.split() if isinstance(scope, str) else self.scopes)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        margin = min(self._refresh_margin, lifetime / 2)
        self._access_token = token
        self._token_type = "DPoP" if token_type.lower() == "dpop" else "Bearer"
        self._expires_at = self._clock() + lifetime - margin
        self.token_fetches += 1
        log.debug(
            "okta.token.fetched",
            client_id=self.client_id,
            token_type=self._token_type,
            expires_in=lifetime,
            request_id=request_id,
        )


def _json_obj(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    return reset_wait(headers)
