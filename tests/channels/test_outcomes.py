"""Every channel answers the outbox alike: 2xx delivered; 408, 429, 5xx, timeouts and connection errors
retry (after Retry-After, seconds or HTTP-date, when given); other 4xx are permanent, with a reason that
never holds the URL or a secret."""

from __future__ import annotations

import socket
from email.utils import formatdate
from time import time
from typing import Any

import pytest

from .conftest import ROUTING_KEY, SIGNING_SECRET, SLACK_TOKEN, STAND_IN, incident, view

KINDS = list(STAND_IN)
SECRETS = (SLACK_TOKEN, ROUTING_KEY, SIGNING_SECRET, "hooksecret", "workflowsig")
SENT = {"slack_webhook": "", "slack_bot": SLACK_TOKEN, "teams": "", "pagerduty": ROUTING_KEY, "webhook": ""}
SECRET_URL = {"slack_webhook", "teams", "webhook"}  # Slack's API and PagerDuty's enqueue URL are public


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def stand_in(request: pytest.FixtureRequest, kind: str) -> Any:
    return request.getfixturevalue(STAND_IN[kind])


def assert_no_secret(reason: str, kind: str, url: str) -> None:
    assert not any(s in reason for s in SECRETS), reason
    if kind in SECRET_URL:
        assert url not in reason and url.split("/", 3)[3] not in reason, reason


async def test_2xx_is_delivered(make_channel, stand_in, kind):
    inc, _ = incident()
    outcome = await make_channel(kind).deliver(view(inc), {})
    assert outcome.kind == "delivered" and outcome.reason == ""


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(429, "7", 7.0), (503, "date", 120.0), (500, None, None), (502, None, None), (408, None, None)],
)
async def test_transient_statuses_retry_after_what_the_destination_said(
    make_channel, stand_in, kind, status, retry_after, expected
):
    channel = make_channel(kind)
    headers = {"Retry-After": formatdate(time() + 120, usegmt=True) if retry_after == "date" else retry_after}
    stand_in.fail(status, {"ok": False, "error": "ratelimited"}, headers if retry_after else {})
    inc, _ = incident()
    outcome = await channel.deliver(view(inc), {})
    assert outcome.kind == "retry" and str(status) in outcome.reason
    if expected is None:
        assert outcome.retry_after_s is None
    else:
        assert outcome.retry_after_s == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413])
async def test_other_4xx_are_permanent_without_the_url_or_a_secret(make_channel, stand_in, kind, status):
    channel = make_channel(kind)
    # a receiver that quotes what it was sent: its URL, or the part of it past the host, and the credential
    echo = f"refused {stand_in.url} or /{stand_in.url.split('/', 3)[3]} with {SENT[kind]}"
    stand_in.fail(status, echo)
    inc, _ = incident()
    outcome = await channel.deliver(view(inc), {})
    assert outcome.kind == "permanent" and str(status) in outcome.reason
    assert_no_secret(outcome.reason, kind, stand_in.url)


@pytest.mark.parametrize("kind", ["teams", "pagerduty", "webhook"])  # slack_sdk follows redirects itself
async def test_a_redirect_is_not_followed(make_channel, stand_in, kind):
    channel = make_channel(kind)
    stand_in.fail(307, "", {"Location": "http://127.0.0.1:9/elsewhere"})
    inc, _ = incident()
    outcome = await channel.deliver(view(inc), {})
    assert outcome.kind == "permanent" and "307" in outcome.reason


async def test_a_connection_refused_is_retried_and_names_no_url(make_channel, stand_in, kind):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stand_in.url = stand_in.url.replace(stand_in.url.split("/")[2], f"127.0.0.1:{port}")
    channel = make_channel(kind)
    inc, _ = incident()
    outcome = await channel.deliver(view(inc), {})
    assert outcome.kind == "retry" and outcome.reason.startswith("no response: connection error")
    assert_no_secret(outcome.reason, kind, stand_in.url)


@pytest.mark.parametrize("kind", ["slack_bot", "webhook"])
async def test_a_destination_that_does_not_answer_in_time_is_retried(make_channel, stand_in, kind):
    stand_in.fail(200, {"ok": True}, delay_s=3.0)  # the session's timeout is 2 s
    inc, _ = incident()
    outcome = await make_channel(kind).deliver(view(inc), {})
    assert outcome.kind == "retry" and outcome.reason.startswith("no response: timeout")
