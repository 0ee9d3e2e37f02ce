"""The furnished directory: realistic proportions, consistent indices, deterministic, silent, and paged in O(page)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from detector.sim import SimOrg
from detector.sim.org_population import HELP_DESK_GROUP, IT_ADMIN_GROUP, build_directory
from detector.sim.pagination import OrderedIds, take
from detector.sim.population import APPS


def _org(clock: Any, users: int = 2_000, groups: int = 300, seed: int = 11) -> tuple[SimOrg, Any]:
    org = SimOrg(seed=seed, clock=clock)
    return org, build_directory(org, users=users, groups=groups, seed=seed)


def test_proportions_are_those_of_a_workforce_org(clock: Any) -> None:
    org, made = _org(clock)
    users = list(org.directory.users.values())
    assert len(users) == 2_000 and made.groups == len(org.directory.groups) == 300
    status = Counter(u.status for u in users)
    assert 0.9 < status["ACTIVE"] / 2_000 < 0.97 and status["SUSPENDED"] and status["DEPROVISIONED"]
    factors = Counter(frozenset(f.factor_type for f in u.factors) for u in users if u.status == "ACTIVE")
    active = sum(factors.values())
    with_push = sum(n for kinds, n in factors.items() if "push" in kinds)
    fido = sum(n for kinds, n in factors.items() if "webauthn" in kinds)
    assert with_push / active > 0.7 and 0.08 < fido / active < 0.25
    assert 0.05 < factors[frozenset({"sms"})] / active < 0.15  # SMS only
    assert 0.01 < factors[frozenset()] / active < 0.06  # nothing enrolled
    assert {role: len(ids) for role, ids in made.admins.items()} == {
        "SUPER_ADMIN": 4, "ORG_ADMIN": 3, "HELP_DESK_ADMIN": 6, "READ_ONLY_ADMIN": 3, "APP_ADMIN": 2,
    }  # fmt: skip
    for ids in made.admins.values():  # admins enrol FIDO2 and may sign in to the Admin Console
        assert all(any(f.factor_type == "webauthn" for f in org.users[u].factors) for u in ids)
    console = org.inventory.apps.by_name("saasure")
    assert console is not None and set(console.users) == {u for ids in made.admins.values() for u in ids}
    roles = org.inventory.group_roles
    assert [r.type for r in roles[org.directory.groups[HELP_DESK_GROUP].id]] == ["HELP_DESK_ADMIN"]
    assert [r.type for r in roles[org.directory.groups[IT_ADMIN_GROUP].id]] == ["ORG_ADMIN"]
    assert len(org.directory.groups[HELP_DESK_GROUP].members) == 8
    dormant = [u for u in users if u.last_login and u.last_login < clock() - 90 * 86400]
    assert 0.02 < len(dormant) / 2_000 < 0.08


def test_apps_grants_tokens_and_idps(clock: Any) -> None:
    org, made = _org(clock, users=300, groups=60)
    apps = org.inventory.apps
    assert {ref.id for ref in APPS} <= set(apps.by_id)  # the apps traffic signs in to are in the inventory
    assert {a.kind for a in apps.by_id.values()} == {"first_party", "saml", "web", "spa", "service"}
    scopes = {a.label: set(a.grants) for a in apps.by_id.values() if a.id in made.service_apps}
    assert any(any(s.endswith(".manage") for s in granted) for granted in scopes.values())
    assert scopes["SIEM Log Export"] == {"okta.logs.read"}
    assert all(a.groups for a in apps.by_id.values() if a.kind in {"saml", "web", "spa"})
    tokens = [t for t in org.api_tokens.values() if t.id in made.tokens]
    assert len(tokens) == 2 and all(t.network == "ZONE" and t.include_zones for t in tokens)
    assert {i.type for i in org.inventory.security.idps.values()} == {"GOOGLE", "MICROSOFT", "SAML2"}


def test_indices_agree_and_building_is_silent_and_deterministic(clock: Any) -> None:
    org, _ = _org(clock, users=400, groups=80)
    directory = org.directory
    for group in directory.groups.values():
        assert all(group.id in directory.users[u].group_ids for u in group.members)
    for user in directory.users.values():
        assert all(user.id in directory.groups_by_id[g].members for g in user.group_ids)
    assert list(directory.user_order) == list(directory.users)
    assert org.events_visible() == []  # the org as found: nothing logged
    again, _ = _org(clock, users=400, groups=80)
    assert list(again.directory.users) == list(directory.users)
    assert list(again.inventory.apps.order) == list(org.inventory.apps.order)
    assert [t.id for t in again.api_tokens.values()] == [t.id for t in org.api_tokens.values()]


def test_a_deep_page_reads_only_the_page() -> None:
    """Serving the page after a cursor near the end reads `limit + 1` objects, not the collection."""
    ids = OrderedIds(f"00u{i:017d}" for i in range(50_000))
    for i in range(0, 50_000, 7):  # removals leave holes that are compacted, positions stay right
        ids.discard(f"00u{i:017d}")
    read: list[str] = []

    def get(item: str) -> str:
        read.append(item)
        return item

    cursor = f"00u{48_999:017d}"
    page, more = take(ids, cursor, 200, get)
    assert more and len(page) == 200 and len(read) == 201
    assert page[0][0] == f"00u{49_001:017d}"  # 49_000 was removed (a multiple of 7)
    assert take(ids, "00unknown", 200, get) == ([], False)


def test_lookups_are_indexed_and_keep_okta_semantics(clock: Any) -> None:
    """Login and shortname lookups answer from indices (no scan of 50,000 users per 404), as before."""
    org = SimOrg(seed=2, clock=clock)
    erin = org.add_user("Erin@acme.com")["id"]
    assert org.directory.find("erin@ACME.com").id == erin  # type: ignore[union-attr]
    assert org.directory.find("erin").id == erin  # type: ignore[union-attr]
    org.add_user("erin@other.example")
    assert org.directory.find("erin") is None  # an ambiguous shortname names nobody
    assert org.directory.find("00unobody") is None
