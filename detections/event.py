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
import math
import time as _clock
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detections import debugdata

OKTA_ADMIN_CONSOLE_CLIENT = "okta.b58d5b75-07d4-5f25-bf59-368a1261a405"

# The edge: every value of an event is chosen, through the sign-in, by whoever signs in. Out of range or wrongly
# typed values are refused (identity of the event) or neutralised with a reason (everything else), so detections
# only ever see values they can compute with.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()  # older than Okta's System Log: not a real `published`
MAX_FUTURE_S = 86400.0  # clock skew tolerated ahead of ours: a far-future time would blind every window
MAX_ID = 256  # uuid, eventType
MAX_TEXT = 2048  # any other string (logins, user agents, cities ...): longer is truncated
MAX_DEBUG_VALUE = 8 * MAX_TEXT  # a debugData value (JSON or Java-map text inside): longer is dropped
MAX_ASN = 2**32 - 1


SUCCESSFUL_SIGN_INS = frozenset({"user.session.start", "user.authentication.sso"})


class MalformedEvent(ValueError):
    """The record is not a usable LogEvent; the reason goes to the dead-letter record."""


class PushResponse(enum.StrEnum):
    SENT = "sent"
    ACCEPT = "accept"
    DENY = "deny"
    TIMEOUT = "timeout"
    WRONG_NUMBER = "wrong_number"


# Not frozen, and neither is Event: a frozen dataclass's __init__ pays an object.__setattr__ per field (~24 % of
# parse_event). Only parse_event builds them and nothing assigns to them after: treat both as immutable.
@dataclass(slots=True)
class Geo:
    city: str | None = None
    state: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(slots=True)
class Event:
    """One LogEvent, reduced to what detections reason about. ``raw`` keeps the original. Read-only by
    convention (see Geo)."""

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
    ua_os: str | None  # client.userAgent.os
    ua_browser: str | None  # client.userAgent.browser
    dt_hash: str | None  # debugData.dtHash: the device-token cookie hash (a new value = a new browser)
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
    invalid: tuple[str, ...] = ()  # values neutralised at the edge, each with its reason

    @property
    def is_password_as_factor(self) -> bool:
        return self.factor == "PASSWORD_AS_FACTOR"

    def behavior_positive(self, name: str) -> bool:
        """UNKNOWN/BAD_REQUEST mean "no history", not evidence (docs/okta-quirks.md#behaviors)."""
        return self.behaviors.get(name) == "POSITIVE"

    # -- additive helpers (read from already-parsed fields or ``raw``) --

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


def parse_event(raw: Any, tenant: str, *, now: float | None = None) -> Event:
    """Normalize one LogEvent dict; raise MalformedEvent with a reason when unusable, and only that.

    ``now`` (default: the wall clock) bounds ``published`` from above.
    """
    if not isinstance(raw, dict):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not an object")
    try:
        return _parse(raw, tenant, now)
    except MalformedEvent:
        raise
    except Exception as exc:  # a shape no rule above foresaw: still a reason, never a crash
        raise MalformedEvent(f"unusable event ({type(exc).__name__}: {str(exc)[:120]})") from None


