"""A token with the line ending an editor or `echo` leaves reaches Okta without it: from the environment
it went out as is, and aiohttp refused the header ("Forbidden control character detected in headers")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detector.config import parse_config, secret_values
from detector.tenants import OktaClients

from .conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
async def test_a_token_ending_in_a_newline_authenticates_against_the_org(sim: Sim, tmp_path: Path, monkeypatch, ending):
    monkeypatch.setenv("ITDR_TEST_READ_TOKEN", READ_TOKEN + ending)
    monkeypatch.setenv("ITDR_TEST_ENFORCE_TOKEN", ENFORCE_TOKEN + ending)
    config = parse_config(config_dict(sim, tmp_path / "data"))
    assert secret_values(config) == [READ_TOKEN, ENFORCE_TOKEN]
    async with OktaClients() as clients:
        page = await clients.reader(config.tenants[0]).fetch_log_page(since=datetime.now(UTC) - timedelta(minutes=5))
    assert page.next_url is not None
