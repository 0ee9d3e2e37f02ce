"""The detections that run, built from their settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from detections.admin_privilege_granted import AdminPrivilegeGranted, AdminPrivilegeGrantedConfig
from detections.anonymizer_signin import AnonymizerSignIn, AnonymizerSignInConfig
from detections.api_token_created import ApiTokenCreated, ApiTokenCreatedConfig
from detections.baseline import Baseline, BaselineConfig
from detections.brute_force import BruteForce, BruteForceConfig
from detections.directory import DirectoryFacts
from detections.directory_signin import DirectorySignIn, DirectorySignInConfig
from detections.distributed_spray import DistributedSpray, DistributedSprayConfig
from detections.engine import Detection, Engine, TenantContext
from detections.fastpass_phishing import FastPassPhishing, FastPassPhishingConfig
from detections.impossible_travel import ImpossibleTravel, ImpossibleTravelConfig
from detections.mfa_fatigue import MfaFatigue, MfaFatigueConfig
from detections.mfa_reset_takeover import MfaResetTakeover, MfaResetTakeoverConfig
from detections.okta_support_access import OktaSupportAccess, OktaSupportAccessConfig
from detections.okta_threat_signals import OktaThreatSignals, OktaThreatSignalsConfig
from detections.password_spray import PasswordSpray, PasswordSprayConfig
from detections.push_requester_mismatch import PushRequesterMismatch, PushRequesterMismatchConfig
from detections.session_hijack import SessionHijack, SessionHijackConfig
from detections.success_after_credential_attack import (
    SuccessAfterCredentialAttack,
    SuccessAfterCredentialAttackConfig,
)
from detections.tenant_profile import TenantProfile
from detections.tenant_tampering import TenantTampering, TenantTamperingConfig
from detections.threat_signals import Book, ThreatSignals, ThreatSignalsConfig
from detections.user_reported_suspicious import UserReportedSuspicious, UserReportedSuspiciousConfig


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """Per-tenant thresholds; every field has a sane default."""

    baseline: BaselineConfig = field(default_factory=BaselineConfig)  # the per-user profile every detection reads
    mfa_fatigue: MfaFatigueConfig = field(default_factory=MfaFatigueConfig)
    impossible_travel: ImpossibleTravelConfig = field(default_factory=ImpossibleTravelConfig)
    user_reported_suspicious: UserReportedSuspiciousConfig = field(default_factory=UserReportedSuspiciousConfig)
    okta_threat_signals: OktaThreatSignalsConfig = field(default_factory=OktaThreatSignalsConfig)
    password_spray: PasswordSprayConfig = field(default_factory=PasswordSprayConfig)
    brute_force: BruteForceConfig = field(default_factory=BruteForceConfig)
    admin_privilege_granted: AdminPrivilegeGrantedConfig = field(default_factory=AdminPrivilegeGrantedConfig)
    api_token_created: ApiTokenCreatedConfig = field(default_factory=ApiTokenCreatedConfig)
    tenant_tampering: TenantTamperingConfig = field(default_factory=TenantTamperingConfig)
    okta_support_access: OktaSupportAccessConfig = field(default_factory=OktaSupportAccessConfig)
    session_hijack: SessionHijackConfig = field(default_factory=SessionHijackConfig)
    anonymizer_signin: AnonymizerSignInConfig = field(default_factory=AnonymizerSignInConfig)
    success_after_credential_attack: SuccessAfterCredentialAttackConfig = field(
        default_factory=SuccessAfterCredentialAttackConfig
    )
    distributed_spray: DistributedSprayConfig = field(default_factory=DistributedSprayConfig)
    fastpass_phishing: FastPassPhishingConfig = field(default_factory=FastPassPhishingConfig)
    mfa_reset_takeover: MfaResetTakeoverConfig = field(default_factory=MfaResetTakeoverConfig)
    push_requester_mismatch: PushRequesterMismatchConfig = field(default_factory=PushRequesterMismatchConfig)
    threat_signals: ThreatSignalsConfig = field(default_factory=ThreatSignalsConfig)
    directory_signin: DirectorySignInConfig = field(default_factory=DirectorySignInConfig)


def build_detections(
    settings: DetectionSettings | None = None, profile: TenantProfile | None = None, book: Book | None = None
) -> list[Detection]:
    """The tenant profile (egress, known travellers) is merged into every detection config that has the field.
    ``book``: the signal book the tenants of one deployment share (default: this tenant's own)."""
    profile = profile or TenantProfile()
    settings = profile.apply(settings or DetectionSettings())
    return [
        MfaFatigue(settings.mfa_fatigue),
        ImpossibleTravel(settings.impossible_travel),
        UserReportedSuspicious(settings.user_reported_suspicious),
        OktaThreatSignals(settings.okta_threat_signals),
        PasswordSpray(settings.password_spray),
        BruteForce(settings.brute_force),
        AdminPrivilegeGranted(settings.admin_privilege_granted),
        ApiTokenCreated(settings.api_token_created),
        TenantTampering(settings.tenant_tampering),
        OktaSupportAccess(settings.okta_support_access),
        SessionHijack(settings.session_hijack),
        AnonymizerSignIn(settings.anonymizer_signin),
        SuccessAfterCredentialAttack(settings.success_after_credential_attack),
        DistributedSpray(settings.distributed_spray),
        FastPassPhishing(settings.fastpass_phishing),
        MfaResetTakeover(settings.mfa_reset_takeover),
        # defers to mfa_fatigue's accepted variant, so it reads that detection's thresholds
        PushRequesterMismatch(settings.push_requester_mismatch, settings.mfa_fatigue),
        # reads the signal book on sign-ins; the engine writes it with the credential attacks' findings
        ThreatSignals(settings.threat_signals, book, profile),
        # reads the directory inventory the engine is handed (nothing without one)
        DirectorySignIn(settings.directory_signin),
    ]


def build_baseline(settings: DetectionSettings | None = None) -> Baseline:
    """The per-user behavioural baseline the detections read (detections.baseline)."""
    return Baseline((settings or DetectionSettings()).baseline)


def build_engine(
    settings: DetectionSettings | None,
    context: TenantContext,
    book: Book | None = None,
    directory: DirectoryFacts | None = None,
) -> Engine:
    """A tenant's engine: its detections and the baseline they share, from its settings and context; ``book``:
    the threat-signal book the tenants of one process share (default: the tenant's own); ``directory``: what the
    tenant's directory inventory says of its users (default: nothing known)."""
    settings = settings or DetectionSettings()
    detections = build_detections(settings, context.profile, book)
    return Engine(detections, context, build_baseline(settings), directory)
