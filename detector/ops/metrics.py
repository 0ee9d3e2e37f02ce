"""Prometheus metrics of the daemon, on a registry of their own so that tests and
embedded runs never collide with another registry in the same process.

Every labelled counter starts at 0 for every value its labels can take in this process (``start_series``):
``increase()`` only sees a counter move between two samples, so a series that first appears at 1 hides the
first finding, failed action or dead letter from every alert, and a tenant that never worked would have no
series for an alert to find."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from detections.catalogue import finding_names
from detections.confidence import Action, Tier
from detections.finding import Finding
from detector.config import Config
from detector.inventory.catalogue import finding_names as directory_finding_names
from detector.okta.budget import BUCKETS, Priority, RateObserver, WaitObserver
from detector.ops.labels import OTHER, POLL_ERROR_CODES
from detector.respond.ledger import Status
from detector.version import package_version

# What a process runs: embedded mode all of them, each Kafka role one (the inventory sync: the poller's too).
Stage = Literal["poll", "detect", "act", "inventory"]
INVENTORY_EFFECTS = ("updated", "removed", "stale")  # what an event did to the inventory (ignored ones aside)
TenantStatus = Literal["success", "in_progress", "error"]
TENANT_STATUSES: tuple[TenantStatus, ...] = ("success", "in_progress", "error")
OUTCOMES = tuple(s.value for s in Status if s is not Status.PENDING)  # a decision reported is final or failed


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.build = Info("itdr_build", "The okta-itdr version running", registry=r)
        self.build.info({"version": package_version()})
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
            "How far behind the System Log the poller is, at scrape time: now minus its last poll that reached "
            "the end of the log (in a backlog: minus the newest `published` stored); grows while polls fail",
            ["tenant"],
            registry=r,
        )
        self.cursor_age = Gauge(
            "itdr_poll_cursor_age_seconds",
            "Now minus the newest `published` the stored cursor covers, at scrape time (also grows in a quiet org)",
            ["tenant"],
            registry=r,
        )
        self.last_success = Gauge(
            "itdr_last_successful_poll_timestamp_seconds",
            "Unix time of the tenant's last successful System Log poll; 0 until the first",
            ["tenant"],
            registry=r,
        )
        self.tenant_status = Gauge(
            "itdr_tenant_status",
            "1 for the tenant's current status (success, in_progress, error), 0 for the others",
            ["tenant", "status"],
            registry=r,
        )
        self.permission_ok = Gauge(
            "itdr_tenant_permission_ok",
            "Test connection: 1 if the tenant's credential (read, enforce) holds the permission, 0 if not",
            ["tenant", "credential", "permission"],
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            "itdr_rate_limit_remaining",
            "X-Rate-Limit-Remaining of the latest Okta response in the rate-limit bucket (org-wide)",
            ["tenant", "bucket"],
            registry=r,
        )
        self.rate_limited = Counter(
            "itdr_rate_limited_total",
            "Okta responses 429 Too Many Requests, by rate-limit bucket (each retry counts)",
            ["tenant", "bucket"],
            registry=r,
        )
        self.budget_waits = Counter(
            "itdr_rate_budget_waits_total",
            "Okta requests the tenant's shared rate budget held back, by bucket and priority (enforce, tail, sync)",
            ["tenant", "bucket", "priority"],
            registry=r,
        )
        self.budget_wait_seconds = Counter(
            "itdr_rate_budget_wait_seconds_total",
            "Seconds Okta requests waited for the tenant's shared rate budget, by bucket and priority",
            ["tenant", "bucket", "priority"],
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
        self.breaker_open = Gauge(
            "itdr_circuit_breaker_open",
            "1 while the tenant's circuit breaker (max_actions_per_hour) holds automatic actions back",
            ["tenant"],
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
        self.deliveries = Counter(
            "itdr_deliveries_total",
            "Incident updates per channel by outcome: delivered, retried (an attempt that will be retried), parked",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "itdr_outbox_depth", "Incident updates waiting for a channel", ["channel"], registry=r
        )
        self.delivery_lag = Histogram(
            "itdr_delivery_lag_seconds",
            "Incident update stored to delivered, per channel",
            ["channel"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.action_latency = Histogram(
            "itdr_action_latency_seconds",
            "Event `published` of the event that completed the finding to its action's ledger row done",
            ["tenant", "action"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )

        self.inventory_sync_duration = Gauge(
            "itdr_inventory_sync_duration_seconds",
            "How long the tenant's last finished inventory sync took (the runs of a resumed sync added up)",
            ["tenant"],
            registry=r,
        )
        self.inventory_last_success = Gauge(
            "itdr_inventory_last_success_timestamp_seconds",
            "Unix time the tenant's last successful inventory sync finished; 0 until the first",
            ["tenant"],
            registry=r,
        )
        self.inventory_records = Gauge(
            "itdr_inventory_records",
            "Inventory records of the tenant per kind (user, group, role, factor, ...), after each sync",
            ["tenant", "kind"],
            registry=r,
        )
        self.inventory_sync_errors = Counter(
            "itdr_inventory_sync_errors_total",
            "Inventory syncs that failed (each keeps its checkpoint: the next one resumes it)",
            ["tenant"],
            registry=r,
        )
        self.inventory_events = Counter(
            "itdr_inventory_events_total",
            "System Log events applied to the inventory by effect: updated, removed, stale (re-read at the next sync)",
            ["tenant", "effect"],
            registry=r,
        )

    def finding_raised(self, finding: Finding) -> None:
        """A finding raised outside the detection step (the review after an inventory sync)."""
        self.findings.labels(finding.tenant, finding.detection, finding.assessment.tier.value).inc()

    def inventory_event(self, tenant: str, outcome: str | None) -> None:
        """What a System Log event did to the inventory (``InventoryUpdater.apply_raw``): counted when it changed it."""
        if outcome in INVENTORY_EFFECTS:
            self.inventory_events.labels(tenant, outcome).inc()

    def inventory_synced(self, tenant: str, status: dict[str, Any]) -> None:
        """A sync ended (success or error): its duration, counts and errors."""
        if status.get("state") == "error":
            self.inventory_sync_errors.labels(tenant).inc()
        elif status.get("state") == "success":
            self.inventory_sync_duration.labels(tenant).set(float(status.get("duration_s") or 0.0))
            self.inventory_last_success.labels(tenant).set(float(status.get("finished") or 0.0))
        for kind, n in (status.get("counts") or {}).items():
            self.inventory_records.labels(tenant, kind).set(n)

    def set_tenant_status(self, tenant: str, status: TenantStatus) -> None:
        for each in TENANT_STATUSES:
            self.tenant_status.labels(tenant, each).set(1 if each == status else 0)

    def poll_succeeded(self, tenant: str) -> None:
        """The tenant status gauge is the status board's (detector.ops.status): it knows catching up."""
        self.last_success.labels(tenant).set_to_current_time()

    def action_decided(self, tenant: str, action: str, outcome: str, latency: float | None) -> None:
        """One ledger decision; ``latency`` (seconds since the finding's event) when the action was done."""
        self.actions.labels(tenant, action, outcome).inc()
        if latency is not None:
            self.action_latency.labels(tenant, action).observe(max(0.0, latency))

    def set_breaker(self, tenant: str, is_open: bool) -> None:
        self.breaker_open.labels(tenant).set(1 if is_open else 0)

    def rate_observer(self, tenant: str) -> RateObserver:
        """The hook an Okta client of ``tenant`` reports each response's rate-limit headers to."""

        def observe(bucket: str, remaining: int | None, limited: bool) -> None:
            if remaining is not None:
                self.rate_limit_remaining.labels(tenant, bucket).set(remaining)
            if limited:
                self.rate_limited.labels(tenant, bucket).inc()

        return observe

    def wait_observer(self, tenant: str) -> WaitObserver:
        """The hook the rate budget of ``tenant`` reports each wait it makes a request take to."""

        def waited(bucket: str, priority: Priority, seconds: float, first: bool) -> None:
            if first:
                self.budget_waits.labels(tenant, bucket, priority.label).inc()
            self.budget_wait_seconds.labels(tenant, bucket, priority.label).inc(max(0.0, seconds))

        return waited


