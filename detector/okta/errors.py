"""Typed exceptions for Okta API failures.

Callers branch on the exception type, ``status`` and ``error_code`` only (Okta: "Only the
errorCode property is supported for runtime error flow control"). Messages carry the code,
summary and request id for support, never credentials, headers or query strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


class OktaApiError(Exception):
    """An Okta API call failed; built from Okta's error object when the body holds one."""

    retryable: bool = False

    def __init__(
        self,
        status: int | None,
        error_code: str | None = None,
        error_summary: str | None = None,
        error_id: str | None = None,
        error_causes: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        *,
        retry_after: float | None = None,
        required_scope: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_summary = error_summary
        self.error_id = error_id
        self.error_causes = error_causes or []
        self.request_id = request_id
        self.method = method
        self.path = path
        # Server-suggested wait before a retry (seconds), from X-Rate-Limit-Reset − Date + 1.
        self.retry_after = retry_after
        # The OAuth scope the call needed and the token lacked (the `insufficient_scope` challenge).
        self.required_scope = required_scope
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.method or '?'} {self.path or '?'}"
        parts = [f"Okta API error {self.status if self.status is not None else '-'} on {where}"]
        if self.error_code:
            parts.append(f"[{self.error_code}]")
        if self.error_summary:
            parts.append(self.error_summary)
        causes = [c.get("errorSummary") for c in self.error_causes if isinstance(c, dict)]
        causes = [c for c in causes if c]
        if causes:
            parts.append("(causes: " + "; ".join(str(c) for c in causes) + ")")
        if self.required_scope:
            parts.append(f"(insufficient_scope: needs {self.required_scope})")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.error_id and self.error_id != self.request_id:
            parts.append(f"error_id={self.error_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, error_code={self.error_code!r}, "
            f"method={self.method!r}, path={self.path!r}, request_id={self.request_id!r})"
        )


class OktaAuthError(OktaApiError):
    """401/403: bad or expired credential, missing scope or admin role."""


class OktaNotFound(OktaApiError):
    """404: unknown resource (e.g. user id)."""


class OktaRateLimited(OktaApiError):
    """429: a rate-limit bucket (or the concurrency limit) is exhausted."""

    retryable = True


class OktaServerError(OktaApiError):
    """5xx: Okta-side failure; retried with back-off."""

    retryable = True


class OktaBadResponse(OktaApiError):
    """The response body could not be parsed or has an unexpected shape."""


class OktaTransportError(OktaApiError):
    """Timeout or connection failure: no HTTP response was received."""

    retryable = True

    def __init__(self, reason: str, *, method: str | None = None, path: str | None = None) -> None:
        self.reason = reason
        super().__init__(None, None, reason, method=method, path=path)

    def _message(self) -> str:
        return f"Okta transport error on {self.method or '?'} {self.path or '?'}: {self.reason}"


class OktaTokenError(OktaApiError):
    """The OAuth token endpoint refused the request (RFC 6749 ``error``/``error_description``)."""

    def __init__(
        self,
        status: int | None,
        error: str | None,
        error_description: str | None = None,
        *,
        request_id: str | None = None,
        method: str | None = "POST",
        path: str | None = "/oauth2/v1/token",
    ) -> None:
        self.error = error
        self.error_description = error_description
        super().__init__(status, error, error_description, request_id=request_id, method=method, path=path)

    def _message(self) -> str:
        msg = f"Okta token request failed ({self.status}) on {self.method} {self.path}: {self.error}"
        if self.error_description:
            msg += f" - {self.error_description}"
        if self.request_id:
            msg += f" request_id={self.request_id}"
        return msg


def _class_for_status(status: int) -> type[OktaApiError]:
    if status in (401, 403):
        return OktaAuthError
    if status == 404:
        return OktaNotFound
    if status == 429:
        return OktaRateLimited
    if status >= 500:
        return OktaServerError
    return OktaApiError


def error_from_response(
    status: int,
    body: bytes,
    *,
    request_id: str | None,
    method: str,
    path: str,
    retry_after: float | None = None,
    challenge: str | None = None,
) -> OktaApiError:
    """Build the typed error for a non-2xx response from Okta's error object (if any) and its
    ``WWW-Authenticate`` challenge (which names the scope an OAuth token lacked)."""
    obj: Mapping[str, Any] = {}
    if body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            obj = parsed
    causes = obj.get("errorCauses")
    return _class_for_status(status)(
        status,
        _str_or_none(obj.get("errorCode")),
        _str_or_none(obj.get("errorSummary")),
        _str_or_none(obj.get("errorId")),
        [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else [],
        request_id,
        method,
        path,
        retry_after=retry_after,
        required_scope=_insufficient_scope(challenge),
    )


def _insufficient_scope(challenge: str | None) -> str | None:
    """The ``scope`` of an ``error="insufficient_scope"`` challenge, as Okta sends on a token lacking one."""
    params = dict(_CHALLENGE_PARAM.findall(challenge or ""))
    if params.get("error") != "insufficient_scope":
        return None
    return params.get("scope") or None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None
