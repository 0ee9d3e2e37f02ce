"""A realistic directory for an inventory sync to read: groups and memberships, admins, apps, grants, tokens, IdPs.

`build_directory(org, users=50_000, groups=2_000)` creates the users too (for a sync bench); `furnish(org, rng)`
adds the rest around users already in the org (e.g. a scenario's population, so the people its traffic
signs in are the ones the inventory lists). Proportions follow a mid-size workforce org: ~94 % of users
active, a few suspended, deprovisioned, staged or locked out; factors mostly Okta Verify push, some FIDO2
(WebAuthn), some SMS only, a few none; a handful of super admins and some org, help desk and read-only
admins, two admin roles held through groups; SaaS apps (the ones traffic signs in to), custom OIDC apps,
the Admin Console, and service apps with Okta API scope grants, one of them with management scopes.

Everything here is building, not changing: it writes no System Log event (see `detector/sim/inventory.py`).
Cost is linear in users and memberships: a 50,000-user, 2,000-group org builds in a few seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from detector.sim.apps import ADMIN_CONSOLE, DASHBOARD
from detector.sim.directory import Factor, Group, UserRecord
from detector.sim.population import _FIRST, _LAST, APPS, CITIES, HOME_WEIGHTS

if TYPE_CHECKING:
    from detector.sim.org import SimOrg

DAY = 86400.0
T = TypeVar("T")
DEPARTMENTS = (
    "Engineering", "Sales", "Marketing", "Finance", "People", "Legal", "Customer Support", "IT",
    "Operations", "Product", "Security", "Data",
)  # fmt: skip
HELP_DESK_GROUP = "Okta Help Desk"
IT_ADMIN_GROUP = "IT Administrators"
# (factor types, weight): Okta Verify push mostly, some FIDO2, some SMS only, a few with nothing enrolled.
FACTOR_MIX: tuple[tuple[tuple[str, ...], int], ...] = (
    (("push",), 58),
    (("push", "token:software:totp"), 10),
    (("push", "webauthn"), 12),
    (("webauthn",), 3),
    (("sms",), 9),
    (("push", "sms"), 5),
    ((), 3),
)
STATUS_MIX: tuple[tuple[str, int], ...] = (
    ("ACTIVE", 940), ("SUSPENDED", 15), ("DEPROVISIONED", 20), ("STAGED", 10), ("PROVISIONED", 5),
    ("LOCKED_OUT", 5), ("PASSWORD_EXPIRED", 5),
)  # fmt: skip
ADMIN_ROLES = (("SUPER_ADMIN", 4), ("ORG_ADMIN", 3), ("HELP_DESK_ADMIN", 6), ("READ_ONLY_ADMIN", 3), ("APP_ADMIN", 2))
SERVICE_APPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Terraform Okta Provider", ("okta.users.manage", "okta.groups.manage", "okta.apps.manage", "okta.roles.manage")),
    ("SIEM Log Export", ("okta.logs.read",)),
    ("HRIS Provisioning", ("okta.users.read", "okta.groups.read")),
)
CUSTOM_APPS = (("Internal Wiki", "web"), ("Expense Portal", "spa"), ("Build Dashboard", "web"))
TOKENS = (("Terraform state reader", "nzoCorpNetwork0001"), ("Legacy HR sync", "nzoDataCenter00001"))
IDPS = (("Google Workspace", "GOOGLE", "ACTIVE"), ("Contoso Entra ID", "MICROSOFT", "ACTIVE"),
        ("Partner SAML", "SAML2", "INACTIVE"))  # fmt: skip


@dataclass(frozen=True)
class Furnished:
    """What `furnish` made, for tests and benches to refer to."""

    admins: dict[str, list[str]]  # role -> user ids holding it directly
    groups: int
    memberships: int
    apps: int
    service_apps: tuple[str, ...]  # app ids
    tokens: tuple[str, ...]  # token ids


def _pick(rng: random.Random, mix: Sequence[tuple[T, int]]) -> T:
    return rng.choices([m for m, _ in mix], [w for _, w in mix])[0]


def build_directory(org: SimOrg, users: int, groups: int, seed: int = 0, domain: str = "acme.com") -> Furnished:
    """`users` users (status, factor and sign-in history drawn from the mixes above), then `furnish`."""
    rng = random.Random(seed)
    now = org.clock()
    taken: dict[str, int] = {}
    for _ in range(users):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = f"{first}.{last}".lower()
        n = taken.get(base, 0) + 1
        taken[base] = n
        login = f"{base}{n if n > 1 else ''}@{domain}"
        status = _pick(rng, STATUS_MIX)
        factors = _pick(rng, FACTOR_MIX) if status not in {"STAGED", "PROVISIONED"} else ()
        org.add_user(login, first, last, status=status, factors=factors)
        _history(org.directory.get(login), rng, now)
    return furnish(org, rng, groups)


def _history(user: UserRecord, rng: random.Random, now: float) -> None:
    """Spread creation over three years and last sign-ins mostly over the last days (5 % dormant > 90 days)."""
    age = rng.uniform(30, 3 * 365) * DAY
    user.created = user.last_updated = now - age
    if user.activated is not None:
        user.activated = user.created + rng.uniform(0, 2) * DAY
        user.password_changed = now - rng.uniform(0, min(age / DAY, 365)) * DAY
        dormant = rng.random() < 0.05
        idle = rng.uniform(91, 400) if dormant else rng.expovariate(1 / 2.0)
        user.last_login = max(user.activated, now - idle * DAY)
    user.status_changed = user.created if user.status == "ACTIVE" else now - rng.uniform(1, 60) * DAY
    for factor in user.factors:
        factor.created = user.activated or user.created


def furnish(org: SimOrg, rng: random.Random, groups: int = 40) -> Furnished:
    """Groups (departments, offices, admin groups, teams up to `groups` in all), memberships, admins,
    apps with assignments and grants, API tokens and IdPs around the users already in `org`."""
    directory, inv, now = org.directory, org.inventory, org.clock()
    inv.furnished = True
    people = [u for u in directory.users.values() if u.status != "DEPROVISIONED"]
    depts = [directory.group(d, now) for d in DEPARTMENTS]
    offices = [directory.group(f"Office - {city}", now) for city in HOME_WEIGHTS if city in CITIES]
    help_desk, it_admins = directory.group(HELP_DESK_GROUP, now), directory.group(IT_ADMIN_GROUP, now)
    teams = [directory.group(f"Team {i:04d}", now) for i in range(max(0, groups - len(directory.groups)))]
    weights = [HOME_WEIGHTS[g.name.removeprefix("Office - ")] for g in offices]
    for user in people:
        chosen = [rng.choice(depts), rng.choices(offices, weights)[0]]
        chosen += rng.sample(teams, min(len(teams), rng.choice((0, 1, 1, 2, 2, 3))))
        for group in chosen:
            directory.add_member(group, user, now)
    it_people = [u for u in people if directory.groups["IT"].id in u.group_ids and u.status == "ACTIVE"]
    staff = it_people if len(it_people) >= 30 else [u for u in people if u.status == "ACTIVE"]
    admins = _admins(org, rng, staff, help_desk.id, it_admins.id)
    memberships = sum(len(g.members) for g in directory.groups.values())
    service = _apps(org, rng, people, depts, admins)
    tokens = _tokens(org, rng, admins)
    for name, kind, status in IDPS:
        inv.security.add_idp(name, kind, now, status)
    return Furnished(admins, len(directory.groups), memberships, len(inv.apps.by_id), service, tokens)


def _admins(
    org: SimOrg, rng: random.Random, staff: list[UserRecord], help_desk: str, it_admins: str
) -> dict[str, list[str]]:
    """Direct admin roles for a few IT staff (admins enrol FIDO2 too), and two roles held through groups."""
    directory, now = org.directory, org.clock()
    picked = rng.sample(staff, min(len(staff), sum(n for _, n in ADMIN_ROLES) + 12))
    admins: dict[str, list[str]] = {}
    at = 0
    for role, count in ADMIN_ROLES:
        for user in picked[at : at + count]:
            org.set_roles(user.id, [role])
            admins.setdefault(role, []).append(user.id)
            if not any(f.factor_type == "webauthn" for f in user.factors):
                user.factors.append(Factor(org.ids.okta_id("opf"), "webauthn", now))
        at += count
    for gid, members in ((help_desk, picked[at : at + 8]), (it_admins, picked[at + 8 : at + 12])):
        group = directory.group_by_id(gid)
        for user in members:
            directory.add_member(group, user, now)
    org.inventory.set_group_roles(help_desk, ["HELP_DESK_ADMIN"])
    org.inventory.set_group_roles(it_admins, ["ORG_ADMIN"])
    return admins


def _apps(
    org: SimOrg, rng: random.Random, people: list[UserRecord], depts: list[Group], admins: dict[str, list[str]]
) -> tuple[str, ...]:
    """SaaS apps (traffic's app ids), custom OIDC apps and service apps; groups and some users assigned."""
    inv, directory, now = org.inventory, org.directory, org.clock()
    apps = []
    for ref in APPS:
        kind = "saml" if ref.sign_on_mode.startswith("SAML") else "web"
        if ref.id not in inv.apps.by_id:
            apps.append(inv.add_app(ref.name, ref.label, kind, app_id=ref.id))
    apps += [inv.add_app("", label, kind) for label, kind in CUSTOM_APPS]
    everyone = directory.groups["Everyone"].id
    inv.add_app_group(inv.apps.named(DASHBOARD), everyone)
    for app in apps:
        for group in rng.sample(depts, rng.randint(1, 3)):
            inv.add_app_group(app, group.id)
    for app in apps[:2]:
        inv.add_app_group(app, everyone)
    for user in people:
        if rng.random() < 0.2:
            app = rng.choice(apps)
            inv.apps.assign_user(app, user.id, user.login, now)
    console = inv.apps.named(ADMIN_CONSOLE)
    for uid in (u for ids in admins.values() for u in ids):
        inv.apps.assign_user(console, uid, directory.users[uid].login, now)
    granter = admins["SUPER_ADMIN"][0]
    service = []
    for label, scopes in SERVICE_APPS:
        app = inv.add_app("", label, "service")
        for scope in scopes:
            inv.grant_scope(app, scope, granted_by=granter)
        service.append(app.id)
    return tuple(service)


def _tokens(org: SimOrg, rng: random.Random, admins: dict[str, list[str]]) -> tuple[str, ...]:
    """API tokens of admins, each restricted to a network zone (the unrestricted ones are planted)."""
    ids = []
    now = org.clock()
    for (name, zone), owner in zip(TOKENS, (admins["SUPER_ADMIN"][0], admins["ORG_ADMIN"][0]), strict=False):
        user = org.directory.users[owner]
        roles = [r.type for r in org.roles.get(owner, [])]
        token_id = org.add_api_token(org.inventory.ids.secret(42), name=name, admin_login=user.login, roles=roles)
        token = next(t for t in org.api_tokens.values() if t.id == token_id)
        token.network, token.include_zones = "ZONE", (zone,)
        token.created = now - rng.uniform(30, 300) * DAY
        token.last_used = now - rng.uniform(0, 3) * DAY
        ids.append(token_id)
    return tuple(ids)
