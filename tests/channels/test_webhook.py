"""The generic webhook: signed per Standard Webhooks, verified by the reference implementation
(``standardwebhooks``) in the receiver; a tampered body or an old timestamp is refused there."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from detector.respond.channels.base import Routing
from detector.respond.channels.webhook import WebhookChannel
from detector.sim import standard_webhooks
from detector.sim.receiver import WebhookReceiver

from .conftest import SIGNING_KEY, SIGNING_SECRET, T0, finding, incident, view


async def test_a_signed_delivery_is_verified_and_a_retry_keeps_its_id(make_channel, receiver):
    channel = make_channel("webhook")
    inc, book = incident()
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    assert (await channel.deliver(view(inc), {})).kind == "delivered"  # the same version again: a retry
    book.resolve(inc, "quiet", T0 + 7200, "no finding for 6 h")
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    ids = [r["headers"]["webhook-id"] for r in receiver.received]
    assert ids == [f"{inc.key}.v1", f"{inc.key}.v1", f"{inc.key}.v2"] and receiver.rejected == []
    assert list(receiver.processed) == [f"{inc.key}.v1", f"{inc.key}.v2"]  # the receiver dropped the repeat
    opened, resolved = receiver.processed.values()
    assert opened["type"] == "incident.opened" and resolved["type"] == "incident.resolved"
    assert resolved["data"]["key"] == inc.key and resolved["data"]["resolution"]["by"] == "quiet"
    assert resolved["timestamp"] == resolved["data"]["updated"] and resolved["data"]["findings_not_shown"] == 0
    headers = receiver.received[0]["headers"]
    version, signature = headers["webhook-signature"].split(",")
    assert version == "v1" and len(base64.b64decode(signature)) == 32
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


async def test_the_first_version_a_receiver_gets_is_opened_whatever_its_number(make_channel, receiver):
    channel = make_channel("webhook")
    inc, book = incident()
    book.apply(finding(1))
    book.apply(finding(2, title="Push accepted after MFA bombing"))  # written together: v1 is never sent
    assert inc.version > 1
    first = await channel.deliver(view(inc), {})
    again = await channel.deliver(view(inc), first.memo)  # the same version again (published twice): the same body
    book.apply(finding(3))
    assert (await channel.deliver(view(inc), again.memo)).kind == "delivered"
    assert [b["type"] for b in receiver.processed.values()] == ["incident.opened", "incident.updated"]
    bodies = [r["body"] for r in receiver.received]
    assert len(bodies) == 3 and bodies[0] == bodies[1]


async def test_a_tampered_body_is_refused_by_the_receiver(make_channel, receiver):
    channel = make_channel("webhook")
    inc, _ = incident()
    assert (await channel.deliver(view(inc), {})).kind == "delivered"
    sent = receiver.received[0]
    tampered = orjson.loads(sent["body"])
    tampered["data"]["login"] = "mallory@acme.com"
    headers = {k: v for k, v in sent["headers"].items() if k.lower().startswith("webhook-")}
    async with aiohttp.ClientSession() as client:
        async with client.post(receiver.url, data=orjson.dumps(tampered), headers=headers) as response:
            assert response.status == 401
        async with client.post(receiver.url, data=sent["body"], headers=headers) as response:
            assert response.status == 204  # the untouched body still verifies
    assert receiver.rejected == ["No matching signature found"]


async def test_an_old_timestamp_is_refused_and_that_is_permanent(session, receiver):
    stale = WebhookChannel("soar", Routing(), receiver.url, SIGNING_KEY, session, clock=lambda: time.time() - 600)
    inc, _ = incident([finding(0)])
    outcome = await stale.deliver(view(inc), {})
    assert outcome.kind == "permanent" and "401" in outcome.reason and "too old" in outcome.reason
    assert receiver.processed == {} and receiver.rejected == ["Message timestamp too old"]


async def test_an_incident_key_that_could_blur_the_signed_content_is_refused(session, receiver):
    channel = WebhookChannel("soar", Routing(), receiver.url, SIGNING_KEY, session)
    inc, _ = incident()
    outcome = await channel.deliver({**view(inc), "key": "inc.1.evil"}, {})
    assert outcome.kind == "permanent" and receiver.received == []


def readme_code() -> str:
    """The README's "Verifying the webhook signature" example, as written."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Verifying the webhook signature", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def readme_verify() -> Any:
    """The ``verify`` function of the README's example."""
    namespace: dict[str, Any] = {}
    exec(compile(readme_code(), "README.md", "exec"), namespace)
    return namespace["verify"]


def test_the_readme_example_is_the_verifier_the_demo_and_the_bench_run():
    source = Path(standard_webhooks.__file__).read_text(encoding="utf-8")
    assert source.split('"""', 2)[2].lstrip("\n") == readme_code()


async def test_the_readme_verifier_accepts_our_signature_and_refuses_a_tampered_body(make_channel, receiver):
    verify = readme_verify()
    inc, _ = incident()
    assert (await make_channel("webhook").deliver(view(inc), {})).kind == "delivered"
    sent = receiver.received[0]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    verify(SIGNING_SECRET, headers, sent["body"])
    with pytest.raises(ValueError, match="bad signature"):
        verify(SIGNING_SECRET, headers, sent["body"].replace(b"alice", b"mallo"))
    with pytest.raises(ValueError, match="replay"):
        verify(SIGNING_SECRET, {**headers, "webhook-timestamp": str(int(time.time()) - 600)}, sent["body"])


async def test_the_demo_receiver_takes_each_version_once_and_refuses_what_does_not_verify(session):
    taken: list[Any] = []
    rx = WebhookReceiver(SIGNING_SECRET, taken.append)
    channel = WebhookChannel("soc", Routing(), await rx.start(), SIGNING_KEY, session)
    try:
        inc, book = incident([finding(0)])
        assert (await channel.deliver(view(inc), {})).kind == "delivered"
        memo = (await channel.deliver(view(inc), {})).memo  # a retry (its memo not stored): taken once
        book.apply(finding(1))
        assert (await channel.deliver(view(inc), memo)).kind == "delivered"
        forged = WebhookChannel("soc", Routing(), rx.url, b"k" * 32, session)
        assert (await forged.deliver(view(inc), {})).kind == "permanent"  # 401: not signed with our secret
    finally:
        await rx.stop()
    assert [(d.msg_id, d.type, d.incident["finding_count"]) for d in taken] == [
        (f"{inc.key}.v1", "incident.opened", 1),
        (f"{inc.key}.v2", "incident.updated", 2),
    ]
    assert rx.deliveries == taken and rx.rejected == 1
