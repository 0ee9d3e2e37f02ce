"""The metrics reference, generated from the registry: ``python -m detector.metrics_reference > docs/metrics.md``.

Everything comes from what a process exports: each metric family of ``Metrics`` in declaration order with its
type, labels, help and the names its samples are exposed under, and which roles start its series at 0, found by
starting a fresh registry's series for each stage as the roles do (``start_series``, and the delivery channels'
series in the respond stage). ``tests/test_metrics_reference.py`` fails when docs/metrics.md is stale.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics import MetricWrapperBase

from detector.config import parse_config
from detector.ops.metrics import Metrics, Stage, start_series
from detector.respond.outbox import start_channel_series

COMMAND = "python -m detector.metrics_reference > docs/metrics.md"
TENANT, CHANNEL = "acme", "slack"  # one configured tenant and channel: the label values a start gives them
# each stage's Kafka role (the inventory sync runs beside the tenant's poller)
ROLES: dict[Stage, str] = {"poll": "poller", "detect": "worker", "act": "actions", "inventory": "poller"}


def families(metrics: Metrics) -> list[MetricWrapperBase]:
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def exposed(family: MetricWrapperBase) -> list[str]:
    """The names the family's samples have on /metrics (a counter's ``_total`` and ``_created``, ...), read from
    prometheus_client's own samples of one child. It adds that child: call it on a registry of its own."""
    if family._labelnames:
        family.labels(*["-"] * len(family._labelnames))
    return list(dict.fromkeys(s.name for metric in family.collect() for s in metric.samples))


def started_by(stage: Stage) -> Metrics:
    """A registry as the role running ``stage`` starts it, for one tenant and one delivery channel."""
    read = {"kind": "ssws", "token": {"env": "UNUSED"}}  # never resolved: no secret is read
    config = parse_config({"tenants": [{"name": TENANT, "org_url": "https://acme.okta.com", "read": read}]})
    metrics = Metrics()
    start_series(metrics, config, (stage,))
    if stage == "act":
        start_channel_series(metrics, [CHANNEL])
    return metrics


def started() -> dict[str, list[str]]:
    """Family name -> the roles whose start puts its series on /metrics before anything happens."""
    out: dict[str, list[str]] = {}
    for name in _with_samples(Metrics()):
        out.setdefault(name, []).append("every process")
    for stage, role in ROLES.items():
        for name in _with_samples(started_by(stage)) - _with_samples(Metrics()):
            out.setdefault(name, []).append(role)
    return out


def label_values() -> dict[str, list[str]]:
    """Label name -> every value the roles' starts give it (the tenant's and channel's own name aside)."""
    values: dict[str, set[str]] = {}
    for stage in ROLES:
        for family in started_by(stage).registry.collect():
            for sample in family.samples:
                for label, value in sample.labels.items():
                    if label not in ("le", "version") and value not in (TENANT, CHANNEL):
                        values.setdefault(label, set()).add(value)
    return {label: sorted(found) for label, found in sorted(values.items())}


def render() -> str:
    starts = started()
    lines = [
        "# Metrics reference",
        "",
        f"Generated from the code by `{COMMAND}`; do not edit by hand",
        "(`tests/test_metrics_reference.py` fails when this file is stale). Every process serves `GET /metrics`",
        "when its ops server is on (an `http:` section or `--metrics-port`; see [config.md](config.md#httpsettings)).",
        "What to watch and the alerts: [operations.md](operations.md).",
        "",
        "*Started at 0 by*: the roles that export the family's series from their start, for every configured tenant",
        "(and delivery channel) and every value of the other labels, so that `increase()` sees the first event and a",
        "tenant that never worked still has series to alert on. Embedded mode (`detector run`) runs every stage and",
        "starts them all. A family started by none appears with its first reading.",
        "",
        "| metric | type | labels | exposed as | started at 0 by | help |",
        "|---|---|---|---|---|---|",
    ]
    for family in families(Metrics()):
        (described,) = family.describe()
        labels = _labels(family)
        lines.append(
            _row(
                f"`{described.name}`",
                described.type,
                _codes(labels) or "-",
                _codes(exposed(family)),
                ", ".join(starts.get(described.name, [])) or "-",
                described.documentation,
            )
        )
    lines += [
        "",
        "The values a start gives each label, besides the configured tenants' and channels' names (`tenant` also",
        "takes `other` for a record of a tenant the process does not know, `code` also `http_<status>` for an Okta",
        "error without a code). `credential` (`read`, `enforce`) and `permission` come with a test connection's",
        "result, `group` and `topic` with Kafka's consumer lag, and `version` is the package's.",
        "",
        "| label | values |",
        "|---|---|",
    ]
    lines += [_row(f"`{label}`", _codes(values)) for label, values in label_values().items()]
    return "\n".join(lines) + "\n"


def _labels(family: MetricWrapperBase) -> list[str]:
    """Its label names (kept only in ``_labelnames`` by prometheus_client), and an info's keys from its sample."""
    names = list(family._labelnames)
    for metric in family.collect():
        names += [n for s in metric.samples for n in s.labels if n not in names and n != "le"]
    return names


def _with_samples(metrics: Metrics) -> set[str]:
    return {family.name for family in metrics.registry.collect() if family.samples}


def _codes(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


if __name__ == "__main__":
    print(render(), end="")
