"""Who is calling a management endpoint (SSWS token, OAuth Bearer token, or DPoP-bound token), and may they.

Missing Authorization → 403 E0000005 "Invalid session" (what Okta answers an anonymous management
call, and what its error catalogue lists for E0000005); a bad/expired token → 401 E0000011.
`SSWS<token>` without the space is accepted because the official okta==3.4.6 SDK sends it that way.
An authenticated caller is then authorised as Okta does: an OAuth token without one of the
endpoint's scopes → 403 E0000006 with a `WWW-Authenticate` challenge carrying `insufficient_scope`
and the scope needed (Okta's support article "insufficient_scope Error when Making a Request to an
OAuth or Management Endpoint"); an admin whose roles lack the permission → 403 E0000006.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from detector.sim import roles
from detector.sim.credentials import CredentialError, Principal, verify_dpop_proof
from detector.sim.errors import OktaError
from detector.sim.org import SimOrg


@dataclass(frozen=True)
class Needs:
    """What a call needs: one of these OAuth scopes, and this admin permission (None: any admin may)."""

    scopes: tuple[str, ...]
    permission: str | None


_USERS_MANAGE = ("okta.users.manage",)
LOGS_READ = Needs(("okta.logs.read",), roles.LOGS_READ)
USERS_READ = Needs(("okta.users.read", "okta.users.manage"), roles.USERS_READ)
OWN_USER = Needs(USERS_READ.scopes, None)  # `GET /api/v1/users/me`: a token may always read its owner
ROLES_READ = Needs(("okta.roles.read", "okta.roles.manage"), roles.ROLES_READ)
OWN_ROLES = Needs(ROLES_READ.scopes, None)  # an admin may read its own role assignments
CLEAR_SESSIONS = Needs(_USERS_MANAGE, roles.CLEAR_SESSIONS)
LIFECYCLE = {action: Needs(_USERS_MANAGE, permission) for action, permission in roles.LIFECYCLE_PERMISSIONS.items()}
GROUPS_READ = Needs(("okta.groups.read", "okta.groups.manage"), roles.GROUPS_READ)
GROUPS_MANAGE = Needs(("okta.groups.manage",), roles.GROUP_MEMBERSHIP)
APPS_READ = Needs(("okta.apps.read", "okta.apps.manage"), roles.APPS_READ)
# Okta's spec names okta.appGrants.read for `GET /api/v1/apps/{appId}/grants`, not okta.apps.read.
APP_GRANTS_READ = Needs(("okta.appGrants.read", "okta.appGrants.manage"), roles.APPS_READ)
API_TOKENS_READ = Needs(("okta.apiTokens.read", "okta.apiTokens.manage"), roles.API_TOKENS_READ)
IDPS_READ = Needs(("okta.idps.read", "okta.idps.manage"), roles.IDPS_READ)
POLICIES_READ = Needs(("okta.policies.read", "okta.policies.manage"), roles.POLICIES_READ)
THREAT_INSIGHTS_READ = Needs(("okta.threatInsights.read", "okta.threatInsights.manage"), roles.THREAT_INSIGHTS_READ)


def request_url(request: web.Request) -> str:
    """The request URL without query, as a DPoP `htu` names it."""
    return str(request.url.with_query(None))


def _invalid_token(dpop_error: str | None = None) -> OktaError:
    headers = {}
    if dpop_error:
        headers["WWW-Authenticate"] = f'DPoP error="invalid_dpop_proof", error_description="{dpop_error}"'
    return OktaError("E0000011", headers=headers)


def authorized(request: web.Request, org: SimOrg, needs: Needs) -> Principal:
    """The caller, if it may make this call; else the OktaError Okta answers."""
    principal = authenticate(request, org)
    authorize(request, principal, needs)
    return principal


def authorize(request: web.Request, principal: Principal, needs: Needs) -> None:
    """Raise 403 E0000006 unless the caller's token carries a needed scope and its roles the permission."""
    if not principal.has_scope(needs.scopes):
        base = str(request.url.origin())
        scheme = request.headers.get("Authorization", "Bearer").split(" ", 1)[0]
        challenge = (
            f'{scheme} authorization_uri="{base}/oauth2/v1/authorize", realm="{base}", scope="{needs.scopes[0]}", '
            'error="insufficient_scope", error_description="The access token provided does not contain the '
            f'required scopes.", resource="{request.path}"'
        )
        raise OktaError("E0000006", headers={"WWW-Authenticate": challenge})
    if needs.permission is not None and not principal.may(needs.permission):
        raise OktaError("E0000006")


def authenticate(request: web.Request, org: SimOrg) -> Principal:
    """Resolve the caller, or raise the OktaError for a missing or invalid credential."""
    header = request.headers.get("Authorization")
    if not header:
        raise OktaError("E0000005")
    scheme, _, credential = header.strip().partition(" ")
    for known in ("SSWS", "Bearer"):
        # okta==3.4.6 joins scheme and token without a space ("SSWS00abc..."); accept that form too.
        if not credential and scheme.startswith(known) and len(scheme) > len(known):
            scheme, credential = known, scheme[len(known) :]
    credential = credential.strip()
    scheme = scheme.lower()
    principal: Principal | None = None
    if scheme == "ssws":
        principal = org.principal_for_ssws(credential)
    elif scheme in {"bearer", "dpop"}:
        token = org.live_access_token(credential)
        if token is None:
            raise _invalid_token()
        if scheme == "bearer" and token.jkt is not None:
            raise _invalid_token("DPoP-bound access token presented as a Bearer token")
        if scheme == "dpop":
            if token.jkt is None:
                raise _invalid_token("access token is not DPoP-bound")
            proof = request.headers.get("DPoP")
            if not proof:
                raise _invalid_token("DPoP proof is missing")
            try:
                checked = verify_dpop_proof(
                    proof, request.method, request_url(request), org.clock(), org.replay, access_token=credential
                )
            except CredentialError as exc:
                raise _invalid_token(str(exc)) from exc
            if checked.jkt != token.jkt:
                raise _invalid_token("DPoP proof key does not match the token binding")
        principal = org.principal_for_access_token(token)
    if principal is None:
        raise _invalid_token()
    return principal
