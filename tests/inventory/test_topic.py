"""The records of itdr.inventory and how a worker's follower applies them (no broker: the apply step alone)."""

from __future__ import annotations

import orjson

from detector.inventory.kafka_store import InventoryFollower
from detector.inventory.model import Inventory, Membership, User
from detector.inventory.topic import EVENT, STATUS, SYNC, entry_of, key, last_success, meta_of, record_item, split_key


def test_keys_split_at_the_first_two_bars_and_junk_is_nobodys():
    assert split_key(key("acme", "membership", "00g1:00u1")) == ("acme", "membership", "00g1:00u1")
    assert split_key(b"acme|~stale|role|USER:00u1") == ("acme", "~stale", "role|USER:00u1")
    assert split_key(b"no bars") is None and split_key(b"\xff|user") is None
    assert entry_of("user", b"not json") is None and entry_of("user", b'{"part": "users"}') is None
    assert entry_of("nonsense", record_item("acme", "users", 1, SYNC, User("00u1", "a", "ACTIVE"))[1]) is None
    assert meta_of(b"[1, 2]") is None and meta_of(None) is None
    assert last_success({"last_success": "yesterday"}) is None and last_success({"last_success": True}) is None
    assert last_success({"last_success": 12}) == 12.0


def test_a_records_value_round_trips_with_its_part_generation_owner_and_source():
    k, value = record_item("acme", "group_members", 3, EVENT, Membership("00g1", "00u1"))
    assert k == b"acme|membership|00g1:00u1"
    entry = entry_of("membership", value)
    assert entry is not None and (entry.part, entry.generation, entry.owner, entry.src) == (
        "group_members",
        3,
        "00u1",
        EVENT,
    )
    assert entry.record == Membership("00g1", "00u1")


def test_the_follower_puts_removes_and_keeps_the_synced_last_sign_in():
    inventories = {"acme": Inventory("acme")}
    apply = InventoryFollower._apply
    synced = User("00u1", "ann@acme.com", "ACTIVE", last_login=100.0)
    apply(inventories, *record_item("acme", "users", 1, SYNC, synced))
    apply(inventories, *record_item("acme", "group_members", 1, SYNC, Membership("00g1", "00u1")))
    apply(inventories, key("acme", STATUS, ""), orjson.dumps({"state": "success", "last_success": 200.0}))
    apply(inventories, *record_item("other", "users", 1, SYNC, User("00u9", "x", "ACTIVE")))  # not followed here
    inv = inventories["acme"]
    assert inv.synced_at == 200.0 and inv.groups_of("00u1") == {"00g1"} and "00u9" not in inv.users()
    # an event suspends ann and says she signed in: the status is taken, the sync's last sign-in kept
    held = User("00u1", "ann@acme.com", "SUSPENDED", last_login=300.0)
    apply(inventories, *record_item("acme", "users", 1, EVENT, held))
    assert inv.users()["00u1"].status == "SUSPENDED" and inv.users()["00u1"].last_login == 100.0
    apply(inventories, key("acme", "membership", "00g1:00u1"), None)  # a tombstone
    apply(inventories, key("acme", "nonsense", "x"), None)
    assert inv.groups_of("00u1") == set()
