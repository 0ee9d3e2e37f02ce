"""The action worker reads group protection and admin roles from the synced inventory, not one Okta call per
action; and Okta again when the inventory has not synced, is older than the sync interval, or lacks the user."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.inventory.facts import InventoryFacts
from detector.inventory.model import Group, Inventory, Membership, RoleAssignment, User
from detector.okta.auth import SswsAuth
from detector.okta.client import OktaClient
from detector.respond.actions import ActionPolicy, ActionWorker, TenantResponder
from detector.respond.ledger import SqliteLedger, Status
from detector.respond.policy import Mode, ResponseAction, ResponsePolicy

from .conftest import ENFORCE_TOKEN, Sim, clears

HOUR = 3600.0


class CountingClient(OktaClient):
    """The real client, counting the reads the inventory should spare."""

    reads: list[str]

    async def list_user_groups(self, user_id: str) -> list[dict[str, Any]]:
        self.reads.append(f"groups:{user_id}")
        return await super().list_user_groups(user_id)

    async def list_user_roles(self, user_id: str) -> list[dict[str, Any]]:
        self.reads.append(f"roles:{user_id}")
        return await super().list_user_roles(user_id)


def finding(user: dict[str, Any], n: int = 0) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "detection": "mfa_push_accepted",
        "tenant": "acme",
        "principal": user["id"],
        "principal_login": user["profile"]["login"],
        "tier": "high-confidence",
        "actions": ["clear_sessions"],
        "dedup_key": f"acme:mfa_push_accepted:{user['id']}:{n}",
        "time": now,
    }


def inventory(users: list[dict[str, Any]], synced_at: float, admins: tuple[str, ...] = ()) -> Inventory:
    """What a sync of the simulator's org would hold: the users, their VIP group, and admins via a group."""
    inv = Inventory("acme", synced_at=synced_at)
    inv.put(Group("00gvip", "VIPs", "OKTA_GROUP"))
    inv.put(Group("00gadmins", "Okta Admins", "OKTA_GROUP"))
    inv.put(RoleAssignment("ra1", "GROUP", "00gadmins", "SUPER_ADMIN", "Super Administrator"))
    for user in users:
        inv.put(User(user["id"], user["profile"]["login"], "ACTIVE"))
        if user["profile"]["login"].startswith("vip"):
            inv.put(Membership("00gvip", user["id"]))
        if user["id"] in admins:
            inv.put(Membership("00gadmins", user["id"]))
    return inv


async def worker_for(
    sim: Sim, tmp_path: Path, directory: InventoryFacts | None, policy: ActionPolicy
) -> tuple[ActionWorker, CountingClient, SqliteLedger]:
    ledger = await SqliteLedger(tmp_path / "ledger.sqlite").open()
    client = CountingClient(sim.url, SswsAuth(ENFORCE_TOKEN))
    client.reads = []
    worker = ActionWorker({"acme": TenantResponder(policy, client, directory=directory)}, ledger)
    return worker, client, ledger


PROTECTED = ActionPolicy(protected_groups=frozenset({"VIPs"}))


async def test_protected_groups_come_from_the_synced_memberships_without_an_okta_call(sim: Sim, tmp_path: Path):
    vip = sim.org.add_user(login="vip@acme.com", first_name="V", last_name="Ip")
    staff = sim.org.add_user(login="staff@acme.com", first_name="S", last_name="Taff")
    directory = InventoryFacts()
    directory.load(inventory([vip, staff], time.time() - 60))  # Okta has no VIPs group: only the inventory does
    worker, client, ledger = await worker_for(sim, tmp_path, directory, PROTECTED)
    try:
        (skipped,) = await worker.handle(finding(vip))
        (done,) = await worker.handle(finding(staff))
    finally:
        await client.aclose()
        await ledger.close()
    assert (skipped.status, skipped.detail) == (Status.SKIPPED, "member of protected group VIPs")
    assert done.status is Status.DONE and [c.user_id for c in clears(sim)] == [staff["id"]]
    assert client.reads == []


async def test_a_stale_unsynced_or_unaware_inventory_falls_back_to_okta(sim: Sim, tmp_path: Path):
    vip = sim.org.add_user(login="vip@acme.com", first_name="V", last_name="Ip", groups=("VIPs",))
    newcomer = sim.org.add_user(login="new@acme.com", first_name="N", last_name="Ew")
    stale = InventoryFacts(max_age_s=6 * HOUR)
    stale.load(inventory([vip], time.time() - 7 * HOUR))
    worker, client, ledger = await worker_for(sim, tmp_path, stale, PROTECTED)
    try:
        (skipped,) = await worker.handle(finding(vip))  # the old sync is not trusted: Okta says VIPs
        assert skipped.detail == "member of protected group VIPs" and client.reads == [f"groups:{vip['id']}"]
        stale.load(inventory([vip], time.time() - 60))
        await worker.handle(finding(newcomer, 1))  # fresh, but the user came after the sync
        assert client.reads[-1] == f"groups:{newcomer['id']}"
        worker.tenants["acme"].directory = InventoryFacts()  # never synced
        await worker.handle(finding(vip, 2))
        assert client.reads[-1] == f"groups:{vip['id']}"
    finally:
        await client.aclose()
        await ledger.close()


APPROVE = ActionPolicy(response=ResponsePolicy(modes={ResponseAction.CLEAR_SESSIONS: Mode.APPROVE}))


async def test_an_admin_by_the_inventory_needs_two_approvers_with_no_roles_call(sim: Sim, tmp_path: Path):
    root = sim.org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")
    plain = sim.org.add_user(login="plain@acme.com", first_name="P", last_name="Lain")
    directory = InventoryFacts()
    directory.load(inventory([root, plain], time.time() - 60, admins=(root["id"],)))
    worker, client, ledger = await worker_for(sim, tmp_path, directory, APPROVE)
    try:
        (asked,) = await worker.handle(finding(root))
        (single,) = await worker.handle(finding(plain))
    finally:
        await client.aclose()
        await ledger.close()
    assert asked.status is Status.AWAITING_APPROVAL and asked.approval["approvers_needed"] == 2
    assert "the target holds an Okta admin role (SUPER_ADMIN, per the directory inventory)" in asked.detail
    assert single.approval["approvers_needed"] == 1
    assert client.reads == []  # Okta's simulator has no roles for root: only the inventory said admin


async def test_without_a_fresh_inventory_the_roles_are_read_from_okta(sim: Sim, tmp_path: Path):
    root = sim.org.add_user(login="root@acme.com", first_name="Ro", last_name="Ot")
    sim.org.set_roles(root["id"], ["ORG_ADMIN"])
    stale = InventoryFacts(max_age_s=HOUR)
    stale.load(inventory([root], time.time() - 2 * HOUR))  # says no admin, but is too old to say so
    worker, client, ledger = await worker_for(sim, tmp_path, stale, APPROVE)
    try:
        (asked,) = await worker.handle(finding(root))
    finally:
        await client.aclose()
        await ledger.close()
    assert asked.approval["approvers_needed"] == 2 and "(ORG_ADMIN)" in asked.detail
    assert client.reads == [f"roles:{root['id']}"]
