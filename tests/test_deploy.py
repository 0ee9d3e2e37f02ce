"""deploy/: the compose stack, Prometheus and Grafana files agree with the code (no Docker here to run them).

Checked: every command given to the image parses with the real `detector` argument parser; the config
the roles mount loads with the secrets the compose file passes; the roles can reach the simulator on
loopback; Prometheus scrapes exactly the roles' metrics ports; alerts and dashboard name only metrics the
daemon exports; every file a service mounts exists.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from detector.cli import build_parser
from detector.config import load_config, secret_values
from detector.ops.metrics import Metrics
from tests.deploy_support import served

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ROLES = ("poller", "worker", "actions")


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the bind mounts (named volumes skipped)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            found[target] = (DEPLOY / source).resolve()
    return found


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def exposed(family: Any) -> set[str]:
    """The names a family's samples are exposed under (a counter's ``_total``, an info's ``_info``)."""
    return {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}


def metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names |= {family.name} | exposed(family)
    return names


def referenced_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\bitdr_[a-z_]+", expr))


def balanced(expr: str) -> bool:
    depth = 0
    for char in re.sub(r'"[^"]*"', "", expr):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1, "[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_the_stack_has_every_part_with_pinned_images():
    svc = services()
    assert set(svc) >= {"kafka", "sim", *ROLES, "prometheus", "grafana"}
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", svc["kafka"]["image"])
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", svc["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", svc["grafana"]["image"])
    kafka_env = svc["kafka"]["environment"]
    assert "broker" in kafka_env["KAFKA_PROCESS_ROLES"] and "controller" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert len(str(kafka_env["CLUSTER_ID"])) == 22  # a base64url UUID, as kafka-storage random-uuid makes


