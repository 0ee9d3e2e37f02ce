"""Sign-in the directory says should not happen: a suspended or deprovisioned user, or a dormant account.

Why: Okta refuses a sign-in to a SUSPENDED or DEPROVISIONED user, so a successful one means the account
was turned back on behind the inventory's back, or a session or token outlived the offboarding
(``inactive_user_signin``, high). An account nobody used for 90 days that signs in again is what a
taken-over leaver or a forgotten test account looks like (``dormant_user_signin``, medium; issue 12's
"a dormant user (no sign-in for 90 days) signing in").

Reads the tenant's directory inventory (``reads_directory``): the user's status, since when
(``status_changed``), and the last sign-in before the sync (``last_login``). A user the inventory does not
know, or a sign-in from before the status changed (a late event), raises nothing; a user who never signed
in (no ``last_login``) is not called dormant. An admin target lifts the finding (detections.directory).
Never auto-enforced: the directory may be stale, so a person decides. Known limit: a user re-activated
seconds before signing in may be judged on the inventory from before the re-activation (the System Log
updates the inventory on its own consumer, which may lag this detection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import Suppression, is_successful_sign_in, make_finding
from detections.confidence import Evidence, EvidenceClass, assess
from detections.directory import NO_DIRECTORY, DirectoryFacts, UserFacts, target_context
from detections.event import SUCCESSFUL_SIGN_INS, Event
from detections.finding import Finding, Severity

DAY = 86_400.0
INACTIVE = frozenset({"SUSPENDED", "DEPROVISIONED"})


@dataclass(frozen=True, slots=True)
class DirectorySignInConfig:
    dormant_s: float = 90 * DAY  # no sign-in for this long (per the inventory's last_login) makes an account dormant
    suppress_s: float = DAY  # one finding per user and variant per day (the next sync learns the sign-in)


@dataclass(slots=True)
class DirectorySignInState:
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DirectorySignInState:
        return cls(Suppression.from_dict(data["sup"], guarded=False))


class DirectorySignIn:
    id: ClassVar[str] = "directory_signin"
    keyed_by_actor: ClassVar[bool] = True
    reads_directory: ClassVar[bool] = True
    event_types: ClassVar[frozenset[str] | None] = SUCCESSFUL_SIGN_INS
    mitre: ClassVar[tuple[str, ...]] = ("T1078", "T1078.004")

    def __init__(self, config: DirectorySignInConfig | None = None) -> None:
        self.config = config or DirectorySignInConfig()

    def state_key(self, event: Event) -> str | None:
        if not event.actor_id or not event.is_human or not is_successful_sign_in(event):
            return None
        return event.actor_id

    def new_state(self) -> DirectorySignInState:
        return DirectorySignInState()

    def load_state(self, data: dict[str, Any]) -> DirectorySignInState:
        return DirectorySignInState.from_dict(data)

    def expires_at(self, state: DirectorySignInState) -> float:
        return state.sup.expires_at(self.config.suppress_s)

    def detect(
        self, event: Event, state: DirectorySignInState, *, directory: DirectoryFacts = NO_DIRECTORY
    ) -> list[Finding]:
        facts = directory.user(event.actor_id)
        if facts is None:
            return []  # not known: the inventory has not synced, or the user is newer than the sync
        inactive, dormant = self._inactive(event, facts), self._dormant(event, facts)
        if inactive is None and dormant is None:
            return []
        if inactive is not None:
            title = "Sign-in by a suspended or deprovisioned user"
            return self._finding(event, state, directory, "inactive_user_signin", title, Severity.HIGH, inactive, 45)
        assert dormant is not None
        title = "Sign-in to a dormant account"
        return self._finding(event, state, directory, "dormant_user_signin", title, Severity.MEDIUM, dormant, 20)

    def _finding(
        self,
        event: Event,
        state: DirectorySignInState,
        directory: DirectoryFacts,
        detection: str,
        title: str,
        severity: Severity,
        label: str,
        points: int,
    ) -> list[Finding]:
        if state.sup.suppressed(detection, event.time, self.config.suppress_s):
            return []
        state.sup.fire(detection, event.time)
        evidence = [
            Evidence(EvidenceClass.ANOMALY, label, points, (event.uuid,)),
            Evidence(EvidenceClass.ACCESS, f"successful sign-in from {event.ip or 'no IP'}", 20, (event.uuid,)),
        ]
        assessment, severity = target_context(directory, event.actor_id).apply(assess(evidence), severity)
        who = event.actor_login or event.actor_id
        return [
            make_finding(
                event,
                detection=detection,
                title=title,
                severity=severity,
                assessment=assessment,
                anchor=(event.uuid,),
                event_uuids=(event.uuid,),
                mitre=self.mitre,
                time=event.time,
                summary=f"{who} signed in from {event.ip or 'no IP'}: {label}",
            )
        ]

    @staticmethod
    def _inactive(event: Event, facts: UserFacts) -> str | None:
        """Why the directory says this user cannot sign in, or None."""
        if facts.status not in INACTIVE:
            return None
        if facts.status_changed is not None and event.time < facts.status_changed:
            return None  # the sign-in came before the change: a late event, not a sign-in of an inactive user
        since = f" since {_days(event.time - facts.status_changed)} day(s)" if facts.status_changed else ""
        return f"the directory has the user {facts.status}{since}"

    def _dormant(self, event: Event, facts: UserFacts) -> str | None:
        """How long the account slept before this sign-in, or None when it is not dormant."""
        if facts.last_login is None or event.time - facts.last_login < self.config.dormant_s:
            return None
        return f"no sign-in for {_days(event.time - facts.last_login)} day(s) before this one, per the directory"


def _days(seconds: float) -> int:
    return int(seconds // DAY)
