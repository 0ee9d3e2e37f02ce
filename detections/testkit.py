"""Minimal wire-shaped LogEvents for detection tests: only the fields that matter, Okta's spelling."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from detections.event import MalformedEvent, parse_time

_ids = itertools.count(1)
PANTHER_PLACEHOLDER_TIME = "2024-01-01 00:00:00.000"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def panther_fixture(event: dict[str, Any], index: int) -> dict[str, Any]:
    """A Panther rule-test ``Log`` made replayable: a placeholder ``uuid`` and ``published`` where missing.

    Panther's hand-written fixtures often lack ``uuid`` or carry ``published: "redacted"``; parse_event
    rightly rejects those (uuid is the replay key, published the event time), so give them placeholders
    and still require everything else in the fixture to parse.
    """
    event = dict(event)
    if not event.get("uuid"):
        event["uuid"] = f"panther-fixture-{index}"
    published = event.get("published") or event.get("p_event_time")
    try:
        parse_time(published)
    except MalformedEvent:
        published = PANTHER_PLACEHOLDER_TIME
    event["published"] = published
    return event


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


# -- sign-ins with Okta's own geo/network enrichment --------------------------------------------------------------

# name: (city, state, country, lat, lon, asn, asOrg, ip)
PLACES: dict[str, tuple[str, str | None, str, float, float, int, str, str]] = {
    "nyc": ("New York", "New York", "United States", 40.7128, -74.0060, 7922, "comcast", "73.1.2.3"),
    "nyc_mobile": ("New York", "New York", "United States", 40.73, -73.99, 21928, "t-mobile usa", "172.58.10.20"),
    "boston": ("Boston", "Massachusetts", "United States", 42.3601, -71.0589, 7015, "comcast", "24.60.1.2"),
    "chicago": ("Chicago", "Illinois", "United States", 41.8781, -87.6298, 7018, "at&t", "99.10.20.30"),
    "dallas_mobile": ("Dallas", "Texas", "United States", 32.7767, -96.7970, 21928, "t-mobile usa", "172.56.7.8"),
    "toronto": ("Toronto", "Ontario", "Canada", 43.6532, -79.3832, 812, "rogers", "99.224.1.2"),
    "london": ("London", "England", "United Kingdom", 51.5074, -0.1278, 2856, "british telecom", "81.2.69.160"),
    "paris": ("Paris", "Ile-de-France", "France", 48.8566, 2.3522, 3215, "orange", "90.5.6.7"),
    "lagos": ("Lagos", "Lagos", "Nigeria", 6.5244, 3.3792, 37148, "globacom", "105.112.1.2"),
    "moscow": ("Moscow", "Moscow", "Russia", 55.7558, 37.6173, 8359, "mts", "95.24.1.2"),
    "singapore": ("Singapore", None, "Singapore", 1.3521, 103.8198, 4773, "singtel", "118.200.1.2"),
    "frankfurt_relay": (
        "Frankfurt",
        "Hesse",
        "Germany",
        50.1109,
        8.6821,
        36183,
        "akamai (apple private relay)",
        "172.225.1.2",
    ),
}

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def sign_in(
    t: float,
    place: str = "nyc",
    *,
    event_type: str = "user.session.start",
    ip: str | None = None,
    proxy: bool = False,
    ua: str = CHROME_MAC,
    os: str = "Mac OS X",
    browser: str = "CHROME",
    dt_hash: str | None = "dt-alice-laptop",
    behaviors: str | None = None,
    risk: str | None = None,
    threat: bool | None = None,
    debug: dict[str, str] | None = None,
    client_id: str | None = None,
    actor: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """An event carrying client geo, ASN and user agent the way Okta enriches it (default: a SUCCESS sign-in)."""
    city, state, country, lat, lon, asn, as_org, default_ip = PLACES[place]
    dbg: dict[str, str] = {}
    if dt_hash:
        dbg["dtHash"] = dt_hash
    if behaviors:
        dbg["behaviors"] = behaviors
    if risk:
        dbg["risk"] = risk
    if threat is not None:
        dbg["threatSuspected"] = "true" if threat else "false"
    dbg.update(debug or {})
    event = log_event(
        event_type,
        t,
        ip=ip or default_ip,
        debug=dbg,
        client={
            "ipAddress": ip or default_ip,
            "zone": "null",
            "device": "Computer",
            "id": client_id,
            "userAgent": {"rawUserAgent": ua, "os": os, "browser": browser},
            "geographicalContext": {
                "city": city,
                "state": state,
                "country": country,
                "postalCode": None,
                "geolocation": {"lat": lat, "lon": lon},
            },
        },
        securityContext={"asNumber": asn, "asOrg": as_org, "isp": as_org, "domain": None, "isProxy": proxy},
        **kw,
    )
    if actor is not None:
        event["actor"] = actor
    return event


def failed_sign_in(
    t: float,
    login: str,
    *,
    ip: str = "203.0.113.9",
    reason: str = "INVALID_CREDENTIALS",
    user: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A wrong password on user.session.start; unknown usernames keep the attempted login, id "unknown"."""
    return log_event(
        "user.session.start",
        t,
        user=user or f"00u{login.split('@')[0]}",
        login=login,
        result="FAILURE",
        reason=reason,
        ip=ip,
        session=None,
        **kw,
    )


