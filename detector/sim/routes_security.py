"""Security settings an inventory reads: API token metadata, identity providers, policies and their rules,
the ThreatInsight configuration."""

from __future__ import annotations

from aiohttp import web

from detector.sim.auth import API_TOKENS_READ, IDPS_READ, POLICIES_READ, THREAT_INSIGHTS_READ, authorized
from detector.sim.context import org_of
from detector.sim.errors import OktaError
from detector.sim.pagination import Limits, json_response, paged
from detector.sim.policies import IdentityProvider, Policy, idp_json, policy_json, rule_json, threat_insight_json

IDPS_PAGE = Limits(default=20, maximum=200)
POLICIES_PAGE = Limits(default=20, maximum=200)
RULES_PAGE = Limits(default=20, maximum=200)
# management.yaml's PolicyType: the simulator models the first four; the others list as empty.
KNOWN_POLICY_TYPES = frozenset(
    {
        "OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY", "IDP_DISCOVERY", "PROFILE_ENROLLMENT",
        "POST_AUTH_SESSION", "ENTITY_RISK", "DEVICE_SIGNAL_COLLECTION", "SESSION_VIOLATION_DETECTION",
        "CLIENT_UPDATE", "IDENTITY_CLAIM_SOURCING",
    }
)  # fmt: skip


def _base(request: web.Request) -> str:
    return str(request.url.origin())


async def list_api_tokens(request: web.Request) -> web.Response:
    """`GET /api/v1/api-tokens`: metadata of every SSWS token, oldest first (never the secret)."""
    org = org_of(request)
    authorized(request, org, API_TOKENS_READ)
    base = _base(request)
    tokens = sorted(org.api_tokens.values(), key=lambda t: (t.created, t.id))
    return json_response([t.json(base) for t in tokens])


async def list_idps(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, IDPS_READ)
    sec, base = org.inventory.security, _base(request)
    wanted = request.query.get("type")

    def pick(idp_id: str) -> IdentityProvider | None:
        idp = sec.idps[idp_id]
        return idp if wanted is None or idp.type == wanted else None

    return paged(request, sec.idp_order, IDPS_PAGE, pick, lambda i: idp_json(i, base))


async def list_policies(request: web.Request) -> web.Response:
    """`GET /api/v1/policies?type=...`: Okta requires `type`; `status` filters ACTIVE / INACTIVE."""
    org = org_of(request)
    authorized(request, org, POLICIES_READ)
    wanted = request.query.get("type")
    if wanted not in KNOWN_POLICY_TYPES:
        raise OktaError(
            "E0000001", "Api validation failed: type", causes=[f"type: must be one of {sorted(KNOWN_POLICY_TYPES)}"]
        )
    status = request.query.get("status")
    sec, base = org.inventory.security, _base(request)

    def pick(policy_id: str) -> Policy | None:
        policy = sec.policies[policy_id]
        return policy if policy.type == wanted and status in (None, policy.status) else None

    return paged(request, sec.policy_order, POLICIES_PAGE, pick, lambda p: policy_json(p, base))


async def get_policy(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, POLICIES_READ)
    return json_response(policy_json(org.inventory.security.get(request.match_info["policyId"]), _base(request)))


async def list_rules(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, POLICIES_READ)
    policy, base = org.inventory.security.get(request.match_info["policyId"]), _base(request)
    return paged(request, policy.rule_order, RULES_PAGE, policy.rule, lambda r: rule_json(policy, r, base))


async def threat_configuration(request: web.Request) -> web.Response:
    org = org_of(request)
    authorized(request, org, THREAT_INSIGHTS_READ)
    return json_response(threat_insight_json(org.inventory.security.threat_insight, _base(request)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/api-tokens", list_api_tokens, allow_head=False)
    router.add_get("/api/v1/idps", list_idps, allow_head=False)
    router.add_get("/api/v1/policies", list_policies, allow_head=False)
    router.add_get("/api/v1/policies/{policyId}", get_policy, allow_head=False)
    router.add_get("/api/v1/policies/{policyId}/rules", list_rules, allow_head=False)
    router.add_get("/api/v1/threats/configuration", threat_configuration, allow_head=False)
