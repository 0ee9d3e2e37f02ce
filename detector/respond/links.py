"""Signed one-time links: approve, deny or undo an action from a channel that cannot call our API itself
(Teams, e-mail, a PagerDuty note).

A link is ``<http.public_url>/api/v1/approvals/<request>/approve?step=<n>&exp=<epoch>&sig=<mac>``; the MAC is
HMAC-SHA256, with the deployment's link key, over the verb, the subject (request or action id), the step
and the expiry, so none of them can be changed. ``step`` is the number of approvals given so far: once one
is recorded, the links of the step before stop working and the record carries new ones. Each link is used
once (the ledger's one-time claims), and only by a POST: the GET behind a link preview shows a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkCheck:
    ok: bool
    reason: str = ""  # why not
    claim: str = ""  # the one-time key to take when acting on it


def link_path(verb: str, subject: str) -> str:
    if verb == "undo":
        return f"/api/v1/actions/{subject}/undo"
    return f"/api/v1/approvals/{subject}/{verb}"


class LinkSigner:
    def __init__(self, key: bytes, public_url: str | None) -> None:
        self._key = key
        self.public_url = public_url  # None: no links are made (they are still checked)

    def url(self, verb: str, subject: str, step: int, expires: float) -> str:
        """The signed link, or "" without a public URL to put in front of it."""
        if self.public_url is None:
            return ""
        exp = int(expires)
        query = f"step={step}&exp={exp}&sig={self._mac(verb, subject, step, exp)}"
        return f"{self.public_url}{link_path(verb, subject)}?{query}"

    def check(self, verb: str, subject: str, query: Mapping[str, str], now: float) -> LinkCheck:
        """Is this the untampered, unexpired link for ``verb`` on ``subject``?"""
        try:
            step, exp = int(query.get("step", "")), int(query.get("exp", ""))
        except ValueError:
            return LinkCheck(False, "not a signed link (step, exp and sig are needed)")
        given = query.get("sig", "")
        if not hmac.compare_digest(given.encode(), self._mac(verb, subject, step, exp).encode()):
            return LinkCheck(False, "the link's signature does not match (altered, or for another deployment)")
        if now > exp:
            return LinkCheck(False, "the link has expired")
        return LinkCheck(True, claim=f"link:{verb}:{subject}:{step}")

    def _mac(self, verb: str, subject: str, step: int, exp: int) -> str:
        message = f"{verb}\n{subject}\n{step}\n{exp}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
