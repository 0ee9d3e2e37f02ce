"""Authentication against the simulator: SSWS, OAuth private_key_jwt client credentials, DPoP.

The client-side JWT building lives here on purpose (PyJWT + cryptography), independent of the
product's own Okta client.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from detector.sim import SimOrg, SimServer

CLIENT_ID = "0oa1serviceapp00000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# -- client-side helpers ---------------------------------------------------------------------------


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str | None = None) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid:
        jwk["kid"] = kid
    return jwk


def client_assertion(
    key: Any,
    aud: str,
    now: float,
    *,
    kid: str = "k1",
    client_id: str = CLIENT_ID,
    jti: str | None = None,
    exp_in: float = 300,
) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": int(now),
        "exp": int(now + exp_in),
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def dpop_proof(
    key: Any,
    method: str,
    url: str,
    now: float,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    jti: str | None = None,
) -> str:
    claims: dict[str, Any] = {"htm": method, "htu": url, "iat": int(now), "jti": jti or str(uuid.uuid4())}
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public_jwk(key)})


async def request_token(
    server: SimServer, assertion: str, scope: str = "okta.logs.read", dpop: str | None = None
) -> tuple[int, dict[str, Any], Any]:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    headers = {"DPoP": dpop} if dpop else {}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/oauth2/v1/token", data=form, headers=headers) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


async def api_get(server: SimServer, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(server.url + path, headers=headers) as resp:
        return resp.status, await resp.json()


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_key() -> ec.EllipticCurvePrivateKey:
    return ec_key()


@pytest.fixture
def service_app(org: SimOrg, app_key: Any) -> Any:
    return org.add_service_app(
        client_id=CLIENT_ID, jwks={"keys": [public_jwk(app_key, "k1")]}, scopes=["okta.logs.read", "okta.users.read"]
    )


def token_url(server: SimServer) -> str:
    return f"{server.url}/oauth2/v1/token"


# -- SSWS ------------------------------------------------------------------------------------------


async def test_ssws_good_and_bad(server: SimServer, ssws: str) -> None:
    assert (await api_get(server, "/api/v1/logs", {"Authorization": f"SSWS {ssws}"}))[0] == 200
    status, body = await api_get(server, "/api/v1/logs", {"Authorization": "SSWS nope"})
    assert status == 401 and body["errorCode"] == "E0000011"
    assert body["errorSummary"] == "Invalid token provided"
    status, body = await api_get(server, "/api/v1/logs", {})
    assert status == 403 and body["errorCode"] == "E0000005"


# -- private_key_jwt -------------------------------------------------------------------------------


async def test_client_credentials_bearer_token(
    server: SimServer, org: SimOrg, service_app: Any, app_key: Any, clock: Any
) -> None:
    status, body, headers = await request_token(
        server, client_assertion(app_key, token_url(server), clock()), scope="okta.logs.read okta.users.read"
    )
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"okta.logs.read", "okta.users.read"}
    assert headers["Cache-Control"] == "no-store"
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await api_get(server, "/api/v1/logs", auth))[0] == 200
    uid = org.add_user(login="alice@acme.com", first_name="Alice", last_name="Ng")["id"]
    assert (await api_get(server, f"/api/v1/users/{uid}", auth))[0] == 200
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/api/v1/users/{uid}/lifecycle/suspend", headers=auth) as resp,
    ):
        assert resp.status == 403 and (await resp.json())["errorCode"] == "E0000006"
    clock.advance(3601)
    status, body = await api_get(server, "/api/v1/logs", auth)
    assert status == 401 and body["errorCode"] == "E0000011"


async def test_rsa_key_works_too(server: SimServer, org: SimOrg, clock: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    org.add_service_app(client_id="0oarsa", jwks={"keys": [public_jwk(key, "r1")]}, scopes=["okta.logs.read"])
    assertion = client_assertion(key, token_url(server), clock(), kid="r1", client_id="0oarsa")
    status, body, _ = await request_token(server, assertion)
    assert status == 200 and body["token_type"] == "Bearer"


@pytest.mark.parametrize("case", ["wrong_key", "wrong_aud", "expired", "too_long", "unknown_kid", "unknown_client"])
async def test_bad_client_assertion(server: SimServer, service_app: Any, app_key: Any, clock: Any, case: str) -> None:
    url, now = token_url(server), clock()
    assertion = {
        "wrong_key": lambda: client_assertion(ec_key(), url, now),
        "wrong_aud": lambda: client_assertion(app_key, "https://acme.okta.com/oauth2/v1/token", now),
        "expired": lambda: client_assertion(app_key, url, now - 600, exp_in=300),
        "too_long": lambda: client_assertion(app_key, url, now, exp_in=7200),
        "unknown_kid": lambda: client_assertion(app_key, url, now, kid="other"),
        "unknown_client": lambda: client_assertion(app_key, url, now, client_id="0oanobody"),
    }[case]()
    status, body, _ = await request_token(server, assertion)
    assert status == 401 and body["error"] == "invalid_client", body
    assert set(body) == {"error", "error_description"}


async def test_reused_jti_is_rejected(server: SimServer, service_app: Any, app_key: Any, clock: Any) -> None:
    assertion = client_assertion(app_key, token_url(server), clock(), jti="once")
    assert (await request_token(server, assertion))[0] == 200
    status, body, _ = await request_token(server, assertion)
    assert status == 401 and body["error"] == "invalid_client"


async def test_scope_not_granted(server: SimServer, service_app: Any, app_key: Any, clock: Any) -> None:
    status, body, _ = await request_token(
        server, client_assertion(app_key, token_url(server), clock()), scope="okta.logs.read okta.users.manage"
    )
    assert status == 400 and body["error"] == "invalid_scope"
    assert "okta.users.manage" in body["error_description"]


async def test_bad_grant_type(server: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/oauth2/v1/token", data={"grant_type": "password"}) as resp,
    ):
        assert resp.status == 400 and (await resp.json())["error"] == "unsupported_grant_type"
        assert "X-Rate-Limit-Remaining" in resp.headers


# -- DPoP ------------------------------------------------------------------------------------------


async def test_dpop_nonce_dance_and_bound_token(server: SimServer, org: SimOrg, app_key: Any, clock: Any) -> None:
    org.add_service_app(
        client_id=CLIENT_ID, jwks={"keys": [public_jwk(app_key, "k1")]}, scopes=["okta.logs.read"], require_dpop=True
    )
    url, now = token_url(server), clock()
    dpop_key = ec_key()

    status, body, _ = await request_token(server, client_assertion(app_key, url, now))
    assert status == 400 and body["error"] == "invalid_dpop_proof"

    status, body, headers = await request_token(
        server, client_assertion(app_key, url, now), dpop=dpop_proof(dpop_key, "POST", url, now)
    )
    assert status == 400 and body["error"] == "use_dpop_nonce"
    nonce = headers["DPoP-Nonce"]

    status, body, _ = await request_token(
        server, client_assertion(app_key, url, now), dpop=dpop_proof(dpop_key, "POST", url, now, nonce="stale")
    )
    assert status == 400 and body["error"] == "use_dpop_nonce"

    status, body, _ = await request_token(
        server, client_assertion(app_key, url, now), dpop=dpop_proof(dpop_key, "POST", url, now, nonce=nonce)
    )
    assert status == 200 and body["token_type"] == "DPoP", body
    token = body["access_token"]
    logs_url = f"{server.url}/api/v1/logs"

    def call_headers(
        key: Any = dpop_key, *, jti: str | None = None, method: str = "GET", htu: str = logs_url, ath_token: str = token
    ) -> dict[str, str]:
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": dpop_proof(key, method, htu, clock(), access_token=ath_token, jti=jti),
        }

    assert (await api_get(server, "/api/v1/logs?limit=10", call_headers()))[0] == 200
    replay = call_headers(jti="same")
    assert (await api_get(server, "/api/v1/logs", replay))[0] == 200
    bad_cases = [
        replay,  # reused proof jti
        {"Authorization": f"DPoP {token}"},  # no proof
        {"Authorization": f"Bearer {token}"},  # bound token as a plain bearer
        call_headers(ec_key()),  # proof signed by another key
        call_headers(method="POST"),  # wrong htm
        call_headers(htu=f"{server.url}/api/v1/users"),  # wrong htu
        call_headers(ath_token="something-else"),  # wrong ath
    ]
    for headers_ in bad_cases:
        status, body = await api_get(server, "/api/v1/logs", headers_)
        assert status == 401 and body["errorCode"] == "E0000011", headers_
