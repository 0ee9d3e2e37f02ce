"""The contract between the outbox and a destination: does it want this incident, and what happened when
it was sent.

The outbox calls ``deliver`` once per (incident version, channel) until the outcome is final, and acts on
the ``Outcome``: ``delivered`` is done; ``retry`` goes again after its backoff, or after ``retry_after_s``
when the destination said; ``permanent`` is parked with ``reason``. It persists ``memo`` for (channel,
incident key) after every outcome, ``retry`` included (a retry may carry progress: the Slack header's ts
after the thread reply failed), and passes it to the next delivery of that incident. The memo is how a
destination without idempotency keys (Slack's ``chat.postMessage``) is still written once, and how an
older version retried after a newer one was delivered is recognised (``version``); it is JSON, never a
secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from detector.respond.incidents import TIER_ORDER

OutcomeKind = Literal["delivered", "retry", "permanent"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the outbox does next."""

    kind: OutcomeKind
    memo: Mapping[str, Any] = field(default_factory=dict)  # persisted for (channel, incident key)
    retry_after_s: float | None = None  # from Retry-After, when the destination said
    reason: str = ""  # for the log and the parked record; never a secret (no URL, no token)


class Channel(Protocol):
    name: str  # the configured name

    def wants(self, incident: Mapping[str, Any]) -> bool:
        """Routing: the incident's tier against the channel's minimum, per-detection opt-outs applied."""
        ...

    async def deliver(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        """Send one incident version; never raises for anything the destination or the network does."""
        ...


@dataclass(frozen=True, slots=True)
class Routing:
    """An incident is wanted when its top tier reaches ``min_tier``, counting only the findings of
    detections the channel has not excluded: a channel that opts out of ``api_token_created`` still takes
    an incident that also holds an accepted push."""

    min_tier: str = "medium"
    excluded: frozenset[str] = frozenset()  # finding ids (``detection`` of a timeline entry)

    def wants(self, incident: Mapping[str, Any]) -> bool:
        if self.excluded:
            findings = incident.get("findings") or ()
            tiers = [f.get("tier") for f in findings if f.get("detection") not in self.excluded]
        else:
            tiers = [incident.get("severity")]
        top = max((TIER_ORDER.get(t, -1) for t in tiers if isinstance(t, str)), default=-1)
        return top >= TIER_ORDER[self.min_tier]


class RoutedChannel(ABC):
    """What every channel shares: its name, its routing, and never going back in time. The memo's
    ``version`` is the newest incident version delivered; an older one arriving later (a retry that lost
    the race with the next update) is superseded, not sent: it would re-trigger a resolved PagerDuty alert
    or roll a Slack header back."""

    def __init__(self, name: str, routing: Routing) -> None:
        self.name = name
        self.routing = routing

    def wants(self, incident: Mapping[str, Any]) -> bool:
        return self.routing.wants(incident)

    async def deliver(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        version, newest = _version(incident.get("version")), _version(memo.get("version"))
        if version < newest:
            return Outcome("delivered", memo, reason=f"superseded: version {newest} was delivered")
        outcome = await self.send(incident, memo)
        if outcome.kind != "delivered":
            return outcome
        return Outcome("delivered", {**outcome.memo, "version": version}, outcome.retry_after_s, outcome.reason)

    @abstractmethod
    async def send(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        """Render and send one version (no older than the memo's)."""

    def __repr__(self) -> str:  # never the URL or the token
        return f"{type(self).__name__}(name={self.name!r})"


def _version(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
