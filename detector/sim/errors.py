"""Okta's error object and the RFC 6749 OAuth error, as exceptions handlers can raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# errorCode -> (HTTP status, default errorSummary), from Okta's error codes catalog and Management API spec.
CATALOG: dict[str, tuple[int, str]] = {
    "E0000001": (400, "Api validation failed"),
    "E0000003": (400, "The request body was not well-formed."),
    "E0000005": (403, "Invalid session"),
    "E0000006": (403, "You do not have permission to perform the requested action"),
    "E0000007": (404, "Not found: Resource not found"),
    "E0000009": (500, "Internal Server Error"),
    "E0000010": (503, "Service is in read only mode"),
    "E0000011": (401, "Invalid token provided"),
    "E0000016": (403, "Activation failed because the user is already active"),
    "E0000022": (405, "The endpoint does not support the provided HTTP method"),
    "E0000031": (400, "Invalid search criteria."),
    "E0000038": (403, "This operation is not allowed in the user's current status."),
    "E0000047": (429, "API call exceeded rate limit due to too many requests."),
    "E0000053": (400, "Invalid parameter"),
}


@dataclass
class OktaError(Exception):
    """An Okta management-API error; the server renders it with the request's errorId."""

    code: str
    summary: str | None = None
    status: int | None = None
    causes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        default_status, default_summary = CATALOG.get(self.code, (500, "Internal Server Error"))
        self.status = self.status or default_status
        self.summary = self.summary or default_summary
        super().__init__(f"{self.code}: {self.summary}")

    def body(self, error_id: str) -> dict[str, Any]:
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id,
            "errorCauses": [{"errorSummary": c} for c in self.causes],
        }


@dataclass
class OAuthError(Exception):
    """An RFC 6749 token-endpoint error (`{"error", "error_description"}`)."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
