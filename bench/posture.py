"""Figure 15: posture checks and inventory changes over a large org's inventory, as the daemon runs them after
each sync: every check (the shared views built once), the change-only evaluation with nothing changed, the diff
of two inventories with a handful of changes, and the size of the findings a failing org raises.

The inventory is built in memory (`build`, seeded): `users` users (2 % suspended or deprovisioned, 8 % without
any MFA factor, the rest with one or two), `groups` groups with ~4 memberships per user, 30 direct admins and
20 admin groups, 300 API tokens (a third usable from anywhere), the four policy types and ThreatInsight in
audit mode, so most checks fail and name records. Times are the median of `ROUNDS` runs.
"""

from __future__ import annotations

import copy
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/posture.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import SEED, Figure
from detector.config import PostureSettings
from detector.inventory.changes import inventory_changes
from detector.inventory.model import (
    ApiToken,
    Factor,
    Group,
    Inventory,
    Membership,
    OrgSettings,
    Policy,
    RoleAssignment,
    User,
)
from detector.inventory.posture import assess_all, evaluate

ROUNDS = 5
DAY = 86_400.0
NOW = 1_780_000_000.0
SECTION = "15 posture and inventory changes"


def build(users: int, groups: int, seed: int = SEED) -> Inventory:
    rng = random.Random(seed)
    inv = Inventory("bench", synced_at=NOW)
    for g in range(groups):
        inv.put(Group(f"00g{g:06}", f"group {g}", "OKTA_GROUP"))
    for u in range(users):
        uid = f"00u{u:07}"
        status = rng.choices(("ACTIVE", "SUSPENDED", "DEPROVISIONED"), (98, 1, 1))[0]
        last = NOW - rng.uniform(0, 200) * DAY
        inv.put(User(uid, f"user{u}@bench.example", status, created=NOW - 800 * DAY, last_login=last))
        for i in range(rng.choices((0, 1, 2), (8, 60, 32))[0]):
            inv.put(
                Factor(f"f{u}-{i}", uid, ("push", "webauthn", "sms", "token:software:totp")[rng.randrange(4)], "OKTA")
            )
        for g in rng.sample(range(groups), 4):
            inv.put(Membership(f"00g{g:06}", uid))
    for a in range(30):
        uid = f"00u{rng.randrange(users):07}"
        role = ("SUPER_ADMIN", "ORG_ADMIN", "APP_ADMIN", "HELP_DESK_ADMIN")[a % 4]
        inv.put(RoleAssignment(f"raU{a}", "USER", uid, role, role.title(), created=NOW - 300 * DAY))
    for a in range(20):
        inv.put(RoleAssignment(f"raG{a}", "GROUP", f"00g{a:06}", "READ_ONLY_ADMIN", "Read Only", created=NOW - DAY))
    for t in range(300):
        network = "ANYWHERE" if t % 3 == 0 else "ZONE"
        created = NOW - rng.uniform(0, 400) * DAY
        owner, used = f"00u{rng.randrange(users):07}", NOW - rng.uniform(0, 120) * DAY
        inv.put(ApiToken(f"00T{t:05}", f"token {t}", owner, created=created, expires=created + 30 * DAY,
                         last_used=used, network=network))  # fmt: skip
    inv.put(Policy("rstADMIN", "ACCESS_POLICY", "Admin Console", "ACTIVE", settings={
        "admin_console": True, "admin_console_phishing_resistant": False}))  # fmt: skip
    inv.put(
        Policy("pw", "PASSWORD", "Default", "ACTIVE", settings={"password_min_length": 8, "password_complexity": 2})
    )
    inv.put(Policy("enroll", "MFA_ENROLL", "Default", "ACTIVE", settings={"enroll_required": ["okta_verify"]}))
    inv.put(Policy("signon", "OKTA_SIGN_ON", "Default", "ACTIVE", settings={"max_session_minutes": 24 * 60}))
    inv.put(OrgSettings(threat_insight="audit"))
    return inv


def _median_ms(run: object) -> float:
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(users: int = 50_000, groups: int = 2_000) -> list[Figure]:
    t0 = time.perf_counter()
    inv = build(users, groups)
    built_s = time.perf_counter() - t0
    settings = PostureSettings()
    counts = inv.counts()
    records = sum(counts.values())
    results, findings = evaluate({}, inv, settings, NOW)
    failing = len(findings)
    size = max(len(orjson.dumps(f.to_dict())) for f in findings)
    after = copy.deepcopy(inv)
    after.synced_at = NOW + 6 * 3600
    after.put(ApiToken("00Tnew", "new", "00u0000001", created=NOW + 3600, expires=NOW + 30 * DAY))
    after.put(RoleAssignment("raNEW", "USER", "00u0000002", "SUPER_ADMIN", "Super Administrator", created=NOW + 60))
    changes = inventory_changes(inv, after, settings, after.synced_at)
    note = f"{users} users, {groups} groups, {records} records"
    later = NOW + 6 * 3600
    checks_ms = _median_ms(lambda: assess_all(inv, settings, NOW))
    unchanged_ms = _median_ms(lambda: evaluate(results, inv, settings, NOW))
    changes_ms = _median_ms(lambda: inventory_changes(inv, after, settings, later))
    return [
        Figure(SECTION, "build the inventory (not the daemon's work)", built_s, "s", note),
        Figure(SECTION, "every posture check", checks_ms, "ms", note),
        Figure(SECTION, "change-only evaluation, nothing changed", unchanged_ms, "ms", "0 findings"),
        Figure(SECTION, "failing checks raised at the first sync", failing, "findings", "of 11 checks"),
        Figure(SECTION, "largest finding (JSON)", size, "bytes", f"evidence_limit {settings.evidence_limit}"),
        Figure(SECTION, "inventory changes of two syncs", changes_ms, "ms", f"{len(changes)} findings"),
    ]


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    for f in measure(n, max(50, n // 25)):
        print(f"{f.name}: {f.value:,.1f} {f.unit}  ({f.note})")
