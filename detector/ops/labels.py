"""Metric label values taken from outside data come from a fixed set; anything else is ``other``.

Each label value is a new series kept by Prometheus for good: a label copied from a server's
``errorCode`` (``E0000003-someone@acme.com``) or from a Kafka record key grows without bound and
can carry an identity into every dashboard.
"""

from __future__ import annotations

from collections.abc import Collection

from detector.okta.errors import OktaApiError, OktaBadResponse, OktaTransportError

OTHER = "other"

# The errorCodes the daemon meets (developer.okta.com/docs/reference/error-codes), and the RFC 6749
# `error` values of the token endpoint (OktaTokenError.error_code).
KNOWN_ERROR_CODES = frozenset(
    {
        "E0000001",  # API validation failed
        "E0000003",  # the request body was not well-formed
        "E0000004",  # authentication failed
        "E0000005",  # invalid session
        "E0000006",  # access denied: the credential lacks a permission
        "E0000007",  # not found
        "E0000009",  # internal server error
        "E0000010",  # service is in read-only mode
        "E0000011",  # invalid token
        "E0000015",  # the org or credential lacks the feature
        "E0000022",  # the endpoint does not support the method
        "E0000031",  # invalid search criteria (a System Log filter)
        "E0000047",  # rate limit exceeded
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "invalid_scope",
        "unauthorized_client",
        "invalid_dpop_proof",
        "use_dpop_nonce",
    }
)

BUS = "bus"  # the bus refused the page: not Okta's error
# Every ``code`` a failed poll can be counted under, but ``http_<status>``: the series that start at 0.
POLL_ERROR_CODES = KNOWN_ERROR_CODES | {"transport", "bad_response", BUS, OTHER}


def error_code(exc: OktaApiError) -> str:
    """A failed call's ``code`` label: a known code, ``http_<status>`` when Okta sent none, ``transport``
    when no response came, ``bad_response`` when it could not be read."""
    if isinstance(exc, OktaTransportError):
        return "transport"
    if isinstance(exc, OktaBadResponse):
        return "bad_response"
    if exc.error_code is None and exc.status is not None and 100 <= exc.status <= 599:
        return f"http_{exc.status}"
    return exc.error_code if exc.error_code in KNOWN_ERROR_CODES else OTHER


def known(value: str, values: Collection[str]) -> str:
    """``value`` if it is one of ``values``, else ``other``."""
    return value if value in values else OTHER