def start_series(metrics: Metrics, config: Config, stages: Collection[Stage]) -> None:
    """Touch every series the ``stages`` of this process can emit, for every configured tenant: counters at 0,
    histograms empty, the tenant status ``in_progress``, the last successful poll 0 (never).

    Only the stages this process runs: a Kafka poller exporting ``itdr_events_processed_total`` at 0 forever
    would read as a stuck detection worker. Gauges that hold a reading (lag, remaining quota, consumer lag)
    appear with their first reading."""
    tenants = [t.name for t in config.tenants]
    synced = {t.name for t in config.tenants if t.inventory.enabled}
    posture = {t.name for t in config.tenants if t.inventory.enabled and t.posture.enabled}
    names = finding_names()
    for tenant in tenants:
        if "poll" in stages:
            metrics.pages.labels(tenant)
            metrics.events_ingested.labels(tenant)
            metrics.last_success.labels(tenant).set(0)
            metrics.set_tenant_status(tenant, "in_progress")
            for code in sorted(POLL_ERROR_CODES):
                metrics.poll_errors.labels(tenant, code)
        if "poll" in stages or "act" in stages:  # the processes with Okta clients
            for bucket in BUCKETS:
                metrics.rate_limited.labels(tenant, bucket)
                for priority in Priority:
                    metrics.budget_waits.labels(tenant, bucket, priority.label)
                    metrics.budget_wait_seconds.labels(tenant, bucket, priority.label)
        if "detect" in stages:
            metrics.events_processed.labels(tenant)
            metrics.deadletters.labels(tenant)
            metrics.detection_latency.labels(tenant)
            for detection, emitted in names.items():
                metrics.detection_errors.labels(tenant, detection)
                for name in emitted:
                    for tier in Tier:
                        metrics.findings.labels(tenant, name, tier.value)
        if "inventory" in stages and tenant in posture:
            for name in directory_finding_names():
                for tier in Tier:
                    metrics.findings.labels(tenant, name, tier.value)
        if "inventory" in stages and tenant in synced:
            metrics.inventory_sync_errors.labels(tenant)
            metrics.inventory_last_success.labels(tenant).set(0)
            for effect in INVENTORY_EFFECTS:
                metrics.inventory_events.labels(tenant, effect)
        if "act" in stages:
            metrics.breaker_open.labels(tenant).set(0)
            for action in Action:
                metrics.action_latency.labels(tenant, action.value)
                for outcome in OUTCOMES:
                    metrics.actions.labels(tenant, action.value, outcome)
    if "detect" in stages:
        metrics.deadletters.labels(OTHER)  # a record keyed by a tenant this process does not know
