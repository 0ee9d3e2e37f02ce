"""Successful sign-in after a password attack on the same user, from the attacking network.

Why: failed passwords are noise until one works. A burst of wrong passwords for
one user from one IP followed by a *successful* sign-in from that IP (or its
ASN) means the guessing or stuffing found the password: the attacker now holds
a session and the credential (Entra only raises password-spray risk once a
password validated; Elastic "Okta Successful Login After Credential Attack"
chains attack → success, Okta ITP "login from an IP flagged in a credential
attack").

How (per attempted login; wrong passwords counted with the shared classifier,
incl. Identity Engine ``PASSWORD_AS_FACTOR``, one per transaction):

* attack = ≥ 5 failures for the user from one IP within 1 h;
* then a ``user.session.start``/``user.authentication.sso`` SUCCESS of a human
  actor from that IP or the same ASN ≤ 60 min after the attack's last failure;
* evidence: attack pattern +30, access achieved +35, access from the attacking
  IP/ASN +20 → 85 with two classes: high-confidence;
* dampeners: the success came from the user's known device and IP (Okta
  ``New Device`` and ``New IP`` both NEGATIVE: the user mistyping, then getting
  it right) −30; allowlisted corporate egress (CIDR or ASN, the tenant
  context's merged in) −40. Either keeps the finding below the
  automatic-action tier. The tenant's VPN operators do not dampen: a commercial
  VPN is shared with attackers. Service accounts are counted like any target.

Event-time windows: failures and successes are kept for the attack window +
follow-up window + lateness, so failures that arrive after the success still
complete the chain. One finding per user per hour; dedup key = the success's
uuid. Offered actions: clear sessions + expire password (the attacker
demonstrably has the password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from detections.columns import columns, rows
from detections.common import (
    PASSWORD_FAILURE_TYPES,
    Suppression,
    attempt_id,
    event_subject,
    is_allowlisted_egress,
    is_password_failure,
    is_successful_sign_in,
    make_finding,
)
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, assess
from detections.directory import NO_DIRECTORY, DirectoryFacts, target_context
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.window import Window


@dataclass(frozen=True, slots=True)
class SuccessAfterCredentialAttackConfig:
    min_failures: int = 5
    attack_window_s: float = 3600.0
    follow_s: float = 3600.0  # success at most this long after the attack's last failure
    lateness_s: float = 900.0
    known_client_dampening: int = 30
    allowlist_cidrs: tuple[str, ...] = ()  # corporate egress / NAT
    allowlist_asns: frozenset[int] = frozenset()
    allowlist_dampening: int = 40
    suppress_s: float = 3600.0
    max_entries: int = 512


@dataclass(slots=True)
class _Fail:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "k", "id", "ip", "as")
    time: float
    key: str
    uuid: str
    ip: str | None
    asn: int | None


@dataclass(slots=True)
class _Success:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "ip", "as", "kc", "a", "u")
    time: float
    uuid: str
    ip: str | None
    asn: int | None
    known_client: bool
    actor_id: str
    login: str

    @property
    def key(self) -> str:
        return self.uuid


@dataclass(slots=True)
class AttackThenSuccessState:
    """One login's failed passwords and successful sign-ins, on one clock."""

    fails: Window[_Fail]
    successes: Window[_Success]
    sup: Suppression

    def to_dict(self) -> dict[str, Any]:
        return {
            "f": columns(_Fail, self.fails),
            "s": columns(_Success, self.successes),
            "h": self.fails.high_water,
            "sup": self.sup.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class _Match:
    ip: str
    run: tuple[_Fail, ...]
    same_ip: bool


class SuccessAfterCredentialAttack:
    id: ClassVar[str] = "success_after_credential_attack"
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS | PASSWORD_FAILURE_TYPES
    keyed_by_actor: ClassVar[bool] = False
    reads_directory: ClassVar[bool] = True  # an admin's account taken over is critical
    mitre: ClassVar[tuple[str, ...]] = ("T1110", "T1110.001", "T1110.003", "T1110.004", "T1078.004")

    def __init__(self, config: SuccessAfterCredentialAttackConfig | None = None) -> None:
        self.config = config or SuccessAfterCredentialAttackConfig()

    def state_key(self, event: Event) -> str | None:
        if is_successful_sign_in(event):
            return (event_subject(event) or None) if event.is_human else None
        if not is_password_failure(event):
            return None
        if event.actor_login == "system@okta.com" or (event.actor_type and event.actor_type.lower() != "user"):
            return None
        return event_subject(event) or None

    def new_state(self) -> AttackThenSuccessState:
        return self.load_state({"f": [], "s": [], "h": 0.0, "sup": {}})

    def load_state(self, data: dict[str, Any]) -> AttackThenSuccessState:
        cfg = self.config
        width = cfg.attack_window_s + cfg.follow_s + cfg.lateness_s
        fails = Window(width, cfg.max_entries, rows(_Fail, data["f"]), data["h"])
        successes = Window(width, cfg.max_entries, rows(_Success, data["s"]), data["h"])
        return AttackThenSuccessState(fails, successes, Suppression.from_dict(data["sup"]))

    def expires_at(self, state: AttackThenSuccessState) -> float:
        sup = state.sup.expires_at(self.config.suppress_s)
        return horizon(state.fails.expires_at(), state.successes.expires_at(), sup)

    def detect(
        self, event: Event, state: AttackThenSuccessState, *, directory: DirectoryFacts = NO_DIRECTORY
    ) -> list[Finding]:
        cfg = self.config
        if state.fails.too_late(event.time) or state.sup.replayed(event.uuid, event.time):
            return []
        if is_successful_sign_in(event):
            known = event.behaviors.get("New Device") == "NEGATIVE" and event.behaviors.get("New IP") == "NEGATIVE"
            success = _Success(event.time, event.uuid, event.ip, event.asn, known, event.actor_id, event.actor_login)
            if not state.successes.add(success):
                return []
            candidates = [success]
        else:
            if not state.fails.add(_Fail(event.time, attempt_id(event), event.uuid, event.ip, event.asn)):
                return []  # replayed, or the same attempt logged twice
            candidates = [
                s
                for s in state.successes.between(event.time, event.time + cfg.attack_window_s + cfg.follow_s)
                if s.time > event.time
            ]
        for window in (state.fails, state.successes):
            window.advance(max(state.fails.high_water, state.successes.high_water))
        findings = []
        for success in candidates:
            match = self._match(state, success)
            if match is None or state.sup.suppressed("success", success.time, cfg.suppress_s):
                continue
            state.sup.fire("success", success.time)
            findings.append(self._finding(event, success, match, directory))
        return findings

    def _match(self, state: AttackThenSuccessState, success: _Success) -> _Match | None:
        """The strongest attack run before ``success`` from its IP (preferred) or its ASN."""
        cfg = self.config
        earliest = success.time - cfg.follow_s - cfg.attack_window_s
        by_ip: dict[str, list[_Fail]] = {}
        for f in state.fails.between(earliest, success.time):
            if f.ip and f.time < success.time:
                by_ip.setdefault(f.ip, []).append(f)
        best: tuple[tuple[Any, ...], _Match] | None = None
        for ip, fails in sorted(by_ip.items()):
            same_ip = ip == success.ip
            same_asn = success.asn is not None and any(f.asn == success.asn for f in fails)
            if not (same_ip or same_asn):
                continue
            run = self._densest(fails, success.time)
            if len(run) < cfg.min_failures:
                continue
            rank = (same_ip, len(run), run[-1].time)
            if best is None or rank > best[0]:
                best = (rank, _Match(ip, tuple(run), same_ip))
        return best[1] if best else None

    def _densest(self, fails: list[_Fail], success_time: float) -> list[_Fail]:
        """Largest set of failures within the attack window whose last one is ≤ follow_s before the success."""
        cfg = self.config
        best: list[_Fail] = []
        j = 0
        for i, last in enumerate(fails):
            while last.time - fails[j].time > cfg.attack_window_s:
                j += 1
            if success_time - last.time <= cfg.follow_s and i - j + 1 >= len(best):
                best = fails[j : i + 1]
        return best

    def _finding(self, event: Event, success: _Success, match: _Match, directory: DirectoryFacts) -> Finding:
        cfg = self.config
        run = match.run
        fail_uuids = tuple(f.uuid for f in run)
        minutes = (success.time - run[-1].time) / 60
        span = (run[-1].time - run[0].time) / 60
        where = f"the attacking IP {match.ip}" if match.same_ip else f"the attacking network AS{success.asn}"
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{len(run)} failed passwords for the user from {match.ip} within {span:.0f} min",
                30,
                fail_uuids,
            ),
            Evidence(
                EvidenceClass.ACCESS,
                f"successful sign-in {minutes:.0f} min after the last failure",
                35,
                (success.uuid,),
            ),
            Evidence(EvidenceClass.ACCESS, f"the success came from {where}", 20, (success.uuid,)),
        ]
        dampeners = []
        if success.known_client:
            dampeners.append(
                Dampener(
                    "success from the user's known device and IP (Okta New Device/New IP NEGATIVE): likely the user"
                    " mistyping",
                    cfg.known_client_dampening,
                )
            )
        if is_allowlisted_egress(cfg, success.ip, success.asn):
            dampeners.append(Dampener("allowlisted corporate egress", cfg.allowlist_dampening))
        assessment = assess(evidence, dampeners, (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD))
        # the success's actor: a late failure may be the event that completed the chain
        assessment, severity = target_context(directory, success.actor_id).apply(assessment, Severity.HIGH)
        return make_finding(
            event,
            detection=self.id,
            title="Successful sign-in after a password attack on the user",
            severity=severity,
            assessment=assessment,
            anchor=(success.uuid,),
            event_uuids=(*fail_uuids, success.uuid),
            mitre=self.mitre,
            time=success.time,
            summary=f"{success.login} signed in successfully from {success.ip} (AS{success.asn})"
            f" {minutes:.0f} min after {len(run)} failed passwords from {match.ip}",
            principal=success.actor_id,  # the success's actor, whichever event completed the chain
            principal_login=success.login,
        )
