"""A simulated org on loopback HTTP that records every request, and tenant configs pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from detector.config import TenantConfig, parse_config
from detector.sim import SimOrg, make_app

READ_TOKEN = "00read-token-0123456789abcdef"
ENFORCE_TOKEN = "00enforce-token-fedcba9876543210"
APP = "0oaEnforcer"


@dataclass
class Sim:
    org: SimOrg
    url: str
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request received


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    org = SimOrg(name="acme", seed=5)  # the real clock: test-connection reads the last five minutes
    for login in ("alice@acme.com", "bob@acme.com"):
        uid = org.add_user(login=login, groups=["Staff"])["id"]
        org.open_session(uid)
    s = Sim(org, "")

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        s.seen.append((request.method, request.path))
        return await handler(request)

    app = make_app(org)
    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    s.url = org.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield s
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def app_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The service app's private key file and public JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path_factory.mktemp("keys") / "enforcer.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path, ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1"}


def ssws(env: str) -> dict[str, Any]:
    return {"kind": "ssws", "token": {"env": env}}


def oauth(key: tuple[Path, dict[str, Any]], scopes: list[str]) -> dict[str, Any]:
    return {"kind": "oauth", "client_id": APP, "private_key": {"file": str(key[0])}, "key_id": "k1", "scopes": scopes}


def tenant_dict(sim: Sim, enforce: dict[str, Any] | None, name: str = "acme", **response: Any) -> dict[str, Any]:
    return {
        "name": name,
        "org_url": sim.url,
        "read": ssws("ITDR_TEST_READ"),
        **({"enforce": enforce} if enforce else {}),
        "response": response,
    }


def tenant(sim: Sim, enforce: dict[str, Any] | None = None, **response: Any) -> TenantConfig:
    """The env vars ITDR_TEST_READ / ITDR_TEST_ENFORCE must hold the tokens (the `tokens` fixture sets them)."""
    return parse_config({"tenants": [tenant_dict(sim, enforce, **response)]}).tenants[0]


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITDR_TEST_READ", READ_TOKEN)
    monkeypatch.setenv("ITDR_TEST_ENFORCE", ENFORCE_TOKEN)
