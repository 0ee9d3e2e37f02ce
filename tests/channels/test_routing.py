"""Routing: a channel takes an incident when its top tier reaches the channel's min_tier, counting only the
findings of detections the channel has not excluded."""

from __future__ import annotations

import pytest

from detector.respond.channels.base import Routing

from .conftest import finding, incident, view


@pytest.mark.parametrize(
    ("min_tier", "wanted"),
    [("low", {"low", "medium", "high", "high-confidence"}), ("medium", {"medium", "high", "high-confidence"}),
     ("high", {"high", "high-confidence"}), ("high-confidence", {"high-confidence"})],
)  # fmt: skip
def test_min_tier(min_tier, wanted):
    routing = Routing(min_tier)
    for tier in ("low", "medium", "high", "high-confidence"):
        inc, _ = incident([finding(0, tier=tier)])
        assert routing.wants(view(inc)) == (tier in wanted), tier


def test_an_excluded_detection_does_not_count_but_the_rest_of_the_incident_does():
    routing = Routing("high", frozenset({"api_token_created"}))
    token = finding(0, detection="api_token_created", tier="high-confidence", dedup_key="tok")
    only_excluded, book = incident([token])
    assert not routing.wants(view(only_excluded))
    book.apply(finding(1, tier="medium"))
    assert not routing.wants(view(only_excluded))  # medium is below this channel's high
    book.apply(finding(2, tier="high", dedup_key="push"))
    assert routing.wants(view(only_excluded))


async def test_channels_built_from_config_route_by_their_settings(make_channel, slack_webhook, pagerduty):
    feed = make_channel("slack_webhook", exclude_detections=["mfa_fatigue"])  # all its findings
    pager = make_channel("pagerduty", min_tier="high-confidence")
    push, book = incident([finding(0, tier="high")])
    assert not feed.wants(view(push)) and not pager.wants(view(push))
    book.apply(finding(1, detection="impossible_travel", tier="high-confidence", dedup_key="travel"))
    assert feed.wants(view(push)) and pager.wants(view(push))
    assert feed.name == "slack-webhook" and "hooksecret" not in repr(feed)
