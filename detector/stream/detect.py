"""The detection step, once for both transports: an event's bytes in, findings and dead letters out.

Embedded mode (``detect_stage``) and Kafka mode (``faust_app``) differ only in how records arrive and how
results and state are stored; what happens to one record is here: parse it (a malformed event is a dead
letter with the reason), run the tenant's engine on it (a detection that raises is a dead letter naming
the detection, and the other detections still saw the event), serialise the findings, count it all.
Nothing here raises on event content, so no record can stop a stage.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from detections.engine import Engine, StateStore
from detections.event import Event, MalformedEvent, parse_event
from detections.finding import Finding
from detector.ops.labels import known
from detector.ops.metrics import Metrics

log = structlog.get_logger(__name__)

# An Okta event is a few KB. One larger than this is not judged but dead-lettered, cut to this size: its
# forwards and dead letter must stay under the broker's 1 MB record limit, since a send the broker refuses
# would fail the worker's whole batch (and fail-stop it) at every restart.
MAX_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    tenant: str
    reason: str
    value: bytes  # the record as it arrived


@dataclass(frozen=True, slots=True)
class Emitted:
    tenant: str
    dedup_key: str  # one per attack
    record_key: str  # one per revision: what the embedded findings table is unique on
    entity: str  # whom it is about: Kafka keys findings by tenant and entity, so one worker owns its incident
    value: bytes  # Finding.to_dict() as JSON


@dataclass(slots=True)
class StepResult:
    findings: list[Emitted] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)


class DetectStep:
    def __init__(self, engines: Mapping[str, Engine], metrics: Metrics) -> None:
        self.engines = engines
        self.metrics = metrics  # its series start at 0 (detector.ops.metrics.start_series, called by each mode)

    def parse(self, tenant: str, value: bytes, raw: Any = None, *, count: bool = True) -> Event | DeadLetter:
        """The event, or the dead letter saying why not. ``raw``: the already decoded JSON, if any."""
        if tenant not in self.engines:
            return self.dead(tenant, "unknown tenant", value)
        if len(value) > MAX_EVENT_BYTES:
            reason = f"event of {len(value):,} bytes, over the {MAX_EVENT_BYTES:,}-byte limit (kept cut to it)"
            return self.dead(tenant, reason, value[:MAX_EVENT_BYTES])
        try:
            event = parse_event(orjson.loads(value) if raw is None else raw, tenant)
        except (orjson.JSONDecodeError, MalformedEvent) as exc:
            return self.dead(tenant, f"malformed event: {exc}", value)
        if count:
            self.metrics.events_processed.labels(tenant).inc()
        return event

    def detect(self, event: Event, value: bytes, states: StateStore, only: Collection[str] | None = None) -> StepResult:
        """Run the tenant's detections on ``event``; ``value`` is what a dead letter keeps."""
        tenant = event.tenant
        outcome = self.engines[tenant].run(event, states, only)
        result = StepResult()
        for failure in outcome.failures:
            self.metrics.detection_errors.labels(tenant, failure.detection).inc()
            result.deadletters.append(self.dead(tenant, failure.reason, value))
        self.emit(outcome.findings, value, result)
        return result

    def emit(self, findings: Iterable[Finding], value: bytes, result: StepResult) -> StepResult:
        """Serialise and count ``findings`` into ``result``. A finding's tenant is its own (a threat signal
        raises findings in every tenant that flagged the source); one of a tenant not run here is dropped."""
        now = time.time()
        for finding in findings:
            tenant = finding.tenant
            if tenant not in self.engines:
                continue
            try:
                body = orjson.dumps(finding.to_dict())
            except (TypeError, ValueError, OverflowError) as exc:
                reason = f"finding of {finding.detection} unserialisable: {exc}"
                result.deadletters.append(self.dead(tenant, reason, value))
                continue
            self.metrics.findings.labels(tenant, finding.detection, finding.assessment.tier.value).inc()
            self.metrics.detection_latency.labels(tenant).observe(max(0.0, now - finding.time))
            log.info(
                "finding",
                detection=finding.detection,
                tenant=tenant,
                user=finding.principal_login,
                tier=finding.assessment.tier.value,
                confidence=finding.confidence,
                dedup_key=finding.dedup_key,
                revision=finding.revision,
            )
            result.findings.append(Emitted(tenant, finding.dedup_key, finding.record_key, finding.entity, body))
        return result

    def dead(self, tenant: str, reason: str, value: bytes) -> DeadLetter:
        """The dead letter of ``value``, logged and counted (under "other" for a tenant not run here)."""
        log.warning("event.deadletter", tenant=tenant, reason=reason)
        self.metrics.deadletters.labels(known(tenant, self.engines)).inc()  # a record key can name any tenant
        return DeadLetter(tenant, reason, value)
