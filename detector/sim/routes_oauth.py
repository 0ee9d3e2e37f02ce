"""`POST /oauth2/v1/token`: client credentials with private_key_jwt, optionally DPoP-bound.

Order of checks: grant type, client, DPoP proof and nonce (before the assertion's jti is spent,
so a client can retry after `use_dpop_nonce`), assertion, scopes. Errors are RFC 6749 objects.
"""

from __future__ import annotations

import jwt
import orjson
from aiohttp import web

from detector.sim.auth import request_url
from detector.sim.context import org_of
from detector.sim.credentials import (
    ASSERTION_TYPE,
    TOKEN_LIFETIME,
    CredentialError,
    DPoPNonceRequired,
    verify_client_assertion,
    verify_dpop_proof,
)
from detector.sim.errors import OAuthError

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def token(request: web.Request) -> web.Response:
    org = org_of(request)
    form = await request.post()
    token_url = request_url(request)
    now = org.clock()
    if form.get("grant_type") != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the "
            "authorization server. Configured grant types: [client_credentials].",
        )
    assertion = form.get("client_assertion")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not isinstance(assertion, str):
        raise OAuthError(
            "invalid_client",
            "Client authentication failed: a private_key_jwt client_assertion is required.",
            status=401,
        )
    client_id = form.get("client_id")
    if not client_id:
        try:
            client_id = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_client", "The client_assertion is not a valid JWT.", 401) from exc
    app = org.apps.get(str(client_id))
    if app is None:
        raise OAuthError("invalid_client", "The client_id is not registered.", status=401)

    jkt: str | None = None
    proof = request.headers.get("DPoP")
    if app.require_dpop or proof:
        if not proof:
            raise OAuthError("invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        try:
            jkt = verify_dpop_proof(proof, "POST", token_url, now, org.replay, nonce=org.dpop_nonce).jkt
        except DPoPNonceRequired as exc:
            raise OAuthError("use_dpop_nonce", str(exc), headers={"DPoP-Nonce": org.dpop_nonce}) from exc
        except CredentialError as exc:
            raise OAuthError("invalid_dpop_proof", str(exc)) from exc

    try:
        verify_client_assertion(assertion, app, token_url, now, org.replay)
    except CredentialError as exc:
        raise OAuthError("invalid_client", str(exc), status=401) from exc

    requested = frozenset(str(form.get("scope", "")).split())
    if not requested:
        raise OAuthError(
            "invalid_scope",
            "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
        )
    if not requested <= app.scopes:
        denied = " ".join(sorted(requested - app.scopes))
        raise OAuthError("invalid_scope", f"The following scopes are not allowed: {denied}")
    issued = org.issue_access_token(app, requested, jkt)
    body = {
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "access_token": issued.value,
        "scope": " ".join(sorted(requested)),
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers=_NO_STORE)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/oauth2/v1/token", token)