def _parse(raw: dict[str, Any], tenant: str, now: float | None) -> Event:
    invalid: list[str] = []
    uuid = _identifier(raw, "uuid")
    event_type = _identifier(raw, "eventType")
    time = parse_time(_get(raw, "published"), now)

    actor = _member(raw, "actor")
    client = _member(raw, "client")
    outcome = _member(raw, "outcome")
    security = _member(raw, "securityContext")
    auth_ctx = _member(raw, "authenticationContext")
    transaction = _member(raw, "transaction")
    debug = _debug_data(_member(_member(raw, "debugContext"), "debugData"), invalid)
    geo_ctx = _member(client, "geographicalContext")
    location = _member(geo_ctx, "geolocation")
    agent = _member(client, "userAgent")

    def text(obj: dict, name: str) -> str:  # _get and _text's usual cases inline: ~20 fields an event
        value = obj.get(name)
        if value is None:
            value = obj.get(name.lower())
            if value is None:  # absent or JSON null: many of an event's fields
                return ""
        if type(value) is str and len(value) <= MAX_TEXT and value != "null":
            return value
        return _text(value, name, invalid)

    actor_id = text(actor, "id")
    actor_type = text(actor, "type")
    actor_login = text(actor, "alternateId")
    factor = _text(debug.get("factor"), "factor", invalid) or None
    behaviors = debugdata.parse_kv_map(debug.get("behaviors"))
    risk = debugdata.parse_kv_map(debug.get("risk"))
    if (not behaviors or not risk) and (log_only := debug.get("logonlysecuritydata")) is not None:
        log_only = debugdata.parse_json_map(log_only)
        behaviors = behaviors or debugdata.parse_kv_map(log_only.get("behaviors"))
        risk = risk or debugdata.parse_kv_map(log_only.get("risk"))

    result = text(outcome, "result").upper()
    reason = text(outcome, "reason")
    lat, lon = _coordinates(_get(location, "lat"), _get(location, "lon"), invalid)
    # Positional, in the order of the fields (each named beside it; event_test checks every one): a call with 35
    # keywords costs ~16k more instructions than this (CPython matches each keyword against every parameter).
    return Event(
        tenant,  # tenant
        uuid,  # uuid
        time,  # time
        event_type,  # event_type
        result,  # outcome
        reason,  # outcome_reason
        actor_id,  # actor_id
        actor_type,  # actor_type
        actor_login,  # actor_login
        text(actor, "displayName"),  # actor_name
        _is_human(actor_id, actor_type, actor_login),  # is_human
        text(client, "ipAddress") or None,  # ip
        Geo(  # geo
            text(geo_ctx, "city") or None,  # city
            text(geo_ctx, "state") or None,  # state
            text(geo_ctx, "country") or None,  # country
            lat,  # lat
            lon,  # lon
        ),
        _asn(_get(security, "asNumber"), invalid),  # asn
        text(security, "asOrg") or None,  # as_org
        debugdata.parse_bool(_get(security, "isProxy")) or _anonymous_tunnel(debug.get("tunnels")),  # is_proxy
        text(agent, "rawUserAgent") or None,  # user_agent
        text(agent, "os") or None,  # ua_os
        text(agent, "browser") or None,  # ua_browser
        _text(debug.get("dthash"), "dtHash", invalid) or None,  # dt_hash
        text(client, "id") or None,  # client_id
        text(auth_ctx, "externalSessionId") or None,  # session_id
        text(auth_ctx, "rootSessionId") or None,  # root_session_id
        text(transaction, "id") or None,  # transaction_id
        text(_member(transaction, "detail"), "requestApiTokenId") or None,  # api_token_id
        factor,  # factor
        _push_response(event_type, result, reason, factor, debug),  # push
        behaviors,  # behaviors
        risk,  # risk
        debugdata.parse_bool(debug.get("threatsuspected")),  # threat_suspected
        debug,  # debug
        _targets(_get(raw, "target")),  # targets
        raw,  # raw
        tuple(invalid),  # invalid
    )


def parse_time(value: Any, now: float | None = None) -> float:
    """``published`` as epoch seconds; accepts ISO-8601 with Z and Panther's space form. Refused outside
    [2000, now + 1 day]: a forged far-future time would move every window's high-water mark past the attack."""
    if not isinstance(value, str) or not value:
        raise MalformedEvent("missing published")
    text = value.strip()[:64]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    except (ValueError, OverflowError) as exc:
        raise MalformedEvent(f"unparseable published {text[:40]!r}") from exc
    latest = (_clock.time() if now is None else now) + MAX_FUTURE_S
    if not EARLIEST <= seconds <= latest:
        raise MalformedEvent(f"published {text[:40]!r} is outside 2000-01-01 .. now + 1 day")
    return seconds


_OKTA_VERIFY_FACTORS = {"OKTA_VERIFY_PUSH", "PUSH", "OKTA_VERIFY"}
# The event types ``_push_response`` can give a meaning: the push detections declare them (engine routing).
PUSH_EVENT_TYPES = frozenset(
    {
        "system.push.send_factor_verify_push",
        "user.mfa.okta_verify.deny_push",
        "user.mfa.okta_verify",
        "user.authentication.auth_via_mfa",
        "user.authentication.verify",
    }
)


def _push_response(event_type: str, result: str, reason: str, factor: str | None, debug: dict) -> PushResponse | None:
    """One meaning for Classic and Identity Engine push events (docs/okta-quirks.md#push-events)."""
    if event_type == "system.push.send_factor_verify_push":
        return PushResponse.SENT
    if event_type == "user.mfa.okta_verify.deny_push":
        return PushResponse.DENY
    if event_type == "user.mfa.okta_verify":
        return PushResponse.ACCEPT if result == "SUCCESS" else None
    if event_type not in PUSH_EVENT_TYPES:
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


def _anonymous_tunnel(tunnels: Any) -> bool:
    """``debugData.tunnels`` (a JSON list, as text at Okta) names an anonymous tunnel; most events have none."""
    if tunnels is None:
        return False
    return any(isinstance(t, dict) and t.get("anonymous") is True for t in debugdata.parse_json_list(tunnels))


