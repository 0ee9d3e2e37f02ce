"""User reported suspicious activity ("This wasn't me").

Why: the user is the one sensor that knows whether a sign-in, a push or a new
factor was theirs. Okta ITP maps the report to entity risk High and recommends
Universal Logout; Entra raises user risk to High (Panther Okta.User.Reported.Suspicious.Activity).

Triggers on ``user.account.report_suspicious_activity_by_enduser`` by a human
actor: USER_REPORT evidence (+60), which alone earns clearing sessions. When
the reported event shows access was achieved (a successful sign-in, the
new-device sign-in notification, an accepted push) it adds ACCESS (+35), which
earns a password expiry; a reported factor enrolment additionally offers a
factor reset. ``debugData.suspiciousActivity*`` describe the reported event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections.common import Suppression, make_finding
from detections.confidence import Action, Evidence, EvidenceClass, assess
from detections.event import Event
from detections.finding import Finding, Severity

REPORT = "user.account.report_suspicious_activity_by_enduser"

# Reported event types that mean somebody got in (the notification e-mails are what the user clicks "not me" on).
ACCESS_EVENT_TYPES = frozenset(
    {
        "user.session.start",
        "user.authentication.sso",
        "user.authentication.auth_via_mfa",
        "user.authentication.verify",
        "user.mfa.okta_verify",
        "system.email.new_device_notification.sent_message",
    }
)
FACTOR_EVENT_TYPES = frozenset(
    {"user.mfa.factor.activate", "system.email.mfa_enroll_notification.sent_message", "device.enrollment.create"}
)
_NO_ACCESS_RESULTS = frozenset({"FAILURE", "DENY", "UNANSWERED", "ABANDONED", "REJECTED"})


@dataclass(frozen=True, slots=True)
class UserReportedSuspiciousConfig:
    suppress_s: float = 3600.0  # one finding per user per hour (Panther dedup 60 min)


@dataclass(slots=True)
class ReportState:
    sup: Suppression = field(default_factory=Suppression)

    def to_dict(self) -> dict[str, Any]:
        return {"sup": self.sup.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportState:
        return cls(Suppression.from_dict(data["sup"], guarded=False))


class UserReportedSuspicious:
    id: ClassVar[str] = "user_reported_suspicious"
    event_types: ClassVar[frozenset[str] | None] = frozenset({REPORT})
    keyed_by_actor: ClassVar[bool] = True
    mitre: ClassVar[tuple[str, ...]] = ("T1078",)

    def __init__(self, config: UserReportedSuspiciousConfig | None = None) -> None:
        self.config = config or UserReportedSuspiciousConfig()

    def state_key(self, event: Event) -> str | None:
        if event.event_type != REPORT or not event.is_human or not event.actor_id:
            return None
        return event.actor_id

    def new_state(self) -> ReportState:
        return ReportState()

    def load_state(self, data: dict[str, Any]) -> ReportState:
        return ReportState.from_dict(data)

    def expires_at(self, state: ReportState) -> float:
        return state.sup.expires_at(self.config.suppress_s)

    def detect(self, event: Event, state: ReportState) -> list[Finding]:
        if state.sup.suppressed("report", event.time, self.config.suppress_s):
            return []
        state.sup.fire("report", event.time)
        reported = str(event.debug.get("suspiciousactivityeventtype") or "")
        result = str(event.debug.get("suspiciousactivityeventresult") or "").upper()
        where = ", ".join(
            str(event.debug[k])
            for k in ("suspiciousactivityeventip", "suspiciousactivityeventcity", "suspiciousactivityeventcountry")
            if event.debug.get(k)
        )
        evidence = [
            Evidence(
                EvidenceClass.USER_REPORT, f"user reported {reported or 'an event'} as not theirs", 60, (event.uuid,)
            )
        ]
        offered = [Action.CLEAR_SESSIONS]
        if result not in _NO_ACCESS_RESULTS and (reported in ACCESS_EVENT_TYPES or reported in FACTOR_EVENT_TYPES):
            evidence.append(
                Evidence(EvidenceClass.ACCESS, f"the reported {reported} means access was achieved", 35, (event.uuid,))
            )
            offered.append(Action.EXPIRE_PASSWORD)
            if reported in FACTOR_EVENT_TYPES:
                offered.append(Action.RESET_FACTORS)
        return [
            make_finding(
                event,
                detection=self.id,
                title="User reported suspicious activity",
                severity=Severity.HIGH,
                assessment=assess(evidence, offered=offered),
                anchor=(event.uuid,),
                event_uuids=(event.uuid,),
                mitre=self.mitre,
                time=event.time,
                summary=f"{event.actor_login} reported {reported or 'an event'}"
                + (f" ({where})" if where else "")
                + " as suspicious",
            )
        ]
