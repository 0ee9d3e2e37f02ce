"""Okta's wire formats for time: ISO-8601 with milliseconds and `Z`, and RFC 7231 `Date` headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate


def iso_ms(ts: float) -> str:
    """Format epoch seconds as Okta does: `2024-08-13T15:58:20.353Z`."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 / RFC 3339 timestamp to epoch seconds; naive values are taken as UTC.

    Raises ValueError on anything unparsable, which callers turn into a 400.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def http_date(ts: float) -> str:
    """`Date` header value from the org clock, so clients can compute `X-Rate-Limit-Reset - Date`."""
    return formatdate(ts, usegmt=True)
