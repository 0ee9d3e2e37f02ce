"""Okta API client: auth, rate-limit budget, typed errors, System Log and enforcement calls."""

from detector.okta.auth import Auth, PrivateKeyJwtAuth, SswsAuth
from detector.okta.budget import Priority, RateBudget, SyncLimits, bucket_for
from detector.okta.client import LifecycleOp, LogPage, OktaClient
from detector.okta.errors import (
    OktaApiError,
    OktaAuthError,
    OktaBadResponse,
    OktaNotFound,
    OktaRateLimited,
    OktaServerError,
    OktaTokenError,
    OktaTransportError,
)

__all__ = [
    "Auth",
    "LifecycleOp",
    "LogPage",
    "OktaApiError",
    "OktaAuthError",
    "OktaBadResponse",
    "OktaClient",
    "OktaNotFound",
    "OktaRateLimited",
    "OktaServerError",
    "OktaTokenError",
    "OktaTransportError",
    "Priority",
    "PrivateKeyJwtAuth",
    "RateBudget",
    "SswsAuth",
    "SyncLimits",
    "bucket_for",
]
