"""The parser is total: every malformed object is skipped and counted, never raised; policies flatten."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.inventory import parse
from detector.inventory.model import ApiToken, Group, Inventory, Membership, RoleAssignment, User

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
USER = {
    "id": "00u1abc",
    "status": "ACTIVE",
    "created": "2024-01-02T03:04:05.000Z",
    "lastLogin": "2024-02-01T00:00:00.000Z",
    "passwordChanged": None,
    "profile": {"login": "ann@acme.com"},
}


def test_user_fields_and_times() -> None:
    u = parse.user(USER)
    assert u == User("00u1abc", "ann@acme.com", "ACTIVE", 1704164645.0, None, 1706745600.0, None, None)


def test_malformed_objects_are_counted_with_their_reason() -> None:
    p = parse.Parser()
    objs: list[Any] = [
        USER,
        "not an object",
        {**USER, "id": "../../etc"},
        {**USER, "status": 7},
        {**USER, "id": "00u2", "profile": {"login": "x" * 10_000}},
    ]
    users = p.many("user", parse.user, objs)
    assert [u.id for u in users] == ["00u1abc", "00u2"]
    assert len(users[1].login) == parse.MAX_TEXT
    assert p.skipped == {
        ("user", "object is not a JSON object"): 1,
        ("user", "id is not an Okta id"): 1,
        ("user", "user has no status"): 1,
    }
    assert p.skipped_by_kind() == {"user": 3}


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_every_parser_is_total(obj: Any) -> None:
    p = parse.Parser()
    for kind, fn, ctx in (
        ("user", parse.user, {}),
        ("group", parse.group, {}),
        ("membership", parse.membership, {"group_id": "00g1"}),
        ("role", parse.role, {"assignee_type": "USER", "assignee_id": "00u1"}),
        ("app", parse.app, {}),
        ("app_assignment", parse.app_assignment, {"app_id": "0oa1", "assignee_type": "GROUP"}),
        ("grant", parse.grant, {"app_id": "0oa1"}),
        ("api_token", parse.api_token, {}),
        ("factor", parse.factor, {"user_id": "00u1"}),
        ("idp", parse.idp, {}),
        ("org", parse.org_settings, {}),
        ("policy", parse.policy, {}),
        ("rule", parse.rule, {}),
    ):
        p.one(kind, fn, obj, **ctx)
        p.one(kind, fn, {"id": "x1", "type": "PASSWORD", "status": "ACTIVE", "settings": obj, **ctx}, **ctx)


def test_role_token_and_group() -> None:
    r = parse.role(
        {"id": "ra1", "type": "SUPER_ADMIN", "label": "Super Administrator", "status": "ACTIVE"},
        assignee_type="GROUP",
        assignee_id="00g1",
    )
    assert r == RoleAssignment("ra1", "GROUP", "00g1", "SUPER_ADMIN", "Super Administrator")
    t = parse.api_token(
        {
            "id": "00T1",
            "name": "ci",
            "userId": "00u1",
            "clientName": "Okta API",
            "expiresAt": "2030-01-01T00:00:00.000Z",
            "network": {"connection": "ZONE", "include": ["nzo1"]},
        }
    )
    assert isinstance(t, ApiToken) and t.network == "ZONE" and t.expires == 1893456000.0
    assert parse.api_token({"id": "00T2", "name": "x", "userId": "00u1"}).network == "ANYWHERE"
    assert parse.group({"id": "00g1", "type": "OKTA_GROUP", "profile": {"name": "Admins"}}) == Group(
        "00g1", "Admins", "OKTA_GROUP"
    )
    app = parse.app(
        {"id": "0oa1", "name": "saasure", "_links": {"accessPolicy": {"href": "https://x/api/v1/policies/rst1"}}}
    )
    assert app.access_policy == "rst1"


def test_password_policy_flattened() -> None:
    p = parse.policy(
        {
            "id": "00p1",
            "type": "PASSWORD",
            "name": "Default",
            "status": "ACTIVE",
            "priority": 1,
            "settings": {
                "password": {
                    "complexity": {
                        "minLength": 12,
                        "minLowerCase": 1,
                        "minUpperCase": 1,
                        "minNumber": 0,
                        "minSymbol": 1,
                    },
                    "age": {"historyCount": 4, "maxAgeDays": 0},
                }
            },
        }
    )
    assert p.settings == {
        "password_min_length": 12,
        "password_complexity": 3,
        "password_history": 4,
        "password_max_age_days": 0,
    }


def test_mfa_enroll_and_sign_on_and_access_policies() -> None:
    enroll = parse.policy(
        {
            "id": "00p2",
            "type": "MFA_ENROLL",
            "settings": {
                "authenticators": [
                    {"key": "okta_verify", "enroll": {"self": "REQUIRED"}},
                    {"key": "phone_number", "enroll": {"self": "OPTIONAL"}},
                ],
                "factors": {"google_otp": {"enroll": {"self": "REQUIRED"}}},
            },
        }
    )
    assert enroll.settings == {"enroll_required": ["google_otp", "okta_verify"]}
    rules = [
        {
            "id": "r1",
            "status": "ACTIVE",
            "actions": {"signon": {"session": {"maxSessionLifetimeMinutes": 720, "maxSessionIdleMinutes": 60}}},
        },
        {"id": "r2", "status": "INACTIVE", "actions": {"signon": {"session": {"maxSessionLifetimeMinutes": 0}}}},
    ]
    sign_on = parse.policy({"id": "00p3", "type": "OKTA_SIGN_ON"}, rules)
    assert sign_on.settings == {"max_session_minutes": 720, "max_idle_minutes": 60, "persistent_cookie": False}
    rules[1]["status"] = "ACTIVE"
    assert parse.policy({"id": "00p3", "type": "OKTA_SIGN_ON"}, rules).settings["max_session_minutes"] == 0

    def access_rule(rid: str, pr: str) -> dict[str, Any]:
        constraints = [{"possession": {"phishingResistant": pr}}]
        return {
            "id": rid,
            "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {"constraints": constraints}}},
        }

    strict = parse.policy({"id": "rst1", "type": "ACCESS_POLICY"}, [access_rule("a", "REQUIRED")], admin_console=True)
    assert strict.settings == {
        "phishing_resistant": True,
        "admin_console": True,
        "admin_console_phishing_resistant": True,
    }
    loose = parse.policy(
        {"id": "rst1", "type": "ACCESS_POLICY"},
        [access_rule("a", "REQUIRED"), access_rule("b", "OPTIONAL")],
        admin_console=True,
    )
    assert loose.settings["admin_console_phishing_resistant"] is False
    other = parse.policy({"id": "rst2", "type": "ACCESS_POLICY"}, [access_rule("a", "OPTIONAL")])
    assert other.settings == {"phishing_resistant": False, "admin_console": False}


def test_inventory_lookups_are_indexed_and_follow_changes() -> None:
    inv = Inventory("acme")
    inv.put(User("00u1", "a", "ACTIVE"))
    inv.put(Membership("00g1", "00u1"))
    inv.put(RoleAssignment("ra1", "GROUP", "00g1", "SUPER_ADMIN", "Super Administrator"))
    inv.put(RoleAssignment("ra2", "USER", "00u1", "HELP_DESK_ADMIN", "Help Desk Administrator"))
    inv.put(RoleAssignment("ra3", "USER", "00g1", "ORG_ADMIN", "x"))  # a user id equal to a group id: not the user's
    assert sorted(r.id for r in inv.roles_of_user("00u1")) == ["ra1", "ra2"]
    assert inv.groups_of("00u1") == {"00g1"} and inv.members_of("00g1") == {"00u1"}
    inv.remove("membership", "00g1:00u1")
    assert [r.id for r in inv.roles_of_user("00u1")] == ["ra2"]
    inv.put(RoleAssignment("ra2", "USER", "00u9", "HELP_DESK_ADMIN", "moved"))  # replaced: re-indexed
    assert inv.roles_of_user("00u1") == [] and [r.label for r in inv.roles_of_user("00u9")] == ["moved"]
    rebuilt = Inventory("acme", records=inv.records)
    assert [r.id for r in rebuilt.roles_of_user("00u9")] == ["ra2"]
