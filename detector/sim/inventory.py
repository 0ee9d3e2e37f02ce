"""What an inventory sync reads beyond users: apps and grants, group admin roles, policies, IdPs, ThreatInsight,
and the changes a test makes to them through Python, each written to the System Log as Okta writes it.

Two ways to change the org, kept apart on purpose:
- building (`add_app`, `grant_scope`, `add_app_group`, `set_group_roles`, ... and everything
  `org_population` and `plant` (planting.py) do) is the state the org already had: silent, so a
  50,000-user directory writes no events;
- changing (`create_user`, `add_member`, `grant_role`, `grant_group_role`, `assign_user_to_app`,
  `assign_group_to_app`, `create_api_token`, `revoke_api_token`, `enroll_factor`, ...) is an admin
  acting now: it writes the event Okta writes (types from Okta's Event Types catalog, as in
  tests/data/okta-samples), with targets naming the record, so a sync kept current from the log sees it.

Ids come from an IdFactory of their own (seeded from the org's seed), so furnishing an org never shifts
the ids of its users, sessions or traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from detector.sim.apps import ADMIN_CONSOLE, DASHBOARD, OIDC_CLIENT, AppRecord, Apps, Grant
from detector.sim.audit import RequestContext, log_event
from detector.sim.directory import Factor, UserRecord
from detector.sim.ids import IdFactory
from detector.sim.planting import Planting
from detector.sim.policies import Security
from detector.sim.roles import STANDARD_ROLES, RoleAssignment, role_label

if TYPE_CHECKING:
    from detector.sim.org import SimOrg

ADMIN_IP = "198.51.100.24"  # where the simulated admin works from (TEST-NET-2)
ADMIN_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"
SYSTEM_ACTOR = {
    "id": "0oa1systemprincipal0",
    "type": "SystemPrincipal",
    "alternateId": "system@okta.com",
    "displayName": "Okta System",
    "detailEntry": None,
}


class SimInventory:
    """Apps, group roles and security settings of one SimOrg, and the logged changes to its directory."""

    def __init__(self, org: SimOrg, seed: int | None) -> None:
        self._org = org
        self.ids = IdFactory(None if seed is None else seed + 1_000_003)
        self.apps = Apps()
        self.security = Security(self.ids, org.clock())
        self.group_roles: dict[str, list[RoleAssignment]] = {}  # by group id
        for name, label in ((ADMIN_CONSOLE, "Okta Admin Console"), (DASHBOARD, "Okta Dashboard")):
            app = self.add_app(name, label, "first_party")
            if name == ADMIN_CONSOLE:
                app.access_policy_id = self.security.admin_console_policy().id
        self.plant = Planting(org)  # misconfigurations to plant (detector/sim/planting.py)
        self.furnished = False  # set by org_population.furnish

    # -- building (silent) ---------------------------------------------------------------------

    def add_app(
        self, name: str, label: str, kind: str, app_id: str | None = None, client_id: str | None = None
    ) -> AppRecord:
        """An app instance; `kind` web | spa | service (OIDC, named oidc_client unless `name`), saml, first_party."""
        app_id = app_id or self.ids.okta_id("0oa")
        if kind in {"web", "spa", "service"} and client_id is None:
            client_id = app_id
        if kind == "first_party":
            client_id = app_id
        app = AppRecord(app_id, name or OIDC_CLIENT, label, kind, self._org.clock(), client_id=client_id)
        if kind not in {"first_party", "service"}:
            app.access_policy_id = self.security.app_policy().id
        return self.apps.add(app)

    def grant_scope(self, app: AppRecord, scope: str, granted_by: str | None = None) -> Grant:
        """Grant an Okta API scope to an app (admin consent, as Applications > Okta API Scopes does)."""
        existing = app.grants.get(scope)
        if existing is not None:
            return existing
        by = granted_by or self.actor()["id"]
        grant = Grant(self.ids.okta_id("oag"), scope, self._org.clock(), by)
        app.grants[scope] = grant
        return grant

    def add_app_group(self, app: AppRecord, group_id: str) -> bool:
        """Assign a group to an app (its members may use it)."""
        self._org.directory.group_by_id(group_id)
        return self.apps.assign_group(app, group_id, self._org.clock())

    def set_group_roles(self, group_id: str, roles: Iterable[str]) -> list[RoleAssignment]:
        """Assign standard admin roles to a group (every member holds them); () takes them away."""
        roles = list(dict.fromkeys(roles))
        _known(roles)
        self._org.directory.group_by_id(group_id)
        now = self._org.clock()
        self.group_roles[group_id] = [RoleAssignment(group_id, r, now, "GROUP") for r in roles]
        return self.group_roles[group_id]

    def admin_roles_of(self, user_id: str) -> list[str]:
        """Role types a user holds, directly or through a group."""
        held = [r.type for r in self._org.roles.get(user_id, [])]
        user = self._org.user_or_admin(user_id)
        for gid in user.group_ids if user else ():
            held += [r.type for r in self.group_roles.get(gid, [])]
        return list(dict.fromkeys(held))

    def actor(self) -> dict[str, Any]:
        """Who the logged changes are made by: the first super admin, else Okta's system principal."""
        for uid, assignments in self._org.roles.items():
            if any(r.type == "SUPER_ADMIN" for r in assignments):
                user = self._org.user_or_admin(uid)
                if user is not None:
                    return user.target() | {"type": "User"}
        return dict(SYSTEM_ACTOR)

    # -- changing (logged) ---------------------------------------------------------------------

    def _log(
        self,
        event_type: str,
        path: str,
        target: list[dict[str, Any]],
        actor: dict[str, Any] | None = None,
        **debug: Any,
    ) -> None:
        ctx = RequestContext(self._org.ids.request_id(), path, path, ADMIN_IP, ADMIN_AGENT)
        self._org.append(log_event(event_type, ctx, actor or self.actor(), target, debug=debug or None))

    def create_user(self, login: str, first_name: str = "", last_name: str = "", **kwargs: Any) -> dict[str, Any]:
        """`SimOrg.add_user`, logged as `user.lifecycle.create`."""
        user = self._org.add_user(login, first_name, last_name, **kwargs)
        record = self._org.directory.get(user["id"])
        self._log("user.lifecycle.create", "/api/v1/users", [record.target()])
        return user

    def add_member(self, group_id: str, user_id: str) -> bool:
        """Put a user in a group, logged as `group.user_membership.add` (User and UserGroup targets)."""
        group = self._org.directory.group_by_id(group_id)
        user = self._org.directory.get(user_id)
        changed = self._org.directory.add_member(group, user, self._org.clock())
        if changed:
            path = f"/api/v1/groups/{group.id}/users/{user.id}"
            self._log("group.user_membership.add", path, [user.target(), group.target()])
        return changed

    def grant_role(self, user_id: str, role: str) -> None:
        """Give a user one more admin role, logged as `user.account.privilege.grant`."""
        _known([role])
        user = self._user(user_id)
        held = self._org.roles.setdefault(user.id, [])
        if any(r.type == role for r in held):
            return
        held.append(RoleAssignment(user.id, role, self._org.clock()))
        path = f"/api/v1/users/{user.id}/roles"
        self._log("user.account.privilege.grant", path, [user.target()], privilegeGranted=role_label(role))

    def revoke_role(self, user_id: str, role: str) -> None:
        user = self._user(user_id)
        held = self._org.roles.get(user.id, [])
        if not any(r.type == role for r in held):
            return
        self._org.roles[user.id] = [r for r in held if r.type != role]
        path = f"/api/v1/users/{user.id}/roles"
        self._log("user.account.privilege.revoke", path, [user.target()], privilegeRevoked=role_label(role))

    def grant_group_role(self, group_id: str, role: str) -> None:
        """Give a group an admin role, logged as `group.privilege.grant` (UserGroup target)."""
        _known([role])
        group = self._org.directory.group_by_id(group_id)
        held = self.group_roles.setdefault(group.id, [])
        if any(r.type == role for r in held):
            return
        held.append(RoleAssignment(group.id, role, self._org.clock(), "GROUP"))
        path = f"/api/v1/groups/{group.id}/roles"
        self._log("group.privilege.grant", path, [group.target()], privilegeGranted=role_label(role))

    def assign_user_to_app(self, app_id: str, user_id: str) -> bool:
        """Assign a user to an app, logged as `application.user_membership.add` (User and AppInstance)."""
        app = self.apps.get(app_id)
        user = self._org.directory.get(user_id)
        changed = self.apps.assign_user(app, user.id, user.login, self._org.clock())
        if changed:
            path = f"/api/v1/apps/{app.id}/users"
            self._log("application.user_membership.add", path, [user.target(), app.target()])
        return changed

    def assign_group_to_app(self, app_id: str, group_id: str) -> bool:
        """Assign a group to an app, logged as `group.application_assignment.add` (UserGroup and AppInstance)."""
        app = self.apps.get(app_id)
        changed = self.add_app_group(app, group_id)
        if changed:
            group = self._org.directory.group_by_id(group_id)
            path = f"/api/v1/apps/{app.id}/groups/{group.id}"
            self._log("group.application_assignment.add", path, [group.target(), app.target()])
        return changed

    def create_api_token(self, name: str, owner_login: str, **metadata: Any) -> str:
        """A new SSWS token of an admin, logged as `system.api_token.create` by that admin (Okta tokens are
        created by their owner); returns its secret value.

        `metadata`: `network` (ANYWHERE | ZONE), `include_zones`, `token_window_days` (None: no expiry)."""
        value = self.ids.secret(42)
        owner = self._user(owner_login)
        roles = self.admin_roles_of(owner.id) or ["READ_ONLY_ADMIN"]
        self._org.add_api_token(value, name=name, admin_login=owner.login, roles=roles)
        token = self._org.api_tokens[value]
        for key, val in metadata.items():
            setattr(token, key, tuple(val) if key.endswith("_zones") else val)
        target = [_token_target(token.id, name)]
        self._log("system.api_token.create", "/api/v1/api-tokens", target, actor=owner.target())
        return value

    def revoke_api_token(self, token_id: str) -> None:
        """Revoke a token by id, logged as `system.api_token.revoke`."""
        value = next(v for v, t in self._org.api_tokens.items() if t.id == token_id)
        name = self._org.api_tokens[value].name
        self._org.revoke_api_token(value)
        self._log("system.api_token.revoke", f"/api/v1/api-tokens/{token_id}", [_token_target(token_id, name)])

    def enroll_factor(self, user_id: str, factor_type: str) -> Factor:
        """Enrol a factor (`push`, `webauthn`, `sms`, ...), logged as `user.mfa.factor.activate`."""
        user = self._org.directory.get(user_id)
        factor = Factor(self._org.ids.okta_id("opf"), factor_type, self._org.clock())
        user.factors.append(factor)
        self._log("user.mfa.factor.activate", f"/api/v1/users/{user.id}/factors", [user.target()],
                  factorType=factor_type)  # fmt: skip
        return factor

    def reset_factors(self, user_id: str) -> None:
        """Remove every factor of a user, logged as `user.mfa.factor.deactivate`."""
        user = self._org.directory.get(user_id)
        user.factors.clear()
        self._log("user.mfa.factor.deactivate", f"/api/v1/users/{user.id}/lifecycle/reset_factors", [user.target()])

    def _user(self, id_or_login: str) -> UserRecord:
        user = self._org.user_or_admin(id_or_login)
        if user is None:
            user = self._org.directory.get(id_or_login)  # raises the Okta 404
        return user


def _token_target(token_id: str, name: str) -> dict[str, Any]:
    return {"id": token_id, "type": "Token", "alternateId": "unknown", "displayName": name, "detailEntry": None}


def _known(roles: Iterable[str]) -> None:
    unknown = sorted(set(roles) - STANDARD_ROLES.keys())
    if unknown:
        raise ValueError(f"unknown admin role(s) {unknown}; known: {sorted(STANDARD_ROLES)}")
