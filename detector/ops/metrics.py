"""Prometheus metrics of the daemon, on a registry of their own so that tests and
embedded runs never collide with another registry in the same process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.pages = Counter("itdr_log_pages_total", "System Log pages fetched", ["tenant"], registry=r)
        self.events_ingested = Counter(
            "itdr_events_ingested_total", "New System Log events stored on the bus", ["tenant"], registry=r
        )
        self.poll_errors = Counter(
            "itdr_poll_errors_total",
            "Failed System Log polls by Okta error code",
            ["tenant", "code"],
            registry=r,
        )
        self.poll_lag = Gauge(
            "itdr_poll_lag_seconds",
            "Now minus the newest `published` seen by the poller",
            ["tenant"],
            registry=r,
        )
        self.events_processed = Counter(
            "itdr_events_processed_total", "Events run through the detections", ["tenant"], registry=r
        )
        self.deadletters = Counter(
            "itdr_deadletter_total", "Malformed events set aside with their reason", ["tenant"], registry=r
        )
        self.detection_errors = Counter(
            "itdr_detection_errors_total",
            "Events a detection raised on (each dead-lettered; the other detections still ran)",
            ["tenant", "detection"],
            registry=r,
        )
        self.findings = Counter("itdr_findings_total", "Findings emitted", ["tenant", "detection", "tier"], registry=r)
        self.actions = Counter(
            "itdr_actions_total",
            "Enforcement actions by outcome",
            ["tenant", "action", "outcome"],
            registry=r,
        )
        self.tenant_status = Gauge(
            "itdr_tenant_status",
            "1 for the tenant's current status (success, in_progress, error), 0 for the others",
            ["tenant", "status"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "itdr_consumer_lag",
            "Kafka mode: records of a topic that a consumer group has not committed yet",
            ["group", "topic"],
            registry=r,
        )
        self.detection_latency = Histogram(
            "itdr_detection_latency_seconds",
            "Event `published` to finding stored",
            ["tenant"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.permission_ok = Gauge(
            "itdr_tenant_permission_ok",
            "1 when the tenant's credential holds the permission (last test connection), else 0",
            ["tenant", "credential", "permission"],
            registry=r,
        )
