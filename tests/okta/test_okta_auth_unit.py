"""Pure tests of auth objects and error objects: claims, algorithms, redaction."""

from __future__ import annotations

import base64
import hashlib

import jwt
import orjson
import pytest
from okta_keys import ec_key, rsa_key

from detector.okta.auth import DpopKey, PrivateKeyJwtAuth, SswsAuth, htu_of
from detector.okta.errors import (
    OktaApiError,
    OktaAuthError,
    OktaNotFound,
    OktaRateLimited,
    OktaServerError,
    OktaTokenError,
    error_from_response,
)

ORG = "https://acme.okta.com"


def test_client_assertion_claims_rsa() -> None:
    pem, jwk = rsa_key("kid-rsa")
    auth = PrivateKeyJwtAuth(ORG, "0oa1", pem, "kid-rsa", ["okta.logs.read"])
    assert auth.alg == "RS256"
    a1, a2 = auth._client_assertion(), auth._client_assertion()
    header = jwt.get_unverified_header(a1)
    assert header["alg"] == "RS256" and header["kid"] == "kid-rsa"
    claims = jwt.decode(a1, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=f"{ORG}/oauth2/v1/token")
    assert claims["iss"] == claims["sub"] == "0oa1"
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert claims["jti"] != jwt.decode(a2, options={"verify_signature": False})["jti"]


def test_client_assertion_alg_ec_and_no_kid() -> None:
    pem, _ = ec_key()
    auth = PrivateKeyJwtAuth(ORG, "0oa1", pem.decode(), None, ["okta.logs.read"])
    assert auth.alg == "ES256"
    assert "kid" not in jwt.get_unverified_header(auth._client_assertion())


def test_bad_private_key_message_has_no_key() -> None:
    bogus = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError) as info:
        PrivateKeyJwtAuth(ORG, "0oa1", bogus, None, ["okta.logs.read"])
    assert "TOPSECRET" not in str(info.value)
    assert info.value.__cause__ is None


def test_dpop_proof_claims() -> None:
    key = DpopKey()
    proof = key.proof("get", "https://acme.okta.com/api/v1/logs?after=1_1#x", nonce="n1", access_token="tok")
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert header["jwk"]["kty"] == "EC" and "d" not in header["jwk"]
    claims = jwt.decode(proof, jwt.PyJWK(header["jwk"]).key, algorithms=["ES256"])
    assert claims["htm"] == "GET"
    assert claims["htu"] == "https://acme.okta.com/api/v1/logs"
    assert claims["nonce"] == "n1" and claims["jti"] and claims["iat"]
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert claims["ath"] == expected
    assert htu_of("https://a.okta.com/x/y?q=1") == "https://a.okta.com/x/y"


def test_auth_reprs_redact_secrets() -> None:
    ssws = SswsAuth("00SECRETSSWS")
    assert "00SECRETSSWS" not in repr(ssws) and "00SECRETSSWS" not in str(ssws)
    pem, _ = rsa_key()
    oauth = PrivateKeyJwtAuth(ORG, "0oa1", pem, "k1", ["okta.logs.read"], dpop=True)
    oauth._access_token = "eyACCESSTOKEN"
    for text in (repr(oauth), str(oauth)):
        assert "eyACCESSTOKEN" not in text and "PRIVATE KEY" not in text and "0oa1" in text


def test_error_from_okta_error_object() -> None:
    body = orjson.dumps(
        {
            "errorCode": "E0000001",
            "errorSummary": "Api validation failed",
            "errorLink": "E0000001",
            "errorId": "oaeX",
            "errorCauses": [{"errorSummary": "user is not ACTIVE"}],
        }
    )
    err = error_from_response(400, body, request_id="req1", method="POST", path="/api/v1/users/u/lifecycle/suspend")
    assert type(err) is OktaApiError
    assert (err.status, err.error_code, err.error_id, err.request_id) == (400, "E0000001", "oaeX", "req1")
    assert "E0000001" in str(err) and "user is not ACTIVE" in str(err) and "req1" in str(err)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, OktaAuthError),
        (403, OktaAuthError),
        (404, OktaNotFound),
        (429, OktaRateLimited),
        (500, OktaServerError),
        (503, OktaServerError),
        (409, OktaApiError),
    ],
)
def test_error_class_by_status(status: int, cls: type[OktaApiError]) -> None:
    err = error_from_response(status, b"<html>proxy</html>", request_id=None, method="GET", path="/x")
    assert type(err) is cls and err.error_code is None and str(status) in str(err)


def test_token_error_message() -> None:
    err = OktaTokenError(401, "invalid_client", "The client_assertion signature is invalid.")
    assert "invalid_client" in str(err) and err.error == "invalid_client" and err.error_code == "invalid_client"
