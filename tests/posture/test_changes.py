"""Inventory-change findings between two synced inventories, and what the event-time detections already raise."""

from __future__ import annotations

import copy

from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import admin_event, user_target
from detector.config import PostureSettings
from detector.inventory.changes import CHANGE_KINDS, Watch, inventory_changes, is_management_scope
from detector.inventory.model import ApiToken, App, Grant, Inventory, Membership, RoleAssignment, User
from tests.posture.healthy import DAY, NOW, healthy

SETTINGS = PostureSettings()
LATER = NOW + 6 * 3600
GROUP_TARGET = {"id": "00gADM", "type": "UserGroup", "alternateId": "unknown", "displayName": "IT Admins"}


def next_sync(inv: Inventory) -> Inventory:
    nxt = copy.deepcopy(inv)
    nxt.synced_at = LATER
    return nxt


def changes(prev, cur, **kw):
    return inventory_changes(prev, cur, SETTINGS, LATER, **kw)


def by_detection(findings):
    out = {}
    for f in findings:
        out.setdefault(f.detection, []).append(f)
    return out


def test_no_change_raises_nothing():
    assert changes(healthy(), next_sync(healthy())) == []


def test_a_new_unrestricted_token_names_its_owner_expiry_and_network():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(ApiToken("00Tnew", "backdoor", "00uBOB", created=NOW + 3600, expires=NOW + 30 * DAY, network="ANYWHERE"))
    (finding,) = changes(prev, cur)
    assert finding.detection == "inventory_api_token_new" and finding.severity is Severity.HIGH
    assert finding.principal == "00uBOB" and finding.principal_login == "bob@acme.com"
    assert finding.entity == "user:00uBOB" and finding.mitre == ("T1098.001",)
    assert finding.summary == "API token backdoor created while the System Log was not watched usable from any network"
    facts = finding.assessment.evidence[1].label
    assert "owner bob@acme.com" in facts and "expires 2026-06-27" in facts and "network ANYWHERE" in facts
    restricted = next_sync(prev)
    restricted.put(ApiToken("00Tz", "zoned", "00uBOB", created=NOW + 3600, expires=NOW + 30 * DAY, network="ZONE"))
    assert [f.severity for f in changes(prev, restricted)] == [Severity.MEDIUM]


def test_a_token_created_while_the_log_was_watched_is_left_to_api_token_created():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(ApiToken("00Tnew", "ci", "00uBOB", created=NOW + 3600, expires=NOW + 30 * DAY, network="ZONE"))
    assert changes(prev, cur, watch=Watch(((NOW, LATER),))) == []
    # the daemon was down from NOW+1800 to NOW+7200: the sync after the gap raises it
    gap = Watch(((NOW - DAY, NOW + 1800), (NOW + 7200, LATER)))
    assert [f.detection for f in changes(prev, cur, watch=gap)] == ["inventory_api_token_new"]


def test_stale_tokens_are_raised_once_when_they_become_stale():
    prev = healthy()
    never = ApiToken("00Tnev", "forever", "00uADA", created=NOW - DAY, expires=None, last_used=NOW, network="ZONE")
    prev.put(ApiToken("00Tidle", "idle", "00uADA", created=NOW - 200 * DAY, expires=NOW + DAY,
                      last_used=NOW - 89.9 * DAY, network="ZONE"))  # fmt: skip
    # idle is 89.9 days unused at the first sync: not stale yet
    first = inventory_changes(None, prev, SETTINGS, NOW)
    assert first == []
    cur = next_sync(prev)
    cur.put(never)
    found = by_detection(changes(prev, cur))
    stale = found.pop("inventory_api_token_stale")
    assert found == {"inventory_api_token_new": found["inventory_api_token_new"]}  # and forever is new
    summaries = sorted(f.summary for f in stale)
    assert summaries == [
        "API token forever never expires: revoke it or set its expiry",
        "API token idle last used 2026-02-27 (90+ days): revoke it or set its expiry",
    ]
    assert all(f.severity is Severity.MEDIUM and f.mitre == ("T1550.001",) for f in stale)
    # a later sync where nothing changed raises neither again
    assert changes(cur, next_sync(cur)) == []
    # used again, then unused for 90 days again: a new dedup key (a new episode)
    first_key = next(f.dedup_key for f in stale if "idle" in f.summary)
    used = next_sync(cur)
    used.put(
        ApiToken("00Tidle", "idle", "00uADA", created=NOW - 200 * DAY, expires=NOW + DAY, last_used=NOW - 95 * DAY)
    )
    (again,) = changes(cur, used)
    assert again.dedup_key != first_key


def test_the_first_sync_raises_existing_stale_tokens_but_no_new_ones():
    inv = healthy()
    inv.put(ApiToken("00Tnev", "forever", "00uADA", created=NOW - DAY, expires=None, last_used=NOW, network="ZONE"))
    assert [f.detection for f in inventory_changes(None, inv, SETTINGS, NOW)] == ["inventory_api_token_stale"]


def test_a_new_admin_role_names_the_role_and_the_granter_from_the_events():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(RoleAssignment("raNEW", "USER", "00uCAT", "SUPER_ADMIN", "Super Administrator", created=NOW + 600))
    grant = admin_event(
        "user.account.privilege.grant", NOW + 600, targets=[user_target("00uCAT", "cat@acme.com")],
        debug={"privilegeGranted": "Super administrator"},
    )  # fmt: skip
    events = [parse_event(grant, "acme")]
    (finding,) = changes(prev, cur, events=events)
    assert finding.detection == "inventory_admin_role_new" and finding.severity is Severity.HIGH
    assert finding.summary == "Super Administrator granted to cat@acme.com by admin@acme.com"
    assert finding.principal == "00uCAT" and finding.entity == "user:00uCAT" and finding.mitre == ("T1098.003",)
    (unknown,) = changes(prev, cur)
    assert unknown.summary.endswith("(granter not in the events read)")
    # watched: admin_privilege_granted raised it from the event
    assert changes(prev, cur, watch=Watch(((NOW, LATER),)), events=events) == []


