"""System Log events Okta writes for admin API calls (Okta's Event Types catalog), in the LogEvent shape.

The calling credential is the actor; `client.id` is the OAuth client id (null for SSWS);
`transaction.detail.requestApiTokenId` names the SSWS token; `transaction.id` and
`debugContext.debugData.requestId` are the request's X-Okta-Request-Id, so a daemon can recognise
its own actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector.sim.credentials import Principal
from detector.sim.directory import Group, UserRecord

DISPLAY_MESSAGES = {
    "user.lifecycle.suspend": "Suspend Okta user",
    "user.lifecycle.unsuspend": "Unsuspend Okta user",
    "user.lifecycle.activate": "Activate Okta user",
    "user.lifecycle.deactivate": "Deactivate Okta user",
    "user.account.unlock_by_admin": "Unlock user account by admin",
    "user.account.expire_password": "Expire user password",
    "user.mfa.factor.reset_all": "Reset all factors for user",
    "user.session.clear": "Clear user session",
    "user.session.end": "User logout from Okta",
    "group.user_membership.add": "Add user to group membership",
    "group.user_membership.remove": "Remove user from group membership",
    "user.lifecycle.create": "Create Okta user",
    "user.account.privilege.grant": "Grant user privilege",
    "user.account.privilege.revoke": "Revoke user privilege",
    "group.privilege.grant": "Grant group privilege",
    "group.privilege.revoke": "Revoke group privilege",
    "application.user_membership.add": "Add user to application membership",
    "application.user_membership.remove": "Remove user from application membership",
    "group.application_assignment.add": "Add assigned application to group",
    "system.api_token.create": "Create API token",
    "system.api_token.revoke": "Revoke API token",
    "user.mfa.factor.activate": "Activate factor or authenticator",
    "user.mfa.factor.deactivate": "Reset factor or authenticator",
}


@dataclass(frozen=True)
class RequestContext:
    """The parts of an HTTP request the System Log records."""

    request_id: str
    path: str
    path_qs: str
    ip: str
    user_agent: str


def admin_event(
    event_type: str,
    ctx: RequestContext,
    principal: Principal,
    user: UserRecord,
    session_id: str | None = None,
    group: Group | None = None,
) -> dict[str, Any]:
    """One LogEvent caused by an API call; `uuid`/`published` are filled when appended. A membership
    change also targets the group (`UserGroup`), as Okta's `group.user_membership.*` events do."""
    debug: dict[str, Any] = {}
    target = [user.target()] + ([group.target()] if group is not None else [])
    if session_id is not None:
        debug["EndedSessionId"] = session_id
        target.append(
            {
                "id": session_id,
                "type": "Session",
                "alternateId": "unknown",
                "displayName": "Session",
                "detailEntry": None,
            }
        )
    return log_event(
        event_type, ctx, principal.actor, target, client_id=principal.client_id, token_id=principal.token_id,
        debug=debug, session_id=session_id,
    )  # fmt: skip


def log_event(
    event_type: str,
    ctx: RequestContext,
    actor: dict[str, Any],
    target: list[dict[str, Any]],
    *,
    client_id: str | None = None,
    token_id: str | None = None,
    debug: dict[str, Any] | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The LogEvent shape every admin change shares: `actor` did `event_type` to `target` in request `ctx`."""
    detail: dict[str, Any] = {}
    if token_id:
        detail["requestApiTokenId"] = token_id
    debug_data: dict[str, Any] = {"requestId": ctx.request_id, "requestUri": ctx.path, "url": ctx.path_qs}
    debug_data.update(debug or {})
    return {
        "actor": dict(actor),
        "client": {
            "userAgent": {"rawUserAgent": ctx.user_agent, "os": "Unknown", "browser": "UNKNOWN"},
            "zone": "null",
            "device": "Unknown",
            "id": client_id,
            "ipAddress": ctx.ip,
            "geographicalContext": None,
        },
        "device": None,
        "authenticationContext": {
            "authenticationProvider": None,
            "credentialProvider": None,
            "credentialType": None,
            "issuer": None,
            "interface": None,
            "authenticationStep": 0,
            "externalSessionId": session_id or "unknown",
        },
        "displayMessage": DISPLAY_MESSAGES.get(event_type, event_type),
        "eventType": event_type,
        "outcome": {"result": "SUCCESS", "reason": None},
        "securityContext": {"asNumber": None, "asOrg": None, "isp": None, "domain": None, "isProxy": None},
        "severity": "INFO",
        "debugContext": {"debugData": debug_data},
        "legacyEventType": "core.user_auth.logout_success" if event_type == "user.session.end" else None,
        "transaction": {"type": "WEB", "id": ctx.request_id, "detail": detail},
        "version": "0",
        "request": {"ipChain": [{"ip": ctx.ip, "geographicalContext": None, "version": "V4", "source": None}]},
        "target": target,
    }
