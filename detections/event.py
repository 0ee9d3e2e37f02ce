"""The normalized Okta System Log event every detection reads.

Okta's wire format has quirks that silently break rules (docs/okta-quirks.md):
``debugData`` values are strings, ``behaviors``/``risk`` are Java-map text, the
same push answer is logged differently by Classic and Identity Engine, the
password counts as a factor in Identity Engine, ``"null"`` stands for null, and
some exports lower-case the keys. ``parse_event`` absorbs all of that once, so a
detection reads meanings (``push == PushResponse.DENY``) instead of field paths.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detections import debugdata

OKTA_ADMIN_CONSOLE_CLIENT = "okta.b58d5b75-07d4-5f25-bf59-368a1261a405"


class MalformedEvent(ValueError):
    """The record is not a usable LogEvent; the reason goes to the dead-letter record."""


class PushResponse(enum.StrEnum):
    SENT = "sent"
    ACCEPT = "accept"
    DENY = "deny"
    TIMEOUT = "timeout"
    WRONG_NUMBER = "wrong_number"


@dataclass(frozen=True, slots=True)
class Geo:
    city: str | None = None
    state: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One LogEvent, reduced to what detections reason about. ``raw`` keeps the original."""

    tenant: str
    uuid: str
    time: float  # event time: `published` as epoch seconds
    event_type: str
    outcome: str  # SUCCESS, FAILURE, ALLOW, DENY, ..., or "" when absent
    outcome_reason: str
    actor_id: str
    actor_type: str
    actor_login: str
    actor_name: str
    is_human: bool
    ip: str | None
    geo: Geo
    asn: int | None
    as_org: str | None
    is_proxy: bool
    user_agent: str | None
    client_id: str | None
    session_id: str | None
    root_session_id: str | None
    transaction_id: str | None
    api_token_id: str | None
    factor: str | None
    push: PushResponse | None
    behaviors: dict[str, str]
    risk: dict[str, str]
    threat_suspected: bool
    debug: dict[str, Any]
    targets: tuple[dict[str, Any], ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_password_as_factor(self) -> bool:
        return self.factor == "PASSWORD_AS_FACTOR"

    def behavior_positive(self, name: str) -> bool:
        """UNKNOWN/BAD_REQUEST mean "no history", not evidence (docs/okta-quirks.md#behaviors)."""
        return self.behaviors.get(name) == "POSITIVE"

    # -- additive helpers (read from already-parsed fields or ``raw``) --

    @property
    def dt_hash(self) -> str | None:
        """``debugData.dtHash``: the device-token cookie hash (a new value = a new browser)."""
        return _str(self.debug.get("dthash")) or None

    @property
    def ua_os(self) -> str | None:
        return _str(_get(self._user_agent_obj(), "os")) or None

    @property
    def ua_browser(self) -> str | None:
        return _str(_get(self._user_agent_obj(), "browser")) or None

    @property
    def risk_level(self) -> str | None:
        """Okta's sign-in/entity risk level (LOW/MEDIUM/HIGH) from ``debugData.risk``/``logOnlySecurityData``."""
        return self.risk.get("level", "").upper() or None

    def target(self, target_type: str) -> dict[str, Any] | None:
        """The first ``target[]`` entry of this type (Okta: search by type, not position)."""
        for t in self.targets:
            if _str(_get(t, "type")).lower() == target_type.lower():
                return t
        return None

    def target_ids(self, target_type: str) -> tuple[str, ...]:
        return tuple(_str(_get(t, "id")) for t in self.targets if _str(_get(t, "type")).lower() == target_type.lower())

    def _user_agent_obj(self) -> dict:
        return _obj(_get(_obj(_get(self.raw, "client")), "userAgent"))


def parse_event(raw: Any, tenant: str) -> Event:
    """Normalize one LogEvent dict; raise MalformedEvent with a reason when unusable."""
    if not isinstance(raw, dict):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not an object")
    uuid = _str(_get(raw, "uuid"))
    if not uuid:
        raise MalformedEvent("missing uuid")
    event_type = _str(_get(raw, "eventType"))
    if not event_type:
        raise MalformedEvent("missing eventType")
    time = parse_time(_get(raw, "published"))

    actor = _obj(_get(raw, "actor"))
    client = _obj(_get(raw, "client"))
    outcome = _obj(_get(raw, "outcome"))
    security = _obj(_get(raw, "securityContext"))
    auth_ctx = _obj(_get(raw, "authenticationContext"))
    transaction = _obj(_get(raw, "transaction"))
    debug = _lower_keys(_obj(_get(_obj(_get(raw, "debugContext")), "debugData")))
    geo_ctx = _obj(_get(client, "geographicalContext"))
    location = _obj(_get(geo_ctx, "geolocation"))

    actor_id = _str(_get(actor, "id"))
    actor_type = _str(_get(actor, "type"))
    actor_login = _str(_get(actor, "alternateId"))
    factor = _str(debug.get("factor")) or None
    behaviors = debugdata.parse_kv_map(debug.get("behaviors"))
    risk = debugdata.parse_kv_map(debug.get("risk"))
    if not behaviors or not risk:
        log_only = debugdata.parse_json_map(debug.get("logonlysecuritydata"))
        behaviors = behaviors or debugdata.parse_kv_map(log_only.get("behaviors"))
        risk = risk or debugdata.parse_kv_map(log_only.get("risk"))

    result = _str(_get(outcome, "result")).upper()
    reason = _str(_get(outcome, "reason"))
    return Event(
        tenant=tenant,
        uuid=uuid,
        time=time,
        event_type=event_type,
        outcome=result,
        outcome_reason=reason,
        actor_id=actor_id,
        actor_type=actor_type,
        actor_login=actor_login,
        actor_name=_str(_get(actor, "displayName")),
        is_human=_is_human(actor_id, actor_type, actor_login),
        ip=_str(_get(client, "ipAddress")) or None,
        geo=Geo(
            city=_str(_get(geo_ctx, "city")) or None,
            state=_str(_get(geo_ctx, "state")) or None,
            country=_str(_get(geo_ctx, "country")) or None,
            lat=_float(_get(location, "lat")),
            lon=_float(_get(location, "lon")),
        ),
        asn=_int(_get(security, "asNumber")),
        as_org=_str(_get(security, "asOrg")) or None,
        is_proxy=debugdata.parse_bool(_get(security, "isProxy")) or _anonymous_tunnel(debug),
        user_agent=_str(_get(_obj(_get(client, "userAgent")), "rawUserAgent")) or None,
        client_id=_str(_get(client, "id")) or None,
        session_id=_str(_get(auth_ctx, "externalSessionId")) or None,
        root_session_id=_str(_get(auth_ctx, "rootSessionId")) or None,
        transaction_id=_str(_get(transaction, "id")) or None,
        api_token_id=_str(_get(_obj(_get(transaction, "detail")), "requestApiTokenId")) or None,
        factor=factor,
        push=_push_response(event_type, result, reason, factor, debug),
        behaviors=behaviors,
        risk=risk,
        threat_suspected=debugdata.parse_bool(debug.get("threatsuspected")),
        debug=debug,
        targets=tuple(t for t in _list(_get(raw, "target")) if isinstance(t, dict)),
        raw=raw,
    )


def parse_time(value: Any) -> float:
    """``published`` as epoch seconds; accepts ISO-8601 with Z and Panther's space form."""
    if not isinstance(value, str) or not value:
        raise MalformedEvent("missing published")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedEvent(f"unparseable published {text[:40]!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


_OKTA_VERIFY_FACTORS = {"OKTA_VERIFY_PUSH", "PUSH", "OKTA_VERIFY"}


def _push_response(event_type: str, result: str, reason: str, factor: str | None, debug: dict) -> PushResponse | None:
    """One meaning for Classic and Identity Engine push events (docs/okta-quirks.md#push-events)."""
    if event_type == "system.push.send_factor_verify_push":
        return PushResponse.SENT
    if event_type == "user.mfa.okta_verify.deny_push":
        return PushResponse.DENY
    if event_type == "user.mfa.okta_verify":
        return PushResponse.ACCEPT if result == "SUCCESS" else None
    if event_type not in ("user.authentication.auth_via_mfa", "user.authentication.verify"):
        return None
    push_only = _str(debug.get("pushonlyresponsetype"))
    number_challenge = _str(debug.get("pushwithnumberchallengeresponsetype"))
    if factor not in _OKTA_VERIFY_FACTORS and not push_only and not number_challenge:
        return None
    if result in ("UNANSWERED", "ABANDONED"):
        return PushResponse.TIMEOUT
    if number_challenge == "OV_WITH_CHALLENGE_RESPONSE_INVALID":
        return PushResponse.WRONG_NUMBER
    if result == "SUCCESS":
        return PushResponse.ACCEPT
    if result == "FAILURE" and (push_only == "OV_RESPONSE_DENY" or reason == "INVALID_CREDENTIALS"):
        return PushResponse.DENY
    return None


def _is_human(actor_id: str, actor_type: str, login: str) -> bool:
    if actor_type and actor_type.lower() != "user":
        return False
    return not (login == "system@okta.com" or actor_id.startswith("okta"))


def _anonymous_tunnel(debug: dict) -> bool:
    return any(
        isinstance(t, dict) and t.get("anonymous") is True for t in debugdata.parse_json_list(debug.get("tunnels"))
    )


def _get(obj: dict, name: str) -> Any:
    """Wire keys are camelCase; some exports (Panther) lower-case them."""
    value = obj.get(name)
    if value is None:
        value = obj.get(name.lower())
    return value


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _lower_keys(debug: dict) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in debug.items()}


def _str(value: Any) -> str:
    if value is None or value == "null":
        return ""
    return value if isinstance(value, str) else str(value)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "", "null") else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "", "null") else None
    except (TypeError, ValueError):
        return None
