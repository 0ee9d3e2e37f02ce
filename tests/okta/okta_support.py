"""Shared test support for tests/okta: credentials and the recording view of a simulated org."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from detector.sim import SimOrg

SSWS_TOKEN = "00sswsSECRETtokenVALUE0123456789abcdef"
CLIENT_ID = "0oa1itdrsvc"
SCOPES = ["okta.logs.read", "okta.users.read", "okta.users.manage"]


@dataclass
class Seen:
    method: str
    path: str
    at: float
    retry_count: str | None
    retry_for: str | None
    authorization_scheme: str | None
    status: int | None = None
    request_id: str | None = None
    remaining: int | None = None


@dataclass
class Sim:
    org: SimOrg
    url: str
    seen: list[Seen] = field(default_factory=list)

    def requests(self, path_prefix: str = "/api/") -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(path_prefix)]


SimFactory = Callable[..., Awaitable[Sim]]
