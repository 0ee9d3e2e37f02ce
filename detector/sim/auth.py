"""Who is calling a management endpoint: SSWS token, OAuth Bearer token, or DPoP-bound token.

Missing Authorization → 403 E0000005 "Invalid session" (what Okta answers an anonymous management
call, and what its error catalogue lists for E0000005); a bad/expired token → 401 E0000011;
a token without the endpoint's scope → 403 E0000006. `SSWS<token>` without the space is accepted
because the official okta==3.4.6 SDK sends it that way.
"""

from __future__ import annotations

from aiohttp import web

from detector.sim.credentials import CredentialError, Principal, verify_dpop_proof
from detector.sim.errors import OktaError
from detector.sim.org import SimOrg

LOGS_READ = ("okta.logs.read",)
USERS_READ = ("okta.users.read", "okta.users.manage")
USERS_MANAGE = ("okta.users.manage",)
GROUPS_READ = ("okta.groups.read", "okta.groups.manage")
GROUPS_MANAGE = ("okta.groups.manage",)
ROLES_READ = ("okta.roles.read", "okta.roles.manage")


def request_url(request: web.Request) -> str:
    """The request URL without query, as a DPoP `htu` names it."""
    return str(request.url.with_query(None))


def _invalid_token(dpop_error: str | None = None) -> OktaError:
    headers = {}
    if dpop_error:
        headers["WWW-Authenticate"] = f'DPoP error="invalid_dpop_proof", error_description="{dpop_error}"'
    return OktaError("E0000011", headers=headers)


def authenticate(request: web.Request, org: SimOrg, needed: tuple[str, ...]) -> Principal:
    """Resolve the caller and check it holds one of the `needed` scopes, or raise an OktaError."""
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
    if not principal.allows(needed):
        raise OktaError("E0000006", causes=[f"missing scope: {' or '.join(needed)}"])
    return principal