def test_our_services_build_the_repository_image_with_kafka_mode_installed():
    for name in ("sim", *ROLES):
        build = services()[name]["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert (DEPLOY / build["context"] / build.get("dockerfile", "Dockerfile")).exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"detector"' in dockerfile.split("ENTRYPOINT", 1)[1].splitlines()[0]
    assert "'.[kafka]'" in dockerfile, "the roles need aiokafka and faust-streaming in the image"


@pytest.mark.parametrize("name", ["sim", *ROLES])
def test_commands_are_real_subcommands_and_flags(name: str):
    cmd = command(services()[name])
    args = build_parser().parse_args(cmd)  # argparse exits (SystemExit) on an unknown subcommand or flag
    assert args.command == name
    if name != "sim":
        assert str(args.config) in mounts(services()[name]), "the --config file is not mounted"


def test_roles_reach_the_simulator_on_loopback_with_the_config_they_mount(monkeypatch: pytest.MonkeyPatch):
    svc = services()
    sim = build_parser().parse_args(command(svc["sim"]))
    for name in ROLES:
        role = svc[name]
        assert role["network_mode"] == "service:sim", "plain http org_url is only accepted on loopback"
        for var, value in role["environment"].items():
            monkeypatch.setenv(var, str(value))
        config_path = mounts(role)[flag(command(role), "--config")]
        config = load_config(config_path)
        assert len(secret_values(config)) == 2  # every {env: NAME} is set by the compose file
        url = urlsplit(config.tenants[0].org_url)
        assert (url.hostname, url.port) == (sim.host, sim.port) == ("127.0.0.1", sim.port)
        assert "${ITDR_SIM_TOKEN" in role["environment"]["OKTA_ACME_READ_TOKEN"] and sim.token.startswith(
            "${ITDR_SIM_TOKEN"
        ), "the roles and the simulator share one token, from the environment"
        assert config.kafka is not None and config.kafka.bootstrap == "kafka:9092"
        assert "PLAINTEXT://kafka:9092" in svc["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert config.http is not None and config.http.bind == "0.0.0.0"
        assert {"kafka", "sim"} <= set(role["depends_on"])
    assert "0.0.0.0" not in yaml.safe_dump(svc["sim"]), "the simulator listens on loopback only"


def test_prometheus_scrapes_each_role_on_its_own_metrics_port():
    svc = services()
    ports = {name: int(flag(command(svc[name]), "--metrics-port")) for name in ROLES}
    assert len(set(ports.values())) == len(ROLES), "roles share a network namespace: one port each"
    for name, port in ports.items():
        assert f"127.0.0.1:{port}/healthz" in " ".join(svc[name]["healthcheck"]["test"])
    prometheus = mounts(svc["prometheus"])
    config = yaml.safe_load(prometheus["/etc/prometheus/prometheus.yml"].read_text())
    scraped = {
        target: group["labels"]["role"]
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert scraped == {f"sim:{port}": name for name, port in ports.items()}
    for rule_file in config["rule_files"]:
        assert rule_file in prometheus, f"{rule_file} is not mounted"


def test_alert_rules_cover_lag_errors_and_silence_with_real_metrics():
    rules_path = mounts(services()["prometheus"])["/etc/prometheus/alerts.yml"]
    rules = [rule for group in yaml.safe_load(rules_path.read_text())["groups"] for rule in group["rules"]]
    known = metric_names()
    used: set[str] = set()
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert balanced(rule["expr"]), rule["alert"]
        names = referenced_metrics(rule["expr"])
        assert names <= known, f"{rule['alert']}: unknown metric(s) {names - known}"
        used |= names
    assert {
        "itdr_consumer_lag",
        "itdr_poll_lag_seconds",
        "itdr_poll_errors_total",
        "itdr_events_ingested_total",
        "itdr_tenant_status",
        "itdr_last_successful_poll_timestamp_seconds",
        "itdr_actions_total",
        "itdr_deadletter_total",
        "itdr_circuit_breaker_open",
        "itdr_tenant_permission_ok",
    } <= used
    exprs = {rule["alert"]: rule["expr"] for rule in rules}
    assert "time() - max by (tenant) (itdr_last_successful_poll_timestamp_seconds" in exprs["ItdrPollLagHigh"]
    assert 'increase(itdr_actions_total{outcome="failed"}[15m])) > 0' in exprs["ItdrActionsFailing"]


def test_grafana_provisions_prometheus_and_a_dashboard_of_real_metrics():
    grafana = mounts(services()["grafana"])
    provisioning, dashboards = grafana["/etc/grafana/provisioning"], grafana["/etc/grafana/dashboards"]
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "okta-itdr.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"

    dashboard = json.loads((dashboards / "okta-itdr.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique (Grafana keeps one of each)"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == datasource["uid"]
    # every configured tenant has itdr_tenant_status from the start, a tenant that never worked too
    assert variables["tenant"]["query"]["query"] == "label_values(itdr_tenant_status, tenant)"
    assert variables["instance"]["query"]["query"] == 'label_values(up{job="okta-itdr"}, instance)'
    known = metric_names()
    exprs = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert balanced(target["expr"]), panel["title"]
            assert referenced_metrics(target["expr"]) <= known, panel["title"]
            if "tenant" in target["expr"]:
                assert 'tenant=~"$tenant"' in target["expr"], panel["title"]
            assert 'instance=~"$instance"' in target["expr"], panel["title"]
            exprs.setdefault(panel["title"], []).append(target["expr"])
    text = json.dumps(exprs)
    for needed in (
        "rate(itdr_events_ingested_total",
        "itdr_poll_lag_seconds",
        "by (detection, tier) (increase(itdr_findings_total",
        "by (action, outcome) (increase(itdr_actions_total",
        "itdr_deadletter_total",
        "histogram_quantile(0.5, sum by (le) (rate(itdr_detection_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(itdr_detection_latency_seconds_bucket",
    ):
        assert needed in text, needed
    assert "Tenant status" in exprs
    assert services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")


def test_every_metric_family_the_daemon_exposes_has_a_dashboard_panel():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "okta-itdr.json").read_text())
    used = {name for p in dashboard["panels"] for t in p.get("targets", []) for name in referenced_metrics(t["expr"])}
    unused = [f.name for f in Metrics().registry.collect() if not exposed(f) & used]
    assert not unused, f"no panel shows {unused}"


async def test_healthchecks_request_paths_the_ops_server_serves():
    urls = [re.search(r"http://[^'\"\s]+", " ".join(services()[name]["healthcheck"]["test"])) for name in ROLES]
    paths = {urlsplit(url.group()).path for url in urls if url}
    assert all(urls) and paths == {"/healthz"}
    assert set((await served(paths)).values()) == {200}
