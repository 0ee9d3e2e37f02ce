"""Resource-server DPoP nonce challenge (`use_dpop_nonce` on an API call).

The simulator does not challenge API calls for a nonce (Okta documents the nonce as not currently
required there), so this uses a minimal aiohttp server for just that exchange.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import jwt
import orjson
import pytest
from aiohttp import web
from okta_keys import rsa_key

from detector.okta import OktaAuthError, OktaClient, PrivateKeyJwtAuth

NONCE = "server-nonce-1"
Server = tuple[str, list[dict], dict]


@pytest.fixture
async def resource_server() -> AsyncIterator[Server]:
    proofs: list[dict] = []
    state = {"always_challenge": False}

    async def token(request: web.Request) -> web.Response:
        assert request.headers.get("DPoP")
        return web.json_response({"token_type": "DPoP", "access_token": "at-1", "expires_in": 3600})

    async def logs(request: web.Request) -> web.Response:
        claims = jwt.decode(request.headers["DPoP"], options={"verify_signature": False})
        proofs.append(claims)
        if claims.get("nonce") != NONCE or state["always_challenge"]:
            return web.Response(
                status=401,
                body=orjson.dumps({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": NONCE},
            )
        return web.json_response([], headers={"Link": f'<{request.url}>; rel="next"'})

    app = web.Application()
    app.router.add_post("/oauth2/v1/token", token)
    app.router.add_get("/api/v1/logs", logs)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", proofs, state
    await runner.cleanup()


async def test_api_nonce_challenge_is_answered_once(resource_server: Server) -> None:
    url, proofs, _ = resource_server
    pem, _ = rsa_key()
    auth = PrivateKeyJwtAuth(url, "0oa1", pem, "k1", ["okta.logs.read"], dpop=True)
    async with OktaClient(url, auth) as client:
        page = await client.fetch_log_page()
        assert page.events == [] and page.next_url
        await client.fetch_log_page(page.next_url)  # the nonce is remembered
    assert [p.get("nonce") for p in proofs] == [None, NONCE, NONCE]
    assert all(p["htu"] == f"{url}/api/v1/logs" and p["htm"] == "GET" and p["ath"] for p in proofs)
    assert len({p["jti"] for p in proofs}) == 3


async def test_repeated_nonce_challenge_is_not_looped(resource_server: Server) -> None:
    url, proofs, state = resource_server
    state["always_challenge"] = True
    pem, _ = rsa_key()
    auth = PrivateKeyJwtAuth(url, "0oa1", pem, "k1", ["okta.logs.read"], dpop=True)
    async with OktaClient(url, auth) as client:
        with pytest.raises(OktaAuthError) as info:
            await client.fetch_log_page()
    assert info.value.error_code == "E0000011"
    # one nonce retry, then one token refresh on the 401; never an endless loop
    assert [p.get("nonce") for p in proofs] == [None, NONCE, NONCE]
