"""Okta's JSON objects -> inventory records (detector/inventory/model.py), totally.

Why one place: the directory is written by the tenant's admins and users (a group name, an app label, a
login) and, through a compromised admin, by an attacker, so every object is validated as untrusted input.
A malformed object is skipped and counted with its reason (``Parser.skipped``), never raised: one bad
object must not stop a sync of 50 000 good ones. Strings are cut to a bound, ids must look like Okta ids,
times that do not parse are None.

Policies are flattened into the named ``settings`` the posture checks read, so that they never walk Okta's
nested JSON (``POLICY_SETTINGS`` lists them).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from detector.inventory.model import (
    ROLE_ASSIGNEE_GROUP,
    ROLE_ASSIGNEE_USER,
    ApiToken,
    App,
    AppAssignment,
    Factor,
    Grant,
    Group,
    IdentityProvider,
    Membership,
    OrgSettings,
    Policy,
    RoleAssignment,
    User,
)

MAX_TEXT = 256  # names, labels, logins
MAX_WORD = 64  # statuses, types, enum-like values
MAX_LIST = 100  # entries kept of a list inside one object (enrolment keys)
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_MIN_YEAR, _MAX_YEAR = 1990, 2200

# The flattened policy settings, by policy type: what each posture check may read.
POLICY_SETTINGS: dict[str, dict[str, str]] = {
    "PASSWORD": {
        "password_min_length": "int: complexity.minLength",
        "password_complexity": "int 0..4: character classes required (lower, upper, number, symbol)",
        "password_history": "int: age.historyCount (0: none remembered)",
        "password_max_age_days": "int: age.maxAgeDays (0: never expires)",
    },
    "MFA_ENROLL": {
        "enroll_required": "list: authenticator (or classic factor) keys whose enrolment is REQUIRED",
    },
    "OKTA_SIGN_ON": {
        "max_session_minutes": "int: the longest maxSessionLifetimeMinutes of the active rules (0: no limit)",
        "max_idle_minutes": "int: the longest maxSessionIdleMinutes of the active rules",
        "persistent_cookie": "bool: an active rule keeps the session in a persistent cookie",
    },
    "ACCESS_POLICY": {
        "phishing_resistant": "bool: every active allowing rule requires a phishing-resistant possession factor",
        "admin_console": "bool: this policy guards the Okta Admin Console",
        "admin_console_phishing_resistant": "bool (admin console policy only): as phishing_resistant",
    },
}


class Malformed(Exception):
    """Why one object was skipped (internal: ``Parser`` counts it, nobody else sees it)."""


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A bounded string; anything that is not a string is ''."""
    return value[:limit] if isinstance(value, str) else ""


def okta_id(value: Any, what: str = "id") -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise Malformed(f"{what} is not an Okta id")
    return value


