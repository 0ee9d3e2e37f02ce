"""A simulator org on real loopback HTTP plus a daemon config pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from detector.config import Config, parse_config
from detector.sim import RateLimits, SimOrg, SimServer

READ_TOKEN = "sim-read-token-0123456789abcdef"
ENFORCE_TOKEN = "sim-enforce-token-fedcba9876543210"


@dataclass
class Sim:
    org: SimOrg
    server: SimServer
    read_token_id: str
    enforce_token_id: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    org = SimOrg(name="acme", seed=11, rate_limits=RateLimits(logs=600, window_seconds=60.0))
    read_id = org.add_api_token(READ_TOKEN, name="itdr-reader")
    enforce_id = org.add_api_token(ENFORCE_TOKEN, name="itdr-enforcer")
    server = SimServer(org, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield Sim(org, server, read_id, enforce_id)
    finally:
        await server.stop()


def daemon_config(sim: Sim, data_dir: Path, monkeypatch: pytest.MonkeyPatch, **tenant: Any) -> Config:
    monkeypatch.setenv("ITDR_TEST_READ_TOKEN", READ_TOKEN)
    monkeypatch.setenv("ITDR_TEST_ENFORCE_TOKEN", ENFORCE_TOKEN)
    return parse_config(config_dict(sim, data_dir, **tenant))


def config_dict(sim: Sim, data_dir: Path, **tenant: Any) -> dict[str, Any]:
    """The env vars ITDR_TEST_READ_TOKEN / ITDR_TEST_ENFORCE_TOKEN must hold the tokens."""
    return {
        "data_dir": str(data_dir),
        "tenants": [
            {
                "name": "acme",
                "org_url": sim.url,
                "read": {"kind": "ssws", "token": {"env": "ITDR_TEST_READ_TOKEN"}, "token_id": sim.read_token_id},
                "enforce": {
                    "kind": "ssws",
                    "token": {"env": "ITDR_TEST_ENFORCE_TOKEN"},
                    "token_id": sim.enforce_token_id,
                },
                "poll": {"interval_s": 0.05, "lookback_minutes": 60},
                # these tests count an attack's findings and incidents: the posture findings a directory sync
                # raises are tested in tests/posture and tests/inventory/test_posture_daemon.py
                "posture": {"enabled": False},
                **tenant,
            }
        ],
    }
