"""The respond step, once for both transports: a finding folded into its incident, its actions decided (and
done) by the action worker, the decisions recorded on the incident.

Embedded mode runs it as the consumer of the findings table and stores the incidents it changed, their
outbox rows and the offset in one transaction; Kafka mode as the consumer of itdr.findings (partitioned by
entity, so one worker owns an entity's incident) publishing the incidents to itdr.incidents before it
commits. Either way a redelivered finding changes nothing twice: the incident ignores a finding it holds
(same dedup key and revision) and the ledger a decision it made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from detector.ops.metrics import Metrics
from detector.respond.actions import ActionWorker, action_latency
from detector.respond.incidents import Incident, IncidentBook
from detector.respond.ledger import ActionRecord

ActionHook = Callable[[ActionRecord], None]


class RespondStep:
    def __init__(
        self, book: IncidentBook, worker: ActionWorker, metrics: Metrics, on_action: ActionHook | None = None
    ) -> None:
        self.book, self.worker, self.metrics, self.on_action = book, worker, metrics, on_action

    async def handle(self, finding: Mapping[str, Any]) -> list[Incident]:
        """The incidents this finding changed (usually one; none for a finding already folded in)."""
        changed: dict[str, Incident] = {}
        incident = self.book.apply(finding)
        if incident is not None:
            changed[incident.key] = incident
        for record in await self.worker.handle(finding):
            latency = action_latency(finding, record)
            self.metrics.action_decided(record.tenant, record.action, record.status.value, latency)
            if self.on_action:
                self.on_action(record)
            entity = finding.get("entity") or f"user:{record.principal}"
            updated = self.book.record_action(record.tenant, entity, record.to_dict())
            if updated is not None:
                changed[updated.key] = updated
        return list(changed.values())
