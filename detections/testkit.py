"""Minimal wire-shaped LogEvents for detection tests: only the fields that matter, Okta's spelling."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

_ids = itertools.count(1)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_event(
    event_type: str,
    t: float,
    *,
    user: str = "00u1alice",
    login: str = "alice@acme.com",
    result: str = "SUCCESS",
    reason: str | None = None,
    ip: str = "73.1.2.3",
    debug: dict[str, str] | None = None,
    session: str | None = "idxSESSION1",
    uuid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event = {
        "uuid": uuid or f"evt-{next(_ids):08d}",
        "published": iso(t),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "actor": {"id": user, "type": "User", "alternateId": login, "displayName": login, "detailEntry": None},
        "outcome": {"result": result, "reason": reason},
        "client": {"ipAddress": ip, "zone": "null", "device": "Computer", "id": None},
        "authenticationContext": {"externalSessionId": session},
        "securityContext": {"asNumber": 7922, "asOrg": "comcast", "isp": "comcast", "domain": None, "isProxy": False},
        "debugContext": {"debugData": dict(debug or {})},
        "transaction": {"type": "WEB", "id": f"tx{next(_ids)}", "detail": {}},
        "target": None,
    }
    event.update(extra)
    return event


def oie_push_deny(t: float, **kw: Any) -> dict[str, Any]:
    debug = {"factor": "OKTA_VERIFY_PUSH", "pushOnlyResponseType": "OV_RESPONSE_DENY", **kw.pop("debug", {})}
    return log_event(
        "user.authentication.auth_via_mfa", t, result="FAILURE", reason="INVALID_CREDENTIALS", debug=debug, **kw
    )


def oie_push_accept(t: float, **kw: Any) -> dict[str, Any]:
    debug = {"factor": "OKTA_VERIFY_PUSH", "pushOnlyResponseType": "OV_RESPONSE_APPROVE", **kw.pop("debug", {})}
    return log_event("user.authentication.auth_via_mfa", t, debug=debug, **kw)


def classic_push_deny(t: float, **kw: Any) -> dict[str, Any]:
    return log_event("user.mfa.okta_verify.deny_push", t, result="FAILURE", **kw)


def push_sent(t: float, **kw: Any) -> dict[str, Any]:
    return log_event("system.push.send_factor_verify_push", t, **kw)


def password_as_factor_failure(t: float, **kw: Any) -> dict[str, Any]:
    return log_event(
        "user.authentication.auth_via_mfa",
        t,
        result="FAILURE",
        reason="INVALID_CREDENTIALS",
        debug={"factor": "PASSWORD_AS_FACTOR"},
        **kw,
    )
