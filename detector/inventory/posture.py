"""Posture checks: misconfigurations of a tenant read from its directory inventory, raised only when they change.

Each check is a small pure function over an :class:`Inventory` (through shared :class:`Views`) and the tenant's
:class:`PostureSettings`, registered with its id, title, severity, MITRE ATT&CK techniques and remediation; its
docstring is its rationale. It returns a :class:`Fail` naming the records at fault, ``PASS``, or ``UNKNOWN`` when
the inventory lacks what it reads (a kind not synced, a policy setting the parser did not find): unknown is
neither, so it raises nothing and keeps the previous result.

:func:`evaluate` runs every check after a sync against the previous results (a small JSON-able state the caller
stores per tenant) and raises findings only on change: a check that newly fails raises a finding (revision 0 of a
dedup key anchored on when it started failing); one that still fails with other records at fault raises the next
revision; one that passes again raises the last revision with status ``resolved``; an unchanged result raises
nothing. A check failing again after it passed is a new episode with a new dedup key (its incident is new too).

Policy settings are named facts the parser flattens Okta's policies into (``model.Policy.settings``); the names
the checks read are the ``SETTING_*`` constants below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from detections.finding import Finding, Severity
from detector.inventory.findings import OPEN, RESOLVED, bounded, day, directory_finding
from detector.inventory.model import Inventory, Policy
from detector.inventory.views import SUPER_ADMIN, Views

if TYPE_CHECKING:
    from detector.config import PostureSettings

ADMIN_CONSOLE_APP = "saasure"  # Okta's app name of the Admin Console
SETTING_ADMIN_CONSOLE_PHR = "admin_console_phishing_resistant"  # bool: its access policy demands phishing resistance
SETTING_PASSWORD_MIN_LENGTH = "password_min_length"
SETTING_PASSWORD_CLASSES = "password_complexity"  # 0..4: character classes required (lower, upper, number, symbol)
SETTING_ENROLL_REQUIRED = "enroll_required"  # the authenticators whose enrolment is REQUIRED (a list; empty: none)
SETTING_MAX_SESSION_MINUTES = "max_session_minutes"  # the sign-on policy's session lifetime; 0: no limit
DAY = 86_400.0
WHY, REMEDIATION = "why: ", "remediation: "  # the last two evidence items of a failing check's finding


@dataclass(frozen=True, slots=True)
class Fail:
    """A failing check: what is wrong, and the records at fault (each one line of evidence)."""

    statement: str
    offenders: tuple[tuple[str, str], ...]  # (record id, what an analyst reads about it)
    # what must change for a new revision; None: the offenders' ids. A population (users without MFA) sets "" so
    # its daily churn is no change: the finding stands until the check passes.
    fingerprint: str | None = None
    severity: Severity | None = None  # instead of the check's, when the failure is graver (or milder)


class _Verdict:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PASS = _Verdict("PASS")
UNKNOWN = _Verdict("UNKNOWN")
Outcome = Fail | _Verdict
CheckFunction = Callable[[Views, "PostureSettings", float], Outcome]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    severity: Severity
    mitre: tuple[str, ...]
    remediation: str
    rationale: str
    run: CheckFunction

    @property
    def detection(self) -> str:
        """The findings' ``detection``: checks share one namespace with the detections."""
        return f"posture_{self.id}"


CHECKS: list[Check] = []


