"""The respond step, once for both transports: a finding folded into its incident, its actions decided (and
done) by the action worker, the decisions recorded on the incident.

Embedded mode runs it as the consumer of the findings table and stores the incidents it changed, their
outbox rows and the offset in one transaction; Kafka mode as the consumer of itdr.findings (partitioned by
entity, so one worker owns an entity's incident) publishing the incidents to itdr.incidents before it
commits. Either way a redelivered finding changes nothing twice: the incident ignores a finding it holds
(same dedup key and revision) and the ledger a decision it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detector.ops.metrics import Metrics
from detector.respond.actions import ActionWorker, action_latency
from detector.respond.incidents import Incident, IncidentBook


class RespondStep:
    """The worker's ``on_record`` (wired by each mode) records every decision on the incident, so a decision
    made later (an approval, an undo) reaches the channels the same way as one made here."""

    def __init__(self, book: IncidentBook, worker: ActionWorker, metrics: Metrics) -> None:
        self.book, self.worker, self.metrics = book, worker, metrics

    async def handle(self, finding: Mapping[str, Any]) -> list[Incident]:
        """Fold the finding into its incident, then decide its actions: returns the incident when it changed
        (the decisions are on it, through ``on_record``, before the caller stores it)."""
        incident = self.book.apply(finding)
        key = incident.key if incident else self._open_key(finding)
        for record in await self.worker.handle({**finding, "incident": key} if key else finding):
            latency = action_latency(finding, record)
            if latency is not None:
                self.metrics.action_latency.labels(record.tenant, record.action).observe(max(0.0, latency))
        return [incident] if incident is not None else []

    def _open_key(self, finding: Mapping[str, Any]) -> str | None:
        """A redelivered finding (already folded in): the incident it is in, for its actions' records."""
        entity = finding.get("entity") or f"user:{finding.get('principal')}"
        incident = self.book.open.get((finding["tenant"], entity))
        return incident.key if incident is not None else None
