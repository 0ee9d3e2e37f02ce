"""A small tenant inventory that passes every posture check, for tests to break one thing at a time."""

from __future__ import annotations

from detector.inventory.model import (
    ApiToken,
    App,
    Factor,
    Group,
    Inventory,
    Membership,
    OrgSettings,
    Policy,
    RoleAssignment,
    User,
)

NOW = 1_780_000_000.0
DAY = 86_400.0


def user(
    uid: str, login: str, *, status: str = "ACTIVE", created: float | None = None, at: float = NOW, **kw: float
) -> User:
    created = at - 400 * DAY if created is None else created
    return User(uid, login, status, created=created, last_login=kw.get("last_login", at - DAY))


def healthy(tenant: str = "acme", at: float = NOW) -> Inventory:
    """Synced at ``at``: every time in it is relative to that (a CLI test passes the real time)."""
    NOW = at  # the module's NOW, moved
    inv = Inventory(tenant, synced_at=NOW)
    for uid, login in (("00uADA", "ada@acme.com"), ("00uBOB", "bob@acme.com"), ("00uCAT", "cat@acme.com")):
        inv.put(user(uid, login, at=NOW))
        inv.put(Factor(f"fac-{uid}", uid, "webauthn", "FIDO"))
    inv.put(Group("00gADM", "IT Admins", "OKTA_GROUP"))
    inv.put(Membership("00gADM", "00uBOB"))
    inv.put(RoleAssignment("ra1", "USER", "00uADA", "SUPER_ADMIN", "Super Administrator", created=NOW - 300 * DAY))
    inv.put(
        RoleAssignment("ra2", "GROUP", "00gADM", "ORG_ADMIN", "Organization Administrator", created=NOW - 300 * DAY)
    )
    inv.put(App("0oaADMIN", "saasure", "Okta Admin Console", "ACTIVE", "OPENID_CONNECT"))
    inv.put(
        ApiToken(
            "00Tci",
            "ci-deploy",
            "00uADA",
            created=NOW - 10 * DAY,
            expires=NOW + 20 * DAY,
            last_used=NOW - DAY,
            network="ZONE",
        )
    )
    inv.put(
        Policy(
            "rstADMIN",
            "ACCESS_POLICY",
            "Okta Admin Console",
            "ACTIVE",
            settings={"admin_console": True, "admin_console_phishing_resistant": True},
        )
    )
    pw = {"password_min_length": 14, "password_complexity": 3}
    inv.put(Policy("00pPW", "PASSWORD", "Default Policy", "ACTIVE", settings=pw))
    inv.put(
        Policy("00pENROLL", "MFA_ENROLL", "Default Policy", "ACTIVE", settings={"enroll_required": ["okta_verify"]})
    )
    inv.put(Policy("00pSIGNON", "OKTA_SIGN_ON", "Default Policy", "ACTIVE", settings={"max_session_minutes": 480}))
    inv.put(OrgSettings(threat_insight="block"))
    return inv
