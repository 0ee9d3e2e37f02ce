"""What a tenant's security engineer states once about the organisation (config ``tenants[].context``).

Why: the same facts - "our VPN egresses from 198.51.100.0/24", "we use Zscaler",
"the CEO travels", "svc-backup is a script" - matter to several detections
(as allowlists and dampeners). Stating them once per tenant keeps
the detections consistent; per-detection allowlists still work and are merged
with the tenant-level ones.

Who reads what:

* egress (``egress_cidrs``/``egress_asns``/``vpn_operators``) is merged by
  :meth:`TenantProfile.apply` into every detection config field of the same kind
  (``allowlist_cidrs``/``allowlist_asns``/``allowlist_operators``): a detection
  opts in by declaring the field, so a new detection gets the tenant egress for
  free. Today: impossible_travel and anonymizer_signin (all three: not evaluated),
  session_hijack and success_after_credential_attack (CIDRs and ASNs: dampener),
  password_spray (CIDRs only: attempts not counted). Where a match silences or
  weakens a credential attack, only the tenant's *own* addresses count: an ASN
  (Zscaler, a cloud) or a commercial VPN operator is shared with attackers;
* ``known_travellers`` is merged into ``impossible_travel.known_travellers``:
  a visible dampener, not an exclusion;
* ``service_accounts`` are non-human users: the :class:`~detections.engine.Engine`
  does not feed their events to detections that declare ``human_only`` (impossible
  travel, MFA fatigue, anonymizer sign-in, session hijack). Credential-attack
  detections still count them as targets. ``Event.is_human`` stays Okta's own
  notion (actor type, system principal), so parsing needs no tenant config.
* ``login_domains`` is read before parsing, by :mod:`detections.redaction`: an
  unmatched username at one of them is a mistyped login, not a typed password.

Users are matched by Okta id or login, case-insensitively; VPN operators by name
ignoring case, spaces, ``_`` and ``-`` (Okta logs ``NORD_VPN``, people write
``NordVPN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, TypeVar

from detections.event import Event

T = TypeVar("T")

_OPERATOR_NOISE = re.compile(r"[\s_\-.]+")


def operator_key(name: str) -> str:
    """One spelling per tunnel operator: ``NORD_VPN``, ``NordVPN`` and ``nord-vpn`` compare equal."""
    return _OPERATOR_NOISE.sub("", name).upper()


def _users(values: Any) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in values if str(v).strip())


@dataclass(frozen=True, slots=True)
class TenantProfile:
    egress_cidrs: tuple[str, ...] = ()  # corporate VPN / secure web gateway egress
    egress_asns: frozenset[int] = frozenset()  # e.g. the SWG's ASN (Zscaler 53813)
    vpn_operators: frozenset[str] = frozenset()  # debugData.tunnels[].operator the company uses
    known_travellers: frozenset[str] = frozenset()  # user ids or logins whose travel is expected
    service_accounts: frozenset[str] = frozenset()  # user ids or logins of non-human users
    login_domains: frozenset[str] = frozenset()  # what the org's logins end with, after the '@'

    def __post_init__(self) -> None:
        object.__setattr__(self, "egress_cidrs", tuple(dict.fromkeys(self.egress_cidrs)))
        object.__setattr__(self, "egress_asns", frozenset(self.egress_asns))
        object.__setattr__(self, "vpn_operators", frozenset(operator_key(o) for o in self.vpn_operators if o))
        object.__setattr__(self, "known_travellers", _users(self.known_travellers))
        object.__setattr__(self, "service_accounts", _users(self.service_accounts))
        object.__setattr__(self, "login_domains", frozenset(d.strip().lstrip("@").lower() for d in self.login_domains))

    def is_service_account(self, event: Event) -> bool:
        return is_listed(event, self.service_accounts)

    def apply(self, settings: T) -> T:
        """``settings`` (a dataclass of detection configs) with the tenant's context merged into every config
        field it feeds; per-detection values are kept."""
        if self == _EMPTY:
            return settings
        assert is_dataclass(settings) and not isinstance(settings, type)
        merged = {}
        for f in fields(settings):
            config = getattr(settings, f.name)
            if is_dataclass(config) and not isinstance(config, type):
                merged[f.name] = self._merge(config)
        return replace(settings, **merged)

    def _merge(self, config: Any) -> Any:
        changes: dict[str, Any] = {}
        for name in {f.name for f in fields(config)} & _FEEDS.keys():
            ours, theirs = getattr(config, name), getattr(self, _FEEDS[name])
            if theirs:
                both = (*ours, *theirs)
                changes[name] = tuple(dict.fromkeys(both)) if isinstance(ours, tuple | list) else frozenset(both)
        return replace(config, **changes) if changes else config


# detection config field → the TenantProfile field merged into it
_FEEDS = {
    "allowlist_cidrs": "egress_cidrs",
    "allowlist_asns": "egress_asns",
    "allowlist_operators": "vpn_operators",
    "known_travellers": "known_travellers",
}

_EMPTY = TenantProfile()


def is_listed(event: Event, users: frozenset[str]) -> bool:
    """The event's actor is in ``users`` (lower-case ids or logins)."""
    if not users:
        return False
    return (event.actor_id != "" and event.actor_id.lower() in users) or (
        event.actor_login != "" and event.actor_login.lower() in users
    )