def epoch(value: Any) -> float | None:
    """An ISO-8601 time (Okta's ``2024-01-02T03:04:05.000Z``) as epoch seconds; None when absent or bad."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        return None
    ts = parsed.timestamp()
    return ts if math.isfinite(ts) else None


def _obj(value: Any, what: str = "object") -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def _sub(obj: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """A nested object, or {} when any step is missing or not an object."""
    for key in path:
        value = obj.get(key)
        obj = value if isinstance(value, dict) else {}
    return obj


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2**31) <= value < 2**31 else None


def _link_id(obj: Mapping[str, Any], rel: str) -> str:
    """The last path segment of ``_links[rel].href`` when it is an id (e.g. an app's access policy)."""
    href = _sub(obj, "_links", rel).get("href")
    if not isinstance(href, str):
        return ""
    last = href[:2048].rstrip("/").rsplit("/", 1)[-1]
    return last if _ID.match(last) else ""


class Ref(NamedTuple):
    """An object a list only names (a role holder of Okta's assignees list): whose lists to read."""

    id: str


def assignee(obj: Any) -> Ref:
    return Ref(okta_id(_obj(obj).get("id")))


def user(obj: Any) -> User:
    o = _obj(obj)
    status = text(o.get("status"), MAX_WORD)
    if not status:
        raise Malformed("user has no status")
    return User(
        id=okta_id(o.get("id")),
        login=text(_sub(o, "profile").get("login")),
        status=status,
        created=epoch(o.get("created")),
        activated=epoch(o.get("activated")),
        last_login=epoch(o.get("lastLogin")),
        password_changed=epoch(o.get("passwordChanged")),
        status_changed=epoch(o.get("statusChanged")),
    )


def group(obj: Any) -> Group:
    o = _obj(obj)
    return Group(okta_id(o.get("id")), text(_sub(o, "profile").get("name")), text(o.get("type"), MAX_WORD))


def membership(obj: Any, *, group_id: str) -> Membership:
    """A member of ``group_id`` (a User object of ``GET /api/v1/groups/{id}/users``)."""
    return Membership(okta_id(group_id, "group id"), okta_id(_obj(obj).get("id"), "user id"))


def role(obj: Any, *, assignee_type: str, assignee_id: str) -> RoleAssignment:
    """A role assignment of ``GET /api/v1/users/{id}/roles`` or ``/api/v1/groups/{id}/roles``."""
    o = _obj(obj)
    if assignee_type not in (ROLE_ASSIGNEE_USER, ROLE_ASSIGNEE_GROUP):
        raise Malformed("assignee type is neither USER nor GROUP")
    role_type = text(o.get("type"), MAX_WORD)
    if not role_type:
        raise Malformed("role has no type")
    return RoleAssignment(
        id=okta_id(o.get("id")),
        assignee_type=assignee_type,
        assignee_id=okta_id(assignee_id, "assignee id"),
        role_type=role_type,
        label=text(o.get("label")),
        status=text(o.get("status"), MAX_WORD) or "ACTIVE",
        created=epoch(o.get("created")),
    )


def app(obj: Any) -> App:
    o = _obj(obj)
    return App(
        id=okta_id(o.get("id")),
        name=text(o.get("name")),
        label=text(o.get("label")),
        status=text(o.get("status"), MAX_WORD),
        sign_on_mode=text(o.get("signOnMode"), MAX_WORD),
        created=epoch(o.get("created")),
        access_policy=_link_id(o, "accessPolicy"),
    )


def app_assignment(obj: Any, *, app_id: str, assignee_type: str) -> AppAssignment:
    """An AppUser (``/apps/{id}/users``) or ApplicationGroupAssignment (``/apps/{id}/groups``): ``id`` is the
    user's or group's."""
    if assignee_type not in (ROLE_ASSIGNEE_USER, ROLE_ASSIGNEE_GROUP):
        raise Malformed("assignee type is neither USER nor GROUP")
    return AppAssignment(okta_id(app_id, "app id"), assignee_type, okta_id(_obj(obj).get("id"), "assignee id"))


def grant(obj: Any, *, app_id: str) -> Grant:
    o = _obj(obj)
    scope = text(o.get("scopeId"), MAX_TEXT)
    if not scope:
        raise Malformed("grant has no scopeId")
    return Grant(
        id=okta_id(o.get("id")),
        app_id=okta_id(app_id, "app id"),
        scope=scope,
        status=text(o.get("status"), MAX_WORD) or "ACTIVE",
        created=epoch(o.get("created")),
    )


def api_token(obj: Any) -> ApiToken:
    o = _obj(obj)
    network = text(_sub(o, "network").get("connection"), MAX_WORD) or "ANYWHERE"
    return ApiToken(
        id=okta_id(o.get("id")),
        name=text(o.get("name")),
        owner_id=okta_id(o.get("userId"), "userId"),
        client_name=text(o.get("clientName")),
        created=epoch(o.get("created")),
        expires=epoch(o.get("expiresAt")),
        last_used=epoch(o.get("lastUpdated")),
        network=network,
    )


def factor(obj: Any, *, user_id: str) -> Factor:
    o = _obj(obj)
    factor_type = text(o.get("factorType"), MAX_WORD)
    if not factor_type:
        raise Malformed("factor has no factorType")
    return Factor(
        id=okta_id(o.get("id")),
        user_id=okta_id(user_id, "user id"),
        factor_type=factor_type,
        provider=text(o.get("provider"), MAX_WORD),
        status=text(o.get("status"), MAX_WORD) or "ACTIVE",
    )


def idp(obj: Any) -> IdentityProvider:
    o = _obj(obj)
    return IdentityProvider(
        okta_id(o.get("id")), text(o.get("name")), text(o.get("type"), MAX_WORD), text(o.get("status"), MAX_WORD)
    )


def org_settings(obj: Any) -> OrgSettings:
    """``GET /api/v1/threats/configuration``: ThreatInsight's action (none, audit, block)."""
    action = text(_obj(obj).get("action"), MAX_WORD)
    if action not in ("none", "audit", "block"):
        raise Malformed("ThreatInsight action is not none, audit or block")
    return OrgSettings(threat_insight=action)


def policy(obj: Any, rules: Iterable[Mapping[str, Any]] = (), *, admin_console: bool = False) -> Policy:
    """A policy with its (already validated, see ``rule``) rules, its settings flattened by type."""
    o = _obj(obj)
    policy_type = text(o.get("type"), MAX_WORD)
    if not policy_type:
        raise Malformed("policy has no type")
    active = [r for r in rules if r.get("status", "ACTIVE") == "ACTIVE"]
    flatten = _FLATTEN.get(policy_type)
    settings = flatten(_sub(o, "settings"), active) if flatten else {}
    if policy_type == "ACCESS_POLICY":
        settings["admin_console"] = admin_console
        if admin_console:
            settings["admin_console_phishing_resistant"] = settings["phishing_resistant"]
    return Policy(
        id=okta_id(o.get("id")),
        type=policy_type,
        name=text(o.get("name")),
        status=text(o.get("status"), MAX_WORD),
        priority=_int(o.get("priority")) or 0,
        settings=settings,
    )


def rule(obj: Any) -> dict[str, Any]:
    """A policy rule, checked enough to flatten (an object with an id); the flatteners read it defensively."""
    o = _obj(obj, "rule")
    okta_id(o.get("id"), "rule id")
    return dict(o)


def _password(settings: Mapping[str, Any], _rules: list[Mapping[str, Any]]) -> dict[str, Any]:
    complexity = _sub(settings, "password", "complexity")
    age = _sub(settings, "password", "age")
    classes = sum(
        1 for k in ("minLowerCase", "minUpperCase", "minNumber", "minSymbol") if (_int(complexity.get(k)) or 0) > 0
    )
    return {
        "password_min_length": _int(complexity.get("minLength")),
        "password_complexity": classes,
        "password_history": _int(age.get("historyCount")) or 0,
        "password_max_age_days": _int(age.get("maxAgeDays")) or 0,
    }


def _mfa_enroll(settings: Mapping[str, Any], _rules: list[Mapping[str, Any]]) -> dict[str, Any]:
    required: set[str] = set()
    authenticators = settings.get("authenticators")
    for entry in authenticators[:MAX_LIST] if isinstance(authenticators, list) else ():
        if isinstance(entry, dict) and _sub(entry, "enroll").get("self") == "REQUIRED":
            key = text(entry.get("key"), MAX_WORD)
            if key:
                required.add(key)
    factors = settings.get("factors")
    for key, entry in list(factors.items())[:MAX_LIST] if isinstance(factors, dict) else ():
        if isinstance(entry, dict) and _sub(entry, "enroll").get("self") == "REQUIRED":
            required.add(text(key, MAX_WORD))
    return {"enroll_required": sorted(required - {""})}


def _sign_on(_settings: Mapping[str, Any], rules: list[Mapping[str, Any]]) -> dict[str, Any]:
    sessions = [_sub(r, "actions", "signon", "session") for r in rules]
    lifetimes = [v for s in sessions if (v := _int(s.get("maxSessionLifetimeMinutes"))) is not None]
    idles = [v for s in sessions if (v := _int(s.get("maxSessionIdleMinutes"))) is not None]
    unlimited = any(v <= 0 for v in lifetimes)
    return {
        "max_session_minutes": 0 if unlimited else max(lifetimes, default=None),
        "max_idle_minutes": max(idles, default=None),
        "persistent_cookie": any(s.get("usePersistentCookie") is True for s in sessions),
    }


def _access(_settings: Mapping[str, Any], rules: list[Mapping[str, Any]]) -> dict[str, Any]:
    allowing = [r for r in rules if _sub(r, "actions", "appSignOn").get("access", "ALLOW") == "ALLOW"]
    return {"phishing_resistant": bool(allowing) and all(_rule_phishing_resistant(r) for r in allowing)}


def _rule_phishing_resistant(r: Mapping[str, Any]) -> bool:
    """Only one constraint object needs to be met, so each must require a phishing-resistant possession."""
    constraints = _sub(r, "actions", "appSignOn", "verificationMethod").get("constraints")
    if not isinstance(constraints, list) or not constraints:
        return False
    return all(
        isinstance(c, dict) and _sub(c, "possession").get("phishingResistant") == "REQUIRED"
        for c in constraints[:MAX_LIST]
    )


_FLATTEN: dict[str, Callable[[Mapping[str, Any], list[Mapping[str, Any]]], dict[str, Any]]] = {
    "PASSWORD": _password,
    "MFA_ENROLL": _mfa_enroll,
    "OKTA_SIGN_ON": _sign_on,
    "ACCESS_POLICY": _access,
}


class Parser:
    """Parses objects, counting what it skipped: ``skipped[(kind, reason)]``."""

    def __init__(self) -> None:
        self.skipped: Counter[tuple[str, str]] = Counter()

    def one(self, kind: str, parse: Callable[..., Any], obj: Any, **context: Any) -> Any | None:
        """``parse(obj, **context)``, or None (counted) when the object is malformed."""
        try:
            return parse(obj, **context)
        except Malformed as exc:
            self.skipped[(kind, str(exc))] += 1
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            self.skipped[(kind, f"malformed ({type(exc).__name__})")] += 1
        return None

    def many(self, kind: str, parse: Callable[..., Any], objs: Iterable[Any], **context: Any) -> list[Any]:
        return [r for r in (self.one(kind, parse, obj, **context) for obj in objs) if r is not None]

    def skipped_by_kind(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (kind, _), n in self.skipped.items():
            out[kind] += n
        return dict(out)
