"""Passwords typed into the username field never leave the poller (or replay) in clear text.

Why: users often type their password as the username; Okta then logs a failed
sign-in whose ``actor.alternateId`` is that password, with actor id ``unknown``
(no user matched; Sigma PR #4158). Stored as it is, it would sit in the SQLite
bus, Kafka, detection state, findings, logs and the console. It is replaced at
the edge, before anything stores or prints it, by ``redacted:hmac:<12 hex>``:
HMAC-SHA256 of the lower-cased string (as the detections count logins) with a
per-deployment key, truncated to 48 bits. The same typed string always maps to
the same marker, so spray, stuffing and brute-force counts are unchanged, and
without the key the password can be neither recovered nor guessed offline.

The rule. A string is a *candidate* when it is

* the ``actor.alternateId``, or the ``alternateId`` of a ``target[]`` of type
  User, whose ``id`` is ``unknown``, ``null`` or empty (a matched user's login is
  a login, never a password),
* on a failed sign-in: ``user.session.start`` or ``user.authentication.*`` with
  outcome FAILURE, or ``user.account.lock`` (a superset of the failures
  ``detections.common.is_password_failure`` counts),
* and not empty, Okta's placeholder ``unknown`` or a marker already.

A candidate is kept as typed when it looks like a login, otherwise redacted:

1. ``local@domain`` where ``domain`` is one of the tenant's login domains and
   ``local`` has no space (a mistyped login of this org);
2. a well-formed email address (letters, digits, ``._%+'-`` before the ``@``,
   dot-separated labels and an alphabetic top-level domain after it): unknown
   addresses are the credential-stuffing signal and must stay readable;
3. no ``@`` at all, only when the tenant has logins without ``@``: a username
   token (1-64 of letters, digits, ``._-``) that does not mix upper case, lower
   case and digits (Okta's default password complexity).

The tenant's login domains are stated in config (``context.login_domains``:
then nothing is learned and every poller judges alike) or learned from the
logins of matched users (actor or User target with a real id, any event type;
at most 64 domains), which also tells whether the tenant has logins without
``@``. Before anything is known, logins are assumed to be email addresses
(Okta's default username format): every candidate without a well-formed
``@domain`` is redacted. A page is learned from before it is redacted.

False positives (a login redacted; it still counts, only unreadable): a bare
username typed before any bare login was matched or when domains are stated;
``john@acme`` (no top-level domain); ``bob smith@acme.com``; a mixed-case bare
login with digits (``JSmith2``). False negatives (a password kept): one that is
itself a well-formed email address, or, in a tenant with bare logins, a plain
token such as ``hunter2`` or ``summer2024``. The ``displayName`` of the same
actor or target is redacted with the ``alternateId`` when it repeats it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Any

MARKER_PREFIX = "redacted:hmac:"
MARKER_HEX = 12
MIN_KEY_BYTES = 16
MAX_LEARNED_DOMAINS = 64

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}", re.ASCII)
_BARE_LOGIN = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_NO_USER_IDS = frozenset({"", "unknown", "null"})
_PLACEHOLDERS = frozenset({"", "unknown"})


def is_failed_sign_in(event: dict[str, Any]) -> bool:
    """The event types whose actor or User target may be a string typed into the username field."""
    event_type = _str(_get(event, "eventType"))
    if event_type == "user.account.lock":
        return True
    outcome = _get(event, "outcome")
    result = _str(_get(outcome, "result")).upper() if isinstance(outcome, dict) else ""
    return result == "FAILURE" and (event_type == "user.session.start" or event_type.startswith("user.authentication."))


class Redactor:
    """One tenant's rule: the deployment key plus the login shape stated or learned so far."""

    def __init__(self, key: bytes, login_domains: Iterable[str] = ()) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the redaction key must have at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.domains = {_domain(d) for d in login_domains if _domain(d)}
        self.learning = not self.domains  # stated domains are the whole truth: every process judges alike
        self.bare_logins = False  # a matched user's login without '@' was seen

    def marker(self, text: str) -> str:
        digest = hmac.new(self._key, text.lower().encode(), hashlib.sha256).hexdigest()
        return MARKER_PREFIX + digest[:MARKER_HEX]

    def looks_like_login(self, text: str) -> bool:
        if "@" in text:
            local, _, domain = text.rpartition("@")
            if domain.lower() in self.domains and local and not any(c.isspace() for c in local):
                return True
            return _EMAIL.fullmatch(text) is not None
        if not self.bare_logins or not _BARE_LOGIN.fullmatch(text):
            return False
        return not _complex(text)

    def learn(self, events: Iterable[Any]) -> None:
        """Take the tenant's login shape from the logins Okta matched to a user."""
        if not self.learning:
            return
        for event in events:
            if not isinstance(event, dict):
                continue
            for who in _people(event):
                login = _str(_get(who, "alternateId"))
                if _str(_get(who, "id")).lower() in _NO_USER_IDS or login.lower() in _PLACEHOLDERS:
                    continue
                if "@" not in login:
                    self.bare_logins = True
                elif len(self.domains) < MAX_LEARNED_DOMAINS:
                    self.domains.add(_domain(login.rpartition("@")[2]))

    def redact(self, event: Any) -> Any:
        """``event`` itself when nothing is redacted, else a copy with each suspected password replaced."""
        if not isinstance(event, dict) or not is_failed_sign_in(event):
            return event
        out = event
        actor_key = _key(event, "actor")
        actor = event.get(actor_key)
        if isinstance(actor, dict) and (new_actor := self._redact_person(actor)) is not actor:
            out = {**event, actor_key: new_actor}
        target_key = _key(event, "target")
        targets = event.get(target_key)
        if isinstance(targets, list):
            new_targets = [self._redact_person(t) if _is_user(t) else t for t in targets]
            if any(new is not old for new, old in zip(new_targets, targets, strict=True)):
                out = {**out, target_key: new_targets}
        return out

    def redact_page(self, events: Sequence[Any]) -> list[Any]:
        """Learn from the whole page first, so its own matched logins already count."""
        self.learn(events)
        return [self.redact(e) for e in events]

    def _redact_person(self, who: dict[str, Any]) -> dict[str, Any]:
        login_key = _key(who, "alternateId")
        login = who.get(login_key)
        if (
            not isinstance(login, str)
            or login.lower() in _PLACEHOLDERS
            or login.startswith(MARKER_PREFIX)  # redacted already (replay of the daemon's own data)
            or _str(_get(who, "id")).lower() not in _NO_USER_IDS
            or self.looks_like_login(login)
        ):
            return who
        marker = self.marker(login)
        out = {**who, login_key: marker}
        name_key = _key(who, "displayName")
        name = who.get(name_key)
        if isinstance(name, str) and name.lower() == login.lower():
            out[name_key] = marker
        return out


def _complex(text: str) -> bool:
    """Upper case, lower case and a digit: what Okta's default password policy demands of a password."""
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def _people(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The actor and the targets that are users."""
    targets = _get(event, "target")
    return [who for who in (_get(event, "actor"), *(targets if isinstance(targets, list) else ())) if _is_user(who)]


def _is_user(who: Any) -> bool:
    return isinstance(who, dict) and _str(_get(who, "type")).lower() == "user"


def _domain(text: str) -> str:
    return text.strip().lstrip("@").lower()


def _key(obj: dict[str, Any], name: str) -> str:
    """Wire keys are camelCase; some exports (Panther) lower-case them: the spelling this object uses."""
    return name if name in obj or name.lower() not in obj else name.lower()


def _get(obj: Any, name: str) -> Any:
    return obj.get(_key(obj, name)) if isinstance(obj, dict) else None


def _str(value: Any) -> str:
    if value is None or value == "null":
        return ""
    return value if isinstance(value, str) else str(value)