def check(
    id: str, title: str, severity: Severity, mitre: tuple[str, ...], remediation: str
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check; its docstring is the rationale docs/posture.md and its findings give."""

    def register(run: CheckFunction) -> CheckFunction:
        rationale = " ".join((run.__doc__ or "").split())
        CHECKS.append(Check(id, title, severity, mitre, " ".join(remediation.split()), rationale, run))
        return run

    return register


def check_ids() -> list[str]:
    return [c.id for c in CHECKS]


# -- the checks ---------------------------------------------------------------------------------------------------


def _active_policies(views: Views, kind: str, setting: str) -> list[Policy]:
    """ACTIVE policies of ``kind`` in which the parser found ``setting`` (None: the policy does not state it), by
    priority then id."""
    found = [
        p
        for p in views.inventory.of("policy").values()
        if p.type == kind and p.status == "ACTIVE" and p.settings.get(setting) is not None
    ]
    return sorted(found, key=lambda p: (p.priority, p.id))


def _policy_label(policy: Policy) -> str:
    return f"policy {policy.name or policy.id}"


@check(
    "admin_console_not_phishing_resistant",
    "Admin Console reachable without a phishing-resistant factor",
    Severity.HIGH,
    ("T1557", "T1111"),
    """Require a phishing-resistant authenticator (Okta FastPass with phishing resistance, or a FIDO2 WebAuthn
    key) in every rule of the Okta Admin Console's authentication policy.""",
)
def admin_console(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """An admin who signs in to the Admin Console with a password and a push or one-time code can be phished by an
    adversary-in-the-middle kit that relays both (the 2023 attacks on Okta admins); a phishing-resistant factor
    is bound to the real origin and cannot be relayed."""
    policies = _active_policies(views, "ACCESS_POLICY", SETTING_ADMIN_CONSOLE_PHR)
    if not policies:
        return UNKNOWN
    weak = [p for p in policies if p.settings.get(SETTING_ADMIN_CONSOLE_PHR) is not True]
    if not weak:
        return PASS
    consoles = [a for a in views.inventory.of("app").values() if a.name == ADMIN_CONSOLE_APP]
    app = f"the Admin Console ({consoles[0].label})" if consoles else "the Admin Console"
    return Fail(
        f"{app} accepts sign-ins without a phishing-resistant factor under {len(weak)} policy(ies)",
        tuple((p.id, f"{_policy_label(p)} does not require a phishing-resistant factor") for p in weak),
    )


@check(
    "too_many_super_admins",
    "More super administrators than the stated maximum",
    Severity.MEDIUM,
    ("T1078.004",),
    """Keep Super Administrator to the few people who need it (break-glass accounts included); give the others a
    narrower role (Org, App, Help Desk administrator or a custom role), directly or through a reviewed group.""",
)
def super_admins(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """Every super administrator can take over the whole tenant, its admins and its policies: each one is a
    target whose compromise is total, so their number is kept as small as the work allows."""
    if not views.inventory.of("role") or not views.users:
        return UNKNOWN
    supers = [
        (user, [h for h in held if h.role.role_type == SUPER_ADMIN])
        for user, held in views.live_admins()
        if any(h.role.role_type == SUPER_ADMIN for h in held)
    ]
    if len(supers) <= settings.max_super_admins:
        return PASS
    return Fail(
        f"{len(supers)} users hold Super Administrator (at most {settings.max_super_admins} stated)",
        tuple((u.id, f"{u.login}: {', '.join(h.describe() for h in held)}") for u, held in supers),
    )


@check(
    "admin_without_mfa",
    "Administrators without any MFA factor",
    Severity.HIGH,
    ("T1078.004", "T1110"),
    """Make every administrator enrol a strong factor (FastPass, WebAuthn) before the role is granted, and
    require it for the Admin Console; remove the role from accounts that cannot.""",
)
def admins_without_mfa(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """An administrator with no enrolled factor beyond the password falls to one phished, sprayed or reused
    password, and with them the tenant."""
    if not views.inventory.of("role") or not views.inventory.of("factor"):
        return UNKNOWN
    bare = [(u, held) for u, held in views.live_admins() if not views.has_mfa(u.id)]
    if not bare:
        return PASS
    return Fail(
        f"{len(bare)} administrator(s) can sign in without any MFA factor",
        tuple((u.id, f"{u.login}: {', '.join(h.describe() for h in held)}") for u, held in bare),
    )


def _token_label(views: Views, token: Any) -> str:
    return f"API token {token.name or token.id} of {views.login(token.owner_id)}"


@check(
    "api_token_unrestricted",
    "API tokens usable from any network",
    Severity.MEDIUM,
    ("T1550.001",),
    """Restrict each API token to the network zone its integration calls from (Security > API > Tokens: the
    token's network), or replace it with an OAuth service app whose scopes are limited.""",
)
def tokens_unrestricted(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """An SSWS token acts with its owner's admin rights and is not cleared by a password reset or session clear;
    stolen from a CI variable or a laptop, a token without a network restriction works from the attacker's
    own infrastructure."""
    tokens = sorted(views.inventory.of("api_token").values(), key=lambda t: t.id)
    open_ = [t for t in tokens if (t.network or "ANYWHERE").upper() == "ANYWHERE"]
    if not open_:
        return PASS
    return Fail(
        f"{len(open_)} API token(s) may be used from any network",
        tuple((t.id, f"{_token_label(views, t)}, created {day(t.created)}") for t in open_),
    )


@check(
    "api_token_old",
    "API tokens older than the stated maximum age",
    Severity.LOW,
    ("T1550.001",),
    """Rotate API tokens on a schedule (create the new one, move the integration, revoke the old), or move the
    integration to an OAuth service app with short-lived access tokens.""",
)
def tokens_old(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """The longer a token lives, the more copies of it exist (scripts, CI logs, former employees' machines);
    rotation bounds how long a leaked copy works."""
    limit = now - settings.api_token_max_age_days * DAY
    tokens = sorted(views.inventory.of("api_token").values(), key=lambda t: t.id)
    old = [t for t in tokens if t.created is not None and t.created < limit]
    if not old:
        return PASS
    return Fail(
        f"{len(old)} API token(s) are older than {settings.api_token_max_age_days} days",
        tuple((t.id, f"{_token_label(views, t)}, created {day(t.created)}") for t in old),
    )


@check(
    "users_without_mfa",
    "Users who can sign in without any MFA factor",
    Severity.MEDIUM,
    ("T1110", "T1078.004"),
    """Require MFA enrolment for everyone (an MFA enrolment policy whose rule makes a factor required) and an
    authentication policy that asks for a second factor; follow up on the users listed.""",
)
def users_without_mfa(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """A user whose only credential is a password is taken over by password spraying or credential stuffing
    alone; every such account is a foothold that needs no MFA fatigue or phishing kit."""
    if not views.users or not views.inventory.of("factor"):
        return UNKNOWN
    bare = sorted(
        (u for u in views.users.values() if views.can_sign_in(u.id) and not views.has_mfa(u.id)),
        key=lambda u: (u.login, u.id),
    )
    if len(bare) <= settings.max_users_without_mfa:
        return PASS
    return Fail(
        f"{len(bare)} of {len(views.users)} users can sign in without any MFA factor"
        f" (at most {settings.max_users_without_mfa} stated)",
        tuple((u.id, u.login) for u in bare),  # the finding names the first evidence_limit of them
        fingerprint="",  # a population: the finding stands until the check passes, not one revision per hire
    )


@check(
    "weak_password_policy",
    "Password policy below the stated minimum",
    Severity.LOW,
    ("T1110",),
    """Raise the policy's minimum length (12 or more) and complexity, or move users to passwordless
    authenticators so the password is no longer what protects them.""",
)
def weak_password(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """Short or simple passwords fall to guessing and spraying within Okta's own lockout thresholds."""
    policies = _active_policies(views, "PASSWORD", SETTING_PASSWORD_MIN_LENGTH)
    if not policies:
        return UNKNOWN
    weak = []
    for p in policies:
        length = p.settings.get(SETTING_PASSWORD_MIN_LENGTH)
        classes = int(_number(p.settings.get(SETTING_PASSWORD_CLASSES)))
        problems = []
        if _number(length) < settings.password_min_length:
            problems.append(f"minimum length {length} (below {settings.password_min_length})")
        if classes < settings.password_min_classes:
            problems.append(f"{classes} character class(es) required (below {settings.password_min_classes})")
        if problems:
            weak.append((p.id, f"{_policy_label(p)}: {', '.join(problems)}"))
    if not weak:
        return PASS
    return Fail(
        f"{len(weak)} password policy(ies) below the stated minimum",
        tuple(weak),
        fingerprint=_digest(label for _, label in weak),  # a policy loosened further is a change
    )


@check(
    "mfa_enrollment_not_required",
    "MFA enrolment not required",
    Severity.MEDIUM,
    ("T1078.004", "T1556"),
    """Set the MFA enrolment policy's rule to make at least one strong factor required (not optional) for every
    group it covers.""",
)
def enrollment(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """When enrolment is optional, users who skip it keep a password-only account, and the first to enrol a
    factor on it may be an attacker holding the password."""
    policies = _active_policies(views, "MFA_ENROLL", SETTING_ENROLL_REQUIRED)
    if not policies:
        return UNKNOWN
    optional = [p for p in policies if not _required(p.settings.get(SETTING_ENROLL_REQUIRED))]
    if not optional:
        return PASS
    return Fail(
        f"{len(optional)} MFA enrolment policy(ies) do not require a factor",
        tuple((p.id, f"{_policy_label(p)} leaves enrolment optional") for p in optional),
    )


@check(
    "threat_insight_not_blocking",
    "ThreatInsight disabled or only logging",
    Severity.MEDIUM,
    ("T1110.003", "T1110.004"),
    """Set Okta ThreatInsight to "Log and enforce security based on threat level" (Security > General), with the
    organisation's egress networks exempted.""",
)
def threat_insight(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """ThreatInsight blocks sign-in attempts from IPs Okta has seen attacking other orgs before they reach a
    password check; in audit mode it only logs them, disabled it does not even do that."""
    org = views.inventory.of("org").get("org")
    mode = (org.threat_insight or "").lower() if org is not None else ""
    if not mode:
        return UNKNOWN
    if mode == "block":
        return PASS
    if mode == "audit":
        return Fail("ThreatInsight only logs suspicious IPs (audit): it blocks nothing", (), "audit", Severity.LOW)
    return Fail(f"ThreatInsight is disabled ({mode}): suspicious IPs are neither blocked nor logged", (), mode)


@check(
    "long_session_lifetime",
    "Session lifetime longer than the stated maximum",
    Severity.LOW,
    ("T1539", "T1550.004"),
    """Set a maximum session lifetime (global session policy rule) of a working day or less, and an idle timeout.""",
)
def session_lifetime(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """A stolen session cookie works until the session ends: the lifetime bounds how long an infostealer's
    harvest or a relayed session stays useful."""
    policies = _active_policies(views, "OKTA_SIGN_ON", SETTING_MAX_SESSION_MINUTES)
    if not policies:
        return UNKNOWN
    limit = settings.max_session_hours * 60
    long_ = []
    for p in policies:
        minutes = _number(p.settings.get(SETTING_MAX_SESSION_MINUTES))
        if minutes <= 0:
            long_.append((p.id, f"{_policy_label(p)}: sessions never expire"))
        elif minutes > limit:
            long_.append((p.id, f"{_policy_label(p)}: sessions live {minutes / 60:g} h"))
    if not long_:
        return PASS
    return Fail(
        f"{len(long_)} sign-on policy(ies) let a session live longer than {settings.max_session_hours} h",
        tuple(long_),
        fingerprint=_digest(label for _, label in long_),
    )


@check(
    "inactive_admins",
    "Administrators with no sign-in for the stated number of days",
    Severity.MEDIUM,
    ("T1078.004",),
    """Remove admin roles nobody uses (or suspend the account); keep break-glass accounts listed and
    monitored.""",
)
def inactive_admins(views: Views, settings: PostureSettings, now: float) -> Outcome:
    """An admin account nobody signs in to is one nobody would notice being used: a dormant privileged account
    is what an attacker who finds its password wants."""
    if not views.inventory.of("role") or not views.users:
        return UNKNOWN
    since = now - settings.admin_inactive_days * DAY
    idle = []
    for user, held in views.live_admins():
        last = user.last_login if user.last_login is not None else user.created
        if last is not None and last < since:
            seen = f"last sign-in {day(user.last_login)}" if user.last_login is not None else "never signed in"
            idle.append((user.id, f"{user.login}: {seen}; {', '.join(h.describe() for h in held)}"))
    if not idle:
        return PASS
    return Fail(f"{len(idle)} administrator(s) without a sign-in for {settings.admin_inactive_days} days", tuple(idle))


def _required(value: Any) -> bool:
    """An enrolment policy's ``enroll_required``: a non-empty list of authenticators (or True) requires one."""
    return value is True or (isinstance(value, list | tuple) and any(isinstance(v, str) and v for v in value))


def _number(value: Any) -> float:
    """A policy setting as a number; anything else (absent, a string) as 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _digest(parts: Any) -> str:
    return hashlib.sha256("\x00".join(sorted(parts)).encode()).hexdigest()[:16]


# -- evaluation -----------------------------------------------------------------------------------------------------


def assess_all(inventory: Inventory, settings: PostureSettings, now: float) -> list[tuple[Check, Outcome]]:
    """Every check not skipped, with its outcome, in catalogue order (the views are shared: one pass per kind).
    An inventory without users has not been synced (every org has an admin): every check is UNKNOWN then."""
    views = Views(inventory)
    run = [c for c in CHECKS if c.id not in settings.skip]
    if not views.users:
        return [(c, UNKNOWN) for c in run]
    return [(c, c.run(views, settings, now)) for c in run]


def evaluate(
    previous: Mapping[str, Any], inventory: Inventory, settings: PostureSettings, now: float
) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """The checks' results to store for next time, and the findings of what changed since ``previous``.

    A result is ``{"status": "pass"}`` or ``{"status": "fail", "fp": ..., "rev": n, "since": t}``; a malformed
    previous entry counts as absent (the check starts over), an unknown outcome keeps the previous entry."""
    return judge(previous, inventory.tenant, assess_all(inventory, settings, now), settings, now)


def judge(
    previous: Mapping[str, Any],
    tenant: str,
    outcomes: list[tuple[Check, Outcome]],
    settings: PostureSettings,
    now: float,
) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """:func:`evaluate` over outcomes already assessed (a report shows them too, without running every check
    twice)."""
    results: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for c, outcome in outcomes:
        prev = _result(previous.get(c.id))
        if outcome is UNKNOWN:
            if prev is not None:
                results[c.id] = prev
            continue
        failing = prev is not None and prev["status"] == "fail"
        if isinstance(outcome, Fail):
            fp = outcome.fingerprint if outcome.fingerprint is not None else _digest(i for i, _ in outcome.offenders)
            if failing and prev["fp"] == fp:
                results[c.id] = prev
                continue
            if failing:
                result = {**prev, "fp": fp, "rev": prev["rev"] + 1}
            else:  # a new episode: numbered from the stored results, so a repeat after a crash has the same key
                result = {"status": "fail", "fp": fp, "rev": 0, "since": now, "episode": _episode(prev) + 1}
            results[c.id] = result
            findings.append(failing_finding(tenant, c, outcome, settings, now, result))
        else:
            results[c.id] = {"status": "pass", "episode": _episode(prev)}
            if failing:
                findings.append(resolved_finding(tenant, c, now, prev))
    return results, findings


def _episode(result: dict[str, Any] | None) -> int:
    """How many failing episodes a check has had (0 before any, and for a legacy entry without the count)."""
    return 0 if result is None else int(result.get("episode") or 0)


def _result(entry: Any) -> dict[str, Any] | None:
    """A stored result, checked: the caller's store is read back, not trusted to hold what was written."""
    if not isinstance(entry, Mapping):
        return None
    episode = entry.get("episode")
    if episode is not None and (type(episode) is not int or episode < 0):
        return None
    if entry.get("status") == "pass":
        return {"status": "pass", "episode": episode or 0}
    rev, since, fp = entry.get("rev"), entry.get("since"), entry.get("fp")
    if entry.get("status") != "fail" or not isinstance(fp, str) or type(rev) is not int or rev < 0:
        return None
    if not isinstance(since, int | float) or isinstance(since, bool):
        return None
    return {"status": "fail", "fp": fp, "rev": rev, "since": float(since), "episode": episode}


def _anchor(c: Check, result: dict[str, Any]) -> tuple[str, ...]:
    """One failing episode of a check, by its number. A result stored before episodes were numbered keeps the
    anchor it was raised with: the time it started failing."""
    episode = result["episode"]
    return (c.id, f"#{episode}" if episode is not None else f"{result['since']:.0f}")


def failing_finding(
    tenant: str, c: Check, fail: Fail, settings: PostureSettings, now: float, result: dict[str, Any]
) -> Finding:
    items = bounded([label for _, label in fail.offenders], settings.evidence_limit)
    return directory_finding(
        tenant,
        detection=c.detection,
        title=c.title,
        severity=fail.severity or c.severity,
        statement=fail.statement,
        items=[*items, WHY + c.rationale, REMEDIATION + c.remediation],
        mitre=c.mitre,
        time=now,
        anchor=_anchor(c, result),
        entity=f"posture:{c.id}",
        revision=result["rev"],
        status=OPEN,
    )


def resolved_finding(tenant: str, c: Check, now: float, failed: dict[str, Any]) -> Finding:
    return directory_finding(
        tenant,
        detection=c.detection,
        title=f"Resolved: {c.title}",
        severity=Severity.INFO,
        statement=f"passes again (failing since {day(failed['since'])})",
        mitre=c.mitre,
        time=now,
        anchor=_anchor(c, failed),
        entity=f"posture:{c.id}",
        revision=failed["rev"] + 1,
        status=RESOLVED,
    )
