"""API token created (SSWS).

Why: an SSWS API token acts with its creator's admin rights and survives session
clearing and password resets (clear sessions does not revoke SSWS tokens), so it
is the classic post-compromise persistence (Panther Okta.APIKeyCreated; Okta's catalog "New Okta API Token Created").

Triggers: ``system.api_token.create`` → medium; high when the token may be used
from anywhere (``debugData.networkConnection=ANYWHERE``, Okta's catalog) or when
a non-human actor created it. ``system.api_token.update`` that opens the token
to ANYWHERE → high. Never auto-enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detections.config_change import Change, ConfigChangeDetection, first_target, target_ref
from detections.event import Event
from detections.finding import Severity

MITRE = ("T1098.001",)


@dataclass(frozen=True, slots=True)
class ApiTokenCreatedConfig:
    suppress_s: float = 60.0  # per token (a token is created once; this only absorbs duplicates)


class ApiTokenCreated(ConfigChangeDetection):
    id: ClassVar[str] = "api_token_created"
    event_types: ClassVar[frozenset[str] | None] = frozenset({"system.api_token.create", "system.api_token.update"})

    def __init__(self, config: ApiTokenCreatedConfig | None = None) -> None:
        self.config = config or ApiTokenCreatedConfig()

    def classify(self, event: Event) -> Change | None:
        if event.event_type not in ("system.api_token.create", "system.api_token.update"):
            return None
        token_id, name = target_ref(event.target("Token") or first_target(event))
        anywhere = str(event.debug.get("networkconnection") or "").upper() == "ANYWHERE"
        if event.event_type == "system.api_token.update":
            if not anywhere:
                return None
            return Change(
                "update",
                Severity.HIGH,
                "API token opened to any network",
                f"API token {name or token_id} may now be used from anywhere",
                MITRE,
                f"token:{token_id or event.uuid}",
                event.actor_id,
                event.actor_login,
            )
        severity = Severity.HIGH if anywhere or not event.is_human else Severity.MEDIUM
        label = f"API token {name or token_id} created" + (" usable from any network" if anywhere else "")
        return Change(
            "create",
            severity,
            "API token created",
            label,
            MITRE,
            f"token:{token_id or event.uuid}",
            event.actor_id,
            event.actor_login,
        )
