"""Misconfigurations a scenario or test plants in a simulated org, one small method each, for posture checks.

`org.inventory.plant.<name>(...)`; each edits exactly the field Okta would show and returns the id of what it
planted. Planting is building (the org as a sync will find it), so it writes no System Log event; to see a
change arrive through the log use the logged methods of `detector/sim/inventory.py` instead. Users a plant
needs are taken from the directory (active, no admin role, not planted yet) or, in a bare org, created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detector.sim.credentials import ApiToken
from detector.sim.directory import UserRecord
from detector.sim.policies import THREAT_ACTIONS

if TYPE_CHECKING:
    from detector.sim.org import SimOrg

DAY = 86400.0
# name -> the parameters it takes: what a scenario's `inventory.plant` entries may say
PLANTS: dict[str, tuple[str, ...]] = {
    "unrestricted_token": ("name",),
    "token_without_expiry": ("name",),
    "stale_token": ("name", "days"),
    "super_admins": ("count",),
    "admin_without_mfa": ("role",),
    "user_without_factors": (),
    "weak_password_policy": ("min_length",),
    "mfa_enrollment_optional": (),
    "threat_insight": ("action",),
    "long_session": ("minutes",),
    "admin_console_without_phishing_resistance": (),
    "inactive_admin": ("role", "days"),
}


class Planting:
    """The plants of one org (see PLANTS)."""

    def __init__(self, org: SimOrg) -> None:
        self._org = org
        self._used: set[str] = set()
        self.planted = False  # set once a scenario's plants are in (a second run plants nothing)

    def apply(self, kind: str, **params: object) -> str | list[str]:
        """Plant by name (as a scenario file names it)."""
        if kind not in PLANTS:
            raise ValueError(f"unknown plant {kind!r}; known: {', '.join(PLANTS)}")
        unknown = sorted(set(params) - set(PLANTS[kind]))
        if unknown:
            raise ValueError(f"{kind} takes {', '.join(PLANTS[kind]) or 'no parameters'}, not {', '.join(unknown)}")
        return getattr(self, kind)(**params)  # type: ignore[no-any-return]

    # -- API tokens ----------------------------------------------------------------------------

    def _token(self, name: str) -> str:
        owner = self._admin("SUPER_ADMIN")
        roles = [r.type for r in self._org.roles.get(owner.id, [])] or ["SUPER_ADMIN"]
        value = self._org.inventory.ids.secret(42)
        return self._org.add_api_token(value, name=name, admin_login=owner.login, roles=roles)

    def unrestricted_token(self, name: str = "Automation (any network)") -> str:
        """An API token usable from anywhere (`network.connection` ANYWHERE)."""
        return self._token(name)

    def token_without_expiry(self, name: str = "Never expires") -> str:
        """An API token with no `expiresAt` / `tokenWindow`, restricted to a zone otherwise."""
        token_id = self._token(name)
        token = self._by_id(token_id)
        token.token_window_days = None
        token.network, token.include_zones = "ZONE", ("nzoCorpNetwork0001",)
        return token_id

    def stale_token(self, name: str = "Old integration", days: int = 120) -> str:
        """An API token last used `days` ago (its window made long enough that it has not expired)."""
        token_id = self._token(name)
        token = self._by_id(token_id)
        token.created = token.last_used = self._org.clock() - days * DAY
        token.token_window_days = days + 60
        token.network, token.include_zones = "ZONE", ("nzoCorpNetwork0001",)
        return token_id

    def _by_id(self, token_id: str) -> ApiToken:
        return next(t for t in self._org.api_tokens.values() if t.id == token_id)

    # -- admins and users ----------------------------------------------------------------------

    def super_admins(self, count: int = 3) -> list[str]:
        """`count` more users made super admins."""
        ids = []
        for _ in range(count):
            user = self._user()
            self._org.set_roles(user.id, ["SUPER_ADMIN"])
            ids.append(user.id)
        return ids

    def admin_without_mfa(self, role: str = "ORG_ADMIN") -> str:
        """A user holding `role` with no factor enrolled."""
        user = self._user()
        self._org.set_roles(user.id, [role])
        user.factors.clear()
        return user.id

    def user_without_factors(self) -> str:
        """An active user with no factor enrolled."""
        user = self._user()
        user.factors.clear()
        return user.id

    def inactive_admin(self, role: str = "SUPER_ADMIN", days: int = 120) -> str:
        """A user holding `role` who last signed in `days` ago."""
        user = self._user()
        self._org.set_roles(user.id, [role])
        user.last_login = self._org.clock() - days * DAY
        return user.id

    # -- policies and settings -----------------------------------------------------------------

    def weak_password_policy(self, min_length: int = 6) -> str:
        """The default password policy down to `min_length` characters with no character classes."""
        policy = self._org.inventory.security.default("PASSWORD")
        complexity = policy.settings["password"]["complexity"]  # type: ignore[index]
        complexity |= {"minLength": min_length, "minLowerCase": 0, "minUpperCase": 0, "minNumber": 0, "minSymbol": 0}
        complexity["dictionary"] = {"common": {"exclude": False}}
        return policy.id

    def mfa_enrollment_optional(self) -> str:
        """The default enrolment policy asks for no authenticator beyond the password."""
        policy = self._org.inventory.security.default("MFA_ENROLL")
        for authenticator in policy.settings["authenticators"]:  # type: ignore[index]
            if authenticator["key"] != "okta_password" and authenticator["enroll"]["self"] == "REQUIRED":
                authenticator["enroll"]["self"] = "OPTIONAL"
        return policy.id

    def threat_insight(self, action: str = "audit") -> str:
        """ThreatInsight set to `audit` (log only) or `none` (disabled)."""
        if action not in THREAT_ACTIONS:
            raise ValueError(f"ThreatInsight action must be one of {THREAT_ACTIONS}, not {action!r}")
        config = self._org.inventory.security.threat_insight
        config.action, config.last_updated = action, self._org.clock()
        return "threats/configuration"

    def long_session(self, minutes: int = 7 * 24 * 60) -> str:
        """The global session policy's default rule keeps sessions `minutes` (Okta's 0: no limit)."""
        rule = self._org.inventory.security.default("OKTA_SIGN_ON").rules[0]
        rule.actions["signon"]["session"]["maxSessionLifetimeMinutes"] = minutes
        return rule.id

    def admin_console_without_phishing_resistance(self) -> str:
        """The Admin Console's first rule satisfied by any two factors (push or SMS included)."""
        rule = self._org.inventory.security.admin_console_policy().rules[0]
        rule.actions["appSignOn"]["verificationMethod"]["constraints"] = [
            {"possession": {"required": True, "phishingResistant": "OPTIONAL"}}
        ]
        return rule.id

    # -- helpers -------------------------------------------------------------------------------

    def _user(self) -> UserRecord:
        """An active user with no admin role not planted yet, or a new one."""
        roles, directory = self._org.roles, self._org.directory
        for user in directory.users.values():
            if user.status == "ACTIVE" and not roles.get(user.id) and user.id not in self._used:
                self._used.add(user.id)
                return user
        login = f"planted.{len(self._used) + 1}@{self._org.name}.example.com"
        directory.add_user(login, "Planted", str(len(self._used) + 1), "ACTIVE", [], None, ("push",), self._org.clock())
        user = directory.get(login)
        self._used.add(user.id)
        return user

    def _admin(self, role: str) -> UserRecord:
        """A directory user holding `role`, or a new one made so."""
        for uid, held in self._org.roles.items():
            user = self._org.directory.users.get(uid)
            if user is not None and any(r.type == role for r in held):
                return user
        user = self._user()
        self._org.set_roles(user.id, [role])
        return user
