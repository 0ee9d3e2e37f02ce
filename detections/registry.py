"""The detections that run, built from their settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from detections.engine import Detection
from detections.mfa_fatigue import MfaFatigue, MfaFatigueConfig


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """Per-tenant thresholds; every field has a sane default."""

    mfa_fatigue: MfaFatigueConfig = field(default_factory=MfaFatigueConfig)


def build_detections(settings: DetectionSettings | None = None) -> list[Detection]:
    settings = settings or DetectionSettings()
    return [MfaFatigue(settings.mfa_fatigue)]