def _targets(value: Any) -> tuple[dict[str, Any], ...]:
    return tuple(t for t in value if isinstance(t, dict)) if isinstance(value, list) else ()


def _get(obj: dict, name: str) -> Any:
    """Wire keys are camelCase; some exports (Panther) lower-case them."""
    value = obj.get(name)
    if value is None:
        value = obj.get(name.lower())
    return value


def _member(obj: dict, name: str) -> dict:
    """The object under ``name`` (as ``_get``), else an empty one."""
    value = obj.get(name)
    if value is None:
        value = obj.get(name.lower())
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    """Lenient: for values already validated (or read from ``raw`` by the helpers above)."""
    if value is None or value == "null":
        return ""
    return value if isinstance(value, str) else str(value)


def _identifier(raw: dict, name: str) -> str:
    value = _get(raw, name)
    if value is None or value in ("", "null"):
        raise MalformedEvent(f"missing {name}")
    if not isinstance(value, str):
        raise MalformedEvent(f"{name} is a {type(value).__name__}, not a string")
    if len(value) > MAX_ID:
        raise MalformedEvent(f"{name} is {len(value)} characters long (at most {MAX_ID})")
    return value


def _text(value: Any, name: str, invalid: list[str]) -> str:
    """A string field: numbers and booleans as text, objects and lists neutralised, length bounded."""
    if type(value) is str and len(value) <= MAX_TEXT:  # the usual case, tested first: ~20 fields an event
        return "" if value == "null" else value
    if value is None or value == "null":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            invalid.append(f"{name}: not a finite number")
            return ""
        return str(value)
    if not isinstance(value, str):
        invalid.append(f"{name}: a {type(value).__name__}, not a string")
        return ""
    if len(value) > MAX_TEXT:
        invalid.append(f"{name}: {len(value)} characters, truncated to {MAX_TEXT}")
        return value[:MAX_TEXT]
    return value


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string; None for anything else (booleans included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()[:40])
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _coordinates(lat: Any, lon: Any, invalid: list[str]) -> tuple[float | None, float | None]:
    """Both or neither: a latitude in [-90, 90] and a longitude in [-180, 180], finite."""
    if type(lat) is float and type(lon) is float and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
        return lat, lon  # the usual case (NaN and the infinities fail the ranges)
    if lat in (None, "", "null") and lon in (None, "", "null"):
        return None, None
    la, lo = _number(lat), _number(lon)
    if la is None or lo is None or not -90.0 <= la <= 90.0 or not -180.0 <= lo <= 180.0:
        invalid.append(f"geolocation: {str(lat)[:20]!r}, {str(lon)[:20]!r} is not a valid latitude, longitude")
        return None, None
    return la, lo


def _asn(value: Any, invalid: list[str]) -> int | None:
    if type(value) is int and 0 <= value <= MAX_ASN:  # the usual case
        return value
    if value in (None, "", "null"):
        return None
    number = _number(value)
    if number is None or not number.is_integer() or not 0 <= number <= MAX_ASN:
        invalid.append(f"asNumber: {str(value)[:20]!r} is not an AS number")
        return None
    return int(number)


# debugData's keys, lower-cased once: a tenant's events use a few dozen (bounded: made-up keys cost the lower())
_LOWERED: dict[str, str] = {}
_LOWERED_MAX = 4096


def _debug_data(debug: dict, invalid: list[str]) -> dict[str, Any]:
    """``debugData`` with lower-cased keys; its values are strings at Okta (JSON or Java-map text inside).
    Other JSON values pass (some exports decode them), strings are bounded, non-finite numbers dropped."""
    out: dict[str, Any] = {}
    lowered = _LOWERED
    for key, value in debug.items():
        name = lowered.get(key) if type(key) is str else None
        if name is None:
            name = (key if type(key) is str else str(key)).lower()[:MAX_ID]
            if type(key) is str and len(key) <= MAX_ID and len(lowered) < _LOWERED_MAX:
                lowered[key] = name
        if type(value) is str and len(value) <= MAX_DEBUG_VALUE:  # Okta's usual value, tested first
            out[name] = value
            continue
        if isinstance(value, str):
            if len(value) > MAX_DEBUG_VALUE:
                invalid.append(f"debugData.{name}: {len(value)} characters, dropped")
                continue
        elif isinstance(value, float) and not math.isfinite(value):
            invalid.append(f"debugData.{name}: not a finite number")
            continue
        out[name] = value
    return out


def is_successful_sign_in(event: Event) -> bool:
    return event.event_type in SUCCESSFUL_SIGN_INS and event.outcome == "SUCCESS"
