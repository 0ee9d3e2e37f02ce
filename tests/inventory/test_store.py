"""The SQLite inventory store: generations sweep what Okta deleted, checkpoints survive a reopen."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from detector.inventory.model import Factor, Group, User
from detector.inventory.store import SqliteInventoryStore


async def test_generations_sweep_only_finished_parts(tmp_path: Path) -> None:
    path = tmp_path / "itdr.sqlite"
    async with SqliteInventoryStore(path) as store:
        first = await store.begin_sync("acme", 100.0)
        await store.write_page(
            "acme", first, [("users", User("00u1", "a", "ACTIVE")), ("users", User("00u2", "b", "ACTIVE"))]
        )
        await store.write_page("acme", first, [("groups", Group("00g1", "G", "OKTA_GROUP"))])
        assert await store.finish_part("acme", first, "users") == 0
        await store.finish_part("acme", first, "groups")
        await store.end_sync("acme", {"state": "success"}, keep_checkpoint=False)

        second = await store.begin_sync("acme", 200.0)
        assert second.generation == first.generation + 1 and second.done == []
        await store.write_page("acme", second, [("users", User("00u1", "a", "SUSPENDED"))])
        await store.put("acme", "users", [Factor("f1", "00u3", "push", "OKTA")])  # an event, mid-sync
        assert await store.finish_part("acme", second, "users") == 1  # 00u2 is gone from Okta
        await store.skip_part("acme", second, "groups", "403 E0000006")
        inv = await store.load("acme")
        assert set(inv.users()) == {"00u1"} and inv.users()["00u1"].status == "SUSPENDED"
        assert set(inv.of("group")) == {"00g1"}  # a skipped part keeps its rows
        assert [f.id for f in inv.factors_of("00u3")] == ["f1"]  # the event's record is not swept
        assert await store.counts("acme") == {"user": 1, "group": 1, "factor": 1}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_checkpoint_is_resumed_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "itdr.sqlite"
    async with SqliteInventoryStore(path) as store:
        cp = await store.begin_sync("acme", 100.0)
        await store.finish_part("acme", cp, "users")
        cp.part, cp.next_url = "groups", "http://127.0.0.1/api/v1/groups?after=00g5"
        await store.write_page("acme", cp, [("groups", Group("00g5", "G", "OKTA_GROUP"))])
        await store.set_status("acme", {"state": "in_progress"})
    async with SqliteInventoryStore(path) as store:
        resumed = await store.begin_sync("acme", 300.0)
        assert (resumed.generation, resumed.started, resumed.done) == (cp.generation, 100.0, ["users"])
        assert (resumed.part, resumed.next_url, resumed.resumed) == ("groups", cp.next_url, 1)
        assert (await store.begin_sync("other", 300.0)).generation == 1  # tenants apart


async def test_stale_marks_cleared_by_the_next_read_of_their_part(tmp_path: Path) -> None:
    async with SqliteInventoryStore(tmp_path / "db.sqlite") as store:
        await store.mark_stale("acme", "user", "00u1", "users", "user.mfa.factor.reset_all", 50.0)
        cp = await store.begin_sync("acme", 100.0)
        await store.mark_stale("acme", "factor", "f9", "users", "during the sync", 150.0)
        await store.finish_part("acme", cp, "users")
        assert await store.stale("acme") == [("factor", "f9", "during the sync")]