def unknown_user_failure(t: float, login: str, *, ip: str = "203.0.113.9", **kw: Any) -> dict[str, Any]:
    """A wrong sign-in for a login that matches no user: Okta logs actor id "unknown", the typed login kept."""
    event = failed_sign_in(t, login, ip=ip, reason="VERIFICATION_ERROR", **kw)
    event["actor"] = {"id": "unknown", "type": "User", "alternateId": login, "displayName": "unknown"}
    return event


FASTPASS_PHISHING_REASON = "FastPass declined phishing attempt"
OKTA_VERIFY_UA = "B7F62B65BN.com.okta.mobile/3.13.4 OktaDeviceSDK/0.0.1 macOS/13.3.1 Apple/MacBookPro18,2"


def fastpass_phishing_block(t: float, *, ip: str = "45.137.21.9", **kw: Any) -> dict[str, Any]:
    """FastPass refused a sign-in that came through a page that is not the org's (the AiTM proxy at ``ip``)."""
    debug = {"factor": "SIGNED_NONCE", **kw.pop("debug", {})}
    return log_event(
        "user.authentication.auth_via_mfa",
        t,
        result="FAILURE",
        reason=FASTPASS_PHISHING_REASON,
        ip=ip,
        debug=debug,
        **kw,
    )


def oie_password_failure(t: float, login: str, *, ip: str = "203.0.113.9", **kw: Any) -> dict[str, Any]:
    return password_as_factor_failure(t, user=f"00u{login.split('@')[0]}", login=login, ip=ip, session=None, **kw)


SYSTEM_ACTOR = {"id": "0oa1system", "type": "SystemPrincipal", "alternateId": "system@okta.com", "displayName": "Okta"}
ADMIN_ACTOR = {"id": "00uADMIN", "type": "User", "alternateId": "admin@acme.com", "displayName": "Ada Admin"}


def user_target(user: str = "00u1alice", login: str = "alice@acme.com") -> dict[str, Any]:
    return {"id": user, "type": "User", "alternateId": login, "displayName": login, "detailEntry": None}


def admin_event(
    event_type: str,
    t: float,
    *,
    targets: list[dict[str, Any]] | None = None,
    actor: dict[str, Any] | None = None,
    debug: dict[str, str] | None = None,
    result: str = "SUCCESS",
    **kw: Any,
) -> dict[str, Any]:
    """An admin/config-change event (actor = the admin, targets = what changed)."""
    event = log_event(event_type, t, result=result, debug=debug, **kw)
    event["actor"] = dict(actor or ADMIN_ACTOR)
    event["target"] = targets
    return event


def suspicious_activity_report(
    t: float, reported_type: str = "user.session.start", *, reported_result: str | None = None, **kw: Any
) -> dict[str, Any]:
    debug = {
        "suspiciousActivityEventType": reported_type,
        "suspiciousActivityEventId": "evt-reported-1",
        "suspiciousActivityEventIp": "185.220.101.4",
        "suspiciousActivityEventCountry": "Russia",
        **kw.pop("debug", {}),
    }
    if reported_result:
        debug["suspiciousActivityEventResult"] = reported_result
    return log_event("user.account.report_suspicious_activity_by_enduser", t, debug=debug, **kw)


def threat_detected(
    t: float,
    ip: str = "185.220.101.4",
    *,
    result: str = "DENY",
    reason: str = "Password Spray",
    detections: str = '{"Password Spray":"HIGH"}',
    **kw: Any,
) -> dict[str, Any]:
    """ThreatInsight verdict: logged before the user is identified, so the actor is the IP."""
    event = log_event(
        "security.threat.detected",
        t,
        result=result,
        reason=reason,
        ip=ip,
        session=None,
        debug={"threatDetections": detections},
        **kw,
    )
    event["actor"] = {"id": ip, "type": "IP address", "alternateId": "unknown", "displayName": "Unknown"}
    return event


