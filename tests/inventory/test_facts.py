"""InventoryFacts: the directory facts an engine and the action worker read, from an Inventory."""

from __future__ import annotations

from detections.directory import AdminRole
from detector.inventory.facts import InventoryFacts
from detector.inventory.model import Factor, Group, Inventory, Membership, RoleAssignment, User

NOW = 1_750_000_000.0


def inventory(synced_at: float | None = NOW - 60) -> Inventory:
    inv = Inventory("acme", synced_at=synced_at)
    inv.put(User("00ualice", "alice@acme.com", "ACTIVE", created=1.0, last_login=2.0, status_changed=3.0))
    inv.put(User("00ubob", "bob@acme.com", "DEPROVISIONED"))
    inv.put(Group("00gadmins", "Okta Admins", "OKTA_GROUP"))
    inv.put(Group("00gall", "Everyone", "BUILT_IN"))
    inv.put(Membership("00gadmins", "00ualice"))
    inv.put(Membership("00gall", "00ualice"))
    inv.put(Membership("00gall", "00ubob"))
    inv.put(RoleAssignment("ra1", "GROUP", "00gadmins", "SUPER_ADMIN", "Super Administrator"))
    inv.put(RoleAssignment("ra2", "USER", "00ualice", "HELP_DESK_ADMIN", "Help Desk Administrator"))
    inv.put(RoleAssignment("ra3", "USER", "00ubob", "ORG_ADMIN", "Organization Administrator", status="INACTIVE"))
    inv.put(Factor("f1", "00ualice", "push", "OKTA"))
    inv.put(Factor("f2", "00ualice", "sms", "OKTA"))
    inv.put(Factor("f3", "00ualice", "webauthn", "FIDO", status="PENDING_ACTIVATION"))
    return inv


def facts(inv: Inventory | None = None, **kw) -> InventoryFacts:
    f = InventoryFacts(clock=lambda: NOW, **kw)
    f.load(inv or inventory())
    return f


def test_a_user_is_known_with_status_times_roles_direct_and_via_groups_and_active_factors():
    alice = facts().user("00ualice")
    assert alice is not None
    assert (alice.status, alice.created, alice.last_login, alice.status_changed) == ("ACTIVE", 1.0, 2.0, 3.0)
    assert set(alice.admin_roles) == {
        AdminRole("HELP_DESK_ADMIN", "Help Desk Administrator"),
        AdminRole("SUPER_ADMIN", "Super Administrator", "Okta Admins"),
    }
    assert alice.top_role() == AdminRole("SUPER_ADMIN", "Super Administrator", "Okta Admins")
    assert alice.factor_types == {"push", "sms"} and alice.only_weak_factors  # the pending webauthn does not count
    assert alice.group_ids == {"00gadmins", "00gall"}


def test_an_inactive_role_is_no_admin_role_and_an_unknown_user_is_none():
    f = facts()
    bob = f.user("00ubob")
    assert bob is not None and bob.admin_roles == () and bob.factor_types == frozenset()
    assert f.user("00unew") is None and f.groups("00unew") is None
    assert InventoryFacts().user("00ualice") is None  # nothing loaded yet
    assert facts(inventory(synced_at=None)).user("00ualice") is None  # a first sync that has not finished


def test_groups_are_ids_and_names_and_freshness_follows_the_sync_interval():
    f = facts(max_age_s=3600)
    assert sorted(f.groups("00ualice") or []) == [("00gadmins", "Okta Admins"), ("00gall", "Everyone")]
    assert f.fresh()
    assert not facts(inventory(synced_at=NOW - 7200), max_age_s=3600).fresh()
    assert not facts(inventory(synced_at=None)).fresh()
    assert not InventoryFacts().fresh()


def test_a_load_replaces_what_is_known_for_those_already_holding_the_object():
    f = facts()
    assert f.user("00ualice") is not None and f.user("00ualice").is_admin  # type: ignore[union-attr]
    changed = inventory()
    changed.remove("membership", "00gadmins:00ualice")
    changed.remove("role", "ra2")
    f.load(changed)
    alice = f.user("00ualice")
    assert alice is not None and not alice.is_admin and alice.group_ids == {"00gall"}


def test_a_record_an_event_puts_between_syncs_is_seen_at_once():
    inv = inventory()
    f = facts(inv)
    inv.put(User("00ubob", "bob@acme.com", "SUSPENDED", status_changed=5.0))
    inv.put(Membership("00gadmins", "00ubob"))
    bob = f.user("00ubob")
    assert bob is not None and bob.status == "SUSPENDED" and bob.is_admin


def test_fifty_thousand_users_index_in_one_pass():
    inv = Inventory("acme", synced_at=NOW)
    for i in range(50_000):
        inv.put(User(f"00u{i}", f"u{i}@acme.com", "ACTIVE"))
        inv.put(Membership(f"00g{i % 2000}", f"00u{i}"))
    for g in range(2000):
        inv.put(Group(f"00g{g}", f"group {g}", "OKTA_GROUP"))
    inv.put(RoleAssignment("ra", "GROUP", "00g7", "SUPER_ADMIN", "Super Administrator"))
    f = facts(inv)
    assert f.user("00u2007").is_admin and not f.user("00u2008").is_admin  # type: ignore[union-attr]


async def test_the_updater_through_the_mirror_changes_store_and_facts_but_not_the_synced_last_login(tmp_path):
    from detections.event import parse_event
    from detections.testkit import admin_event, sign_in, user_target
    from detector.inventory.events import InventoryUpdater
    from detector.inventory.facts import MirroredStore
    from detector.inventory.store import SqliteInventoryStore

    async with SqliteInventoryStore(tmp_path / "itdr.sqlite") as store:
        inv = inventory()
        await store.put("acme", "users", list(inv.users().values()))
        f = facts(inv)
        updater = InventoryUpdater(MirroredStore(store, {"acme": f}))
        suspend = admin_event("user.lifecycle.suspend", NOW, targets=[user_target("00ualice", "alice@acme.com")])
        assert await updater.apply(parse_event(suspend, "acme")) == "updated"
        actor = {"id": "00ualice", "type": "User", "alternateId": "alice@acme.com"}
        assert await updater.apply(parse_event(sign_in(NOW + 60, "nyc", actor=actor), "acme")) == "updated"
        alice = f.user("00ualice")
        assert alice is not None and (alice.status, alice.status_changed) == ("SUSPENDED", NOW)
        assert alice.last_login == 2.0  # the sync's: the sign-in being judged must not be its own last sign-in
        stored = await store.get("acme", "user", "00ualice")
        assert stored.status == "SUSPENDED" and stored.last_login == NOW + 60  # the store has it all
        await MirroredStore(store, {"acme": f}).delete("acme", "membership", ["00gadmins:00ualice"])
        assert {r.role_type for r in f.user("00ualice").admin_roles} == {"HELP_DESK_ADMIN"}  # type: ignore[union-attr]