def test_a_new_group_role_lists_members_and_super_admin_to_a_group_is_critical():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(RoleAssignment("raG", "GROUP", "00gADM", "SUPER_ADMIN", "Super Administrator", created=NOW + 600))
    event = admin_event("group.privilege.grant", NOW + 600, targets=[GROUP_TARGET])
    (finding,) = changes(prev, cur, events=[parse_event(event, "acme")])
    assert finding.severity is Severity.CRITICAL and finding.entity == "group:00gADM" and finding.principal == ""
    assert finding.summary == "Super Administrator granted to group IT Admins by admin@acme.com"
    assert "1 member(s): bob@acme.com" in [e.label for e in finding.assessment.evidence]
    cur.put(RoleAssignment("raG", "GROUP", "00gADM", "HELP_DESK_ADMIN", "Help Desk Administrator", created=NOW + 600))
    assert [f.severity for f in changes(prev, cur)] == [Severity.HIGH]


def test_an_app_granted_management_scopes():
    prev = healthy()
    prev.put(App("0oaSVC", "oidc_client", "<b>Deploy</b>\x1b[2J bot", "ACTIVE", "OPENID_CONNECT"))
    prev.put(Grant("g0", "0oaSVC", "okta.users.read"))
    cur = next_sync(prev)
    cur.put(Grant("g1", "0oaSVC", "okta.users.manage"))
    cur.put(Grant("g2", "0oaSVC", "okta.roles.manage"))
    cur.put(Grant("g3", "0oaSVC", "okta.apps.read"))  # a read scope: not management
    cur.put(Grant("g4", "0oaSVC", "okta.groups.manage", status="REVOKED"))
    (finding,) = changes(prev, cur)
    assert finding.detection == "inventory_app_management_scope" and finding.severity is Severity.HIGH
    assert finding.entity == "app:0oaSVC"
    assert finding.summary == "app <b>Deploy</b>\x1b[2J bot (0oaSVC) granted 2 Okta management scope(s)"
    assert [e.label for e in finding.assessment.evidence[1:]] == ["okta.roles.manage", "okta.users.manage"]


def test_management_scopes():
    assert is_management_scope("okta.users.manage") and is_management_scope("okta.myAccount.email.manage")
    assert is_management_scope("okta.users.manage.self")
    assert not is_management_scope("okta.users.read") and not is_management_scope("openid")
    assert not is_management_scope("okta.manage") and not is_management_scope("acme.users.manage")


def test_a_user_created_and_made_admin_within_a_day():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(User("00uNEW", "new@acme.com", "ACTIVE", created=NOW + 60))
    cur.put(RoleAssignment("raN", "USER", "00uNEW", "ORG_ADMIN", "Organization Administrator", created=NOW + 3660))
    found = by_detection(changes(prev, cur, watch=Watch(((NOW, LATER),))))  # watched: the grant is left to the log
    (finding,) = found["inventory_user_created_admin"]
    assert "inventory_admin_role_new" not in found
    assert (
        finding.summary
        == "new@acme.com was made admin (Organization Administrator) 1.0 h after the account was created"
    )
    assert finding.severity is Severity.HIGH and finding.entity == "user:00uNEW"
    assert finding.mitre == ("T1136.003", "T1098.003")


def test_an_old_user_made_admin_is_no_created_admin_finding():
    prev = healthy()
    cur = next_sync(prev)
    cur.put(RoleAssignment("raC", "USER", "00uCAT", "ORG_ADMIN", "Organization Administrator", created=NOW + 60))
    assert [f.detection for f in changes(prev, cur)] == ["inventory_admin_role_new"]


def test_admin_through_a_group_joined_uses_the_membership_event_else_the_sync_time():
    prev = healthy()
    prev.put(User("00uNEW", "new@acme.com", "ACTIVE", created=NOW - 30 * 3600))
    cur = next_sync(prev)
    cur.put(Membership("00gADM", "00uNEW"))  # the group holds Org admin since long ago
    # no event: the sync time (36 h after creation) stands for the grant: outside 24 h
    assert changes(prev, cur) == []
    joined = admin_event("group.user_membership.add", NOW - 10 * 3600,
                         targets=[user_target("00uNEW", "new@acme.com"), GROUP_TARGET])  # fmt: skip
    (finding,) = changes(prev, cur, events=[parse_event(joined, "acme")])
    assert "(Organization Administrator via group IT Admins) 20.0 h after" in finding.summary


def test_hostile_record_strings_stay_as_they_are_in_the_finding():
    prev = healthy()
    cur = next_sync(prev)
    name = "tok\u202eneg\x00<script>"
    cur.put(ApiToken("00Tx", name, "00uBOB", created=NOW + 60, expires=NOW + DAY, network="ZONE"))
    (finding,) = changes(prev, cur)
    assert name in finding.summary  # escaped where rendered (tests/posture/test_cli.py), never here


def test_every_change_kind_is_raised_by_a_test_here():
    raised = {
        "inventory_api_token_new", "inventory_api_token_stale", "inventory_admin_role_new",
        "inventory_app_management_scope", "inventory_user_created_admin",
    }  # fmt: skip
    assert {k.id for k in CHANGE_KINDS} == raised