def user_risk_detect(
    t: float,
    *,
    level: str = "HIGH",
    previous: str = "LOW",
    detection: str = "Okta Threat Intelligence",
    reasons: str = "Okta threat intelligence",
    user: str = "00u1alice",
    login: str = "alice@acme.com",
    event_type: str = "user.risk.detect",
) -> dict[str, Any]:
    """ITP entity risk change: logged by Okta itself (system actor), the user is the target."""
    risk = f"{{previousLevel={previous}, level={level}, detectionName={detection}, reasons={reasons}, issuer=OKTA}}"
    return admin_event(
        event_type, t, actor=SYSTEM_ACTOR, targets=[user_target(user, login)], debug={"risk": risk}, session=None
    )


PUSH_ATTACKER = {"ip": "185.220.101.4", "debug": {"behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE}"}}
VICTIM_PHONE = {"ip": "72.69.46.142"}


def push_bombing(
    t0: float,
    denials: int,
    *,
    accept: bool,
    requester: dict[str, Any] = PUSH_ATTACKER,
    spacing: float = 20,
    **who: Any,
) -> list[dict[str, Any]]:
    """Each prompt is requested by the sign-in (the attacker) and answered on the victim's phone."""
    raws = []
    for i in range(denials + accept):
        t = t0 + i * spacing
        raws.append(push_sent(t, **requester, **who))
        answer = oie_push_accept if accept and i == denials else oie_push_deny
        raws.append(answer(t + 0.4, **VICTIM_PHONE, **who))
    return raws


# -- factor lifecycle: resets (the user is the target) and enrolments ----------------------------------------------

ALICE = user_target()  # the user as an actor: self-service resets and enrolments


def factor_reset(
    t: float,
    place: str = "chicago",
    *,
    event_type: str = "user.mfa.factor.reset_all",
    by: dict[str, Any] = ADMIN_ACTOR,
    user: str = "00u1alice",
    login: str = "alice@acme.com",
    dt_hash: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """An MFA reset (``reset_all``) or unenrolment (``deactivate``): the admin — or the user — acts on the user."""
    event = sign_in(t, place, event_type=event_type, actor=dict(by), dt_hash=dt_hash, **kw)
    event["target"] = [user_target(user, login)]
    return event


def factor_activate(
    t: float,
    place: str = "nyc",
    *,
    user: str = "00u1alice",
    login: str = "alice@acme.com",
    authenticator: str = "Okta Verify",
    **kw: Any,
) -> dict[str, Any]:
    """A factor enrolment: the user enrols, the targets are the user and the new AuthenticatorEnrollment."""
    event = sign_in(t, place, event_type="user.mfa.factor.activate", actor=user_target(user, login), **kw)
    event["target"] = [
        user_target(user, login),
        {"id": "pfdNEW", "type": "AuthenticatorEnrollment", "alternateId": "unknown", "displayName": authenticator},
    ]
    return event


# -- a push prompt and its answer, each with its own network ------------------------------------------------------

OKTA_VERIFY_IOS = "OktaVerify/9.20.0 iOS/17.4 Apple/iPhone15,2"
ATTACKER_BEHAVIORS = "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE}"


def push_prompt(
    t: float,
    place: str = "moscow",
    *,
    behaviors: str | None = ATTACKER_BEHAVIORS,
    authn: str | None = "authn-1",
    **kw: Any,
) -> dict[str, Any]:
    """``system.push.send_factor_verify_push``: logged with the client of the sign-in that requested it."""
    debug = {"authnRequestId": authn} if authn else {}
    return sign_in(t, place, event_type="system.push.send_factor_verify_push", behaviors=behaviors, debug=debug, **kw)


def push_answer(
    t: float, place: str = "nyc", *, accept: bool = True, authn: str | None = "authn-1", **kw: Any
) -> dict[str, Any]:
    """The OIE answer (``auth_via_mfa``, Okta Verify push): logged with the client of the phone that answered."""
    debug = {
        "factor": "OKTA_VERIFY_PUSH",
        "pushOnlyResponseType": "OV_RESPONSE_APPROVE" if accept else "OV_RESPONSE_DENY",
    }
    if authn:
        debug["authnRequestId"] = authn
    return sign_in(
        t,
        place,
        event_type="user.authentication.auth_via_mfa",
        result="SUCCESS" if accept else "FAILURE",
        reason=None if accept else "INVALID_CREDENTIALS",
        debug=debug,
        ua=OKTA_VERIFY_IOS,
        os="iOS",
        browser="UNKNOWN",
        dt_hash=None,
        **kw,
    )
