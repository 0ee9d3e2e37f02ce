"""HTTP status to Outcome, the same for every destination, and the POST the plain-HTTP channels share.

2xx is delivered; 408, 429 and 5xx, a timeout or a connection error are worth another try (after
``Retry-After`` when given); anything else (a 3xx included: redirects are not followed, the configured
URL should be fixed) is permanent. Reasons quote the destination's answer, sanitized, bounded and with
every secret of the channel taken out: a webhook URL is itself a credential.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from detector.respond.channels.base import Outcome
from detector.respond.escaping import plain_text

USER_AGENT = "okta-itdr/0.1"
TIMEOUT_S = 15.0  # Standard Webhooks recommends 15-30 s; a stuck destination must not hold the outbox
MAX_RETRY_AFTER_S = 24 * 3600.0  # a Retry-After of a year is a bug at the other end, not a plan
DETAIL_LIMIT = 200


def new_session(timeout_s: float = TIMEOUT_S) -> aiohttp.ClientSession:
    """The session channels share: bounded time, no cookies, the environment's proxy (SaaS endpoints are
    often reached through one)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
        trust_env=True,
    )


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delay-seconds or an HTTP-date), within 0..MAX_RETRY_AFTER_S; None if absent
    or unreadable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        delay = float(value)
    else:
        try:
            delay = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(delay, 0.0), MAX_RETRY_AFTER_S)


def retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def outcome_for(
    status: int,
    headers: Mapping[str, str],
    detail: str = "",
    memo: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    memo = memo or {}
    if 200 <= status < 300:
        return Outcome("delivered", memo)
    reason = f"HTTP {status}" + (f": {sanitize(detail, secrets)}" if detail.strip() else "")
    if retryable(status):
        return Outcome("retry", memo, retry_after(headers), reason)
    return Outcome("permanent", memo, reason=reason)


def no_response(exc: BaseException, memo: Mapping[str, Any] | None = None) -> Outcome:
    """A timeout or connection failure: named by its type only (aiohttp's messages quote the URL)."""
    kind = "timeout" if isinstance(exc, TimeoutError) else "connection error"
    return Outcome("retry", memo or {}, reason=f"no response: {kind} ({type(exc).__name__})")


def url_secrets(url: str) -> list[str]:
    """What of a URL a reason must not repeat: all of it, and its path with the query (where a webhook's
    secret part is), should the destination quote only that."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url, tail] if len(tail) > 1 else [url]


def sanitize(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # the whole URL before its path
        if secret:
            text = text.replace(secret, "[redacted]")
    return plain_text(" ".join(text.split()), DETAIL_LIMIT)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    memo: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    """POST ``body`` (JSON) and classify the answer; redirects are not followed (the slack_sdk clients do
    follow them, as that SDK does)."""
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}, allow_redirects=False
        ) as response:
            detail = (await response.content.read(4096)).decode("utf-8", "replace")
            return outcome_for(response.status, response.headers, detail, memo, [*url_secrets(url), *secrets])
    except (aiohttp.ClientError, TimeoutError) as exc:
        return no_response(exc, memo)
