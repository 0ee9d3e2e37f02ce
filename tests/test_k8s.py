"""deploy/k8s: every manifest is a valid Kubernetes object and agrees with the image and the daemon.

Schema: each document is deserialized into its model class of the official ``kubernetes`` client and
serialized back; a field the model does not know is dropped on the way, so the round trip must give back
the document itself (a typo such as ``readinesProbe`` is an error, as are wrong types and missing required
fields). Agreement: each container's arguments parse with the real ``detector`` parser; the config the
ConfigMap holds passes the daemon's startup validation inside a copy of the pod's filesystem (the ConfigMap
and Secret mounted as the kubelet lays them out, the env from the Secret); the port the config makes each role
serve is its ``ops`` port, probed and scraped on paths the ops server serves; the pods run as the image's uid
with a read-only root filesystem; Prometheus (deploy/prometheus/kubernetes.yml) keeps every role's Service.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes.client import ApiClient

from detector.cli import _metrics_settings, build_parser
from detector.config import Config, parse_config
from detector.tenants import validated_config
from tests.deploy_support import ROOT, dockerfile, served
from tests.prometheus import JOB

K8S = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = K8S / "secret.yaml.example"
SCRAPE = ROOT / "deploy" / "prometheus" / "kubernetes.yml"
ROLES = {"poller", "worker", "actions"}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def documents() -> list[dict[str, Any]]:
    """Every object: the kustomization's resources in order, then the Secret template."""
    paths = [K8S / name for name in kustomization()["resources"]] + [SECRET_TEMPLATE]
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    (doc,) = of_kind(kind)
    return doc


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in of_kind("Deployment")}


def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(deployment)["containers"]
    return only


def args(deployment: dict[str, Any]) -> Any:
    return build_parser().parse_args(container(deployment)["args"])  # SystemExit on an unknown command or flag


def config_text() -> str:
    (text,) = one("ConfigMap")["data"].values()
    return text


def config_data() -> dict[str, Any]:
    return yaml.safe_load(config_text())


def volume(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in pod(deployment)["volumes"] if v["name"] == name)


def mount_of(deployment: dict[str, Any], path: PurePosixPath) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume mount (and its volume) that ``path`` lies in: the deepest mount path above it."""
    mounts = [m for m in container(deployment)["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert mounts, f"{path} is in no volume: the root filesystem is read-only and holds no config or secret"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    return mount, volume(deployment, mount["name"])


def secret_refs(data: Any, where: str = "") -> list[tuple[str, dict[str, str]]]:
    """(field path, {env: ...} or {file: ...}) for every secret reference of a config."""
    if isinstance(data, dict):
        if set(data) in ({"env"}, {"file"}):
            return [(where, data)]
        return [ref for key, value in data.items() for ref in secret_refs(value, f"{where}.{key}")]
    if isinstance(data, list):
        return [ref for i, value in enumerate(data) for ref in secret_refs(value, f"{where}[{i}]")]
    return []


# --- the Kubernetes API schema -------------------------------------------------------------------------------


def model_name(doc: dict[str, Any]) -> str:
    """``apps/v1`` ``Deployment`` -> ``V1Deployment``, as the client names its models."""
    return doc["apiVersion"].rpartition("/")[2].capitalize() + doc["kind"]


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """What the Kubernetes API would not take as written: unknown fields, wrong types, missing required ones."""
    client = ApiClient()
    try:
        model = client.deserialize(json.dumps(doc), model_name(doc), "application/json")
    except (ValueError, TypeError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
        return [str(exc)]
    return _differences(doc, client.sanitize_for_serialization(model), "")


def _differences(given: Any, kept: Any, where: str) -> list[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        out = [f"{where}.{key}: unknown field" for key in given.keys() - kept.keys()]
        return out + [
            e for key in given.keys() & kept.keys() for e in _differences(given[key], kept[key], f"{where}.{key}")
        ]
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            e for i, (g, k) in enumerate(zip(given, kept, strict=True)) for e in _differences(g, k, f"{where}[{i}]")
        ]
    return [] if given == kept else [f"{where}: {given!r} read as {kept!r}"]


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_a_valid_kubernetes_object(doc: dict[str, Any]):
    assert not schema_errors(doc)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda c: c.update(readinesProbe=c.pop("readinessProbe")), "containers[0].readinesProbe: unknown field"),
        (lambda c: c["ports"][0].update(containerPort="9108"), "valid integer"),
        (lambda c: c.pop("name"), "name"),
    ],
)
def test_the_schema_check_finds_typos_wrong_types_and_missing_fields(change: Any, error: str):
    broken = copy.deepcopy(deployments()["poller"])
    change(container(broken))
    assert any(error in e for e in schema_errors(broken)), schema_errors(broken)


def test_kustomize_applies_every_manifest_but_never_the_secret_template():
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert SECRET_TEMPLATE.suffix not in (".yaml", ".yml", ".json"), "kubectl apply -f deploy/k8s would apply it"
    assert kustomization()["resources"][0] == "namespace.yaml"


def test_everything_is_in_the_one_namespace():
    namespace = one("Namespace")["metadata"]["name"]
    namespaced = [d for d in documents() if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {namespace}
    assert one("Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_secret_template_holds_placeholders_only():
    secret = one("Secret")
    assert "data" not in secret and secret["stringData"]
    for key, value in secret["stringData"].items():
        assert re.fullmatch(r"<[^<>]+>", value), f"{key}: a placeholder, never a value"


# --- the daemon's commands, config and ports ---------------------------------------------------------------


def test_one_deployment_per_kafka_role_running_that_role():
    found = deployments()
    assert set(found) == ROLES
    for role, deployment in found.items():
        assert args(deployment).command == role
        assert container(deployment)["name"] == role
    assert "command" not in container(found["poller"]), "the image's ENTRYPOINT (detector) runs the arguments"


def test_detection_workers_are_at_most_the_partition_count_and_pollers_never_two():
    config = parse_config(config_data())
    assert config.kafka is not None, "the manifests run Kafka mode"
    found = deployments()
    assert 1 <= found["worker"]["spec"]["replicas"] <= config.kafka.partitions
    assert found["poller"]["spec"]["replicas"] == 1 and found["poller"]["spec"]["strategy"]["type"] == "Recreate"
    assert found["actions"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_config_is_mounted_where_the_command_reads_it(role: str):
    deployment = deployments()[role]
    path = PurePosixPath(str(args(deployment).config))
    mount, vol = mount_of(deployment, path)
    assert mount.get("readOnly") is True
    assert vol["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    assert str(path.relative_to(mount["mountPath"])) in one("ConfigMap")["data"]
    assert "subPath" not in mount, "a subPath mount never sees an edited ConfigMap"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_secret_the_config_names_comes_from_the_kubernetes_secret(role: str):
    """Every role validates every reference at start, so each one needs them all."""
    deployment, secret = deployments()[role], one("Secret")
    env = {e["name"]: e for e in container(deployment).get("env", [])}
    refs = secret_refs(config_data())
    assert {"env"} in [set(r) for _, r in refs] and {"file"} in [set(r) for _, r in refs]
    for where, ref in refs:
        if "env" in ref:
            source = env[ref["env"]]["valueFrom"]["secretKeyRef"]
            assert "value" not in env[ref["env"]], where
            assert source["name"] == secret["metadata"]["name"] and source["key"] in secret["stringData"], where
        else:
            path = PurePosixPath(ref["file"])
            mount, vol = mount_of(deployment, path)
            assert mount.get("readOnly") is True, where
            assert vol["secret"]["secretName"] == secret["metadata"]["name"], where
            items = {item["path"]: item["key"] for item in vol["secret"]["items"]}
            assert items[str(path.relative_to(mount["mountPath"]))] in secret["stringData"], where
    for name, entry in env.items():
        assert "valueFrom" in entry, f"{name}: env values come from the Secret, never the manifest"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_config_passes_startup_validation_inside_the_pod(role: str, tmp_path: Path, monkeypatch):
    """The pod's filesystem, under tmp_path: the ConfigMap and the Secret's items laid out as the kubelet does
    (``..data`` symlinks), the env from the Secret; then the daemon's own startup check."""
    deployment, secret = deployments()[role], one("Secret")
    values = {key: _secret_value(key) for key in secret["stringData"]}
    for mount in container(deployment)["volumeMounts"]:
        vol = volume(deployment, mount["name"])
        at = tmp_path / mount["mountPath"].lstrip("/")
        if "configMap" in vol:
            _kubelet_volume(at, {key: _in_pod(tmp_path, text) for key, text in one("ConfigMap")["data"].items()})
        elif "secret" in vol:
            _kubelet_volume(at, {item["path"]: values[item["key"]] for item in vol["secret"]["items"]})
    for entry in container(deployment)["env"]:
        monkeypatch.setenv(entry["name"], values[entry["valueFrom"]["secretKeyRef"]["key"]])
    config_path = tmp_path / str(args(deployment).config).lstrip("/")
    config, found = validated_config(config_path)  # ConfigError names the field when anything is wrong
    assert sorted(found) == sorted(value.removesuffix("\n") for value in values.values()), "each key, read as given"
    assert config.data_dir == tmp_path / "var/lib/itdr/data"


def test_the_data_dir_is_in_a_pod_volume_and_below_its_mount():
    """The daemon makes its data directory 0700; it cannot tighten a volume root it does not own."""
    data_dir = PurePosixPath(config_data()["data_dir"])
    for deployment in deployments().values():
        mount, vol = mount_of(deployment, data_dir)
        assert "emptyDir" in vol and data_dir != PurePosixPath(mount["mountPath"])


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_each_role_serves_its_ops_port_on_every_address_and_is_probed_on_served_paths(role: str):
    deployment = deployments()[role]
    config: Config = parse_config(config_data())
    http = _metrics_settings(config, args(deployment).metrics_port)
    assert http is not None and http.bind == "0.0.0.0", "the kubelet and Prometheus reach the pod from outside"
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert ports == {"ops": http.port}
    probes = {
        kind: container(deployment)[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert {probe["port"] for probe in probes.values()} == {"ops"}
    scraped = yaml.safe_load(SCRAPE.read_text())["scrape_configs"][0]["metrics_path"]
    statuses = await served([*(p["path"] for p in probes.values()), scraped])
    assert set(statuses.values()) == {200}, statuses


def test_each_role_has_a_cluster_ip_service_for_its_ops_port():
    services = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in of_kind("Service")}
    assert set(services) == ROLES
    for role, service in services.items():
        deployment = deployments()[role]
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        (port,) = service["spec"]["ports"]
        assert port["name"] == port["targetPort"] == "ops"
        assert port["port"] == container(deployment)["ports"][0]["containerPort"]
        assert service["spec"]["publishNotReadyAddresses"] is True, "a not-ready role still has metrics to read"


# --- the pods' security and resources ------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLES))
def test_pods_run_as_the_image_user_unprivileged_with_a_read_only_root(role: str):
    deployment = deployments()[role]
    uid, gid = (int(n) for n in dockerfile()[-1].all("USER")[-1].text.split(":"))
    spec = pod(deployment)
    assert spec["automountServiceAccountToken"] is False
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True and (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert security["fsGroup"] == gid and security["seccompProfile"]["type"] == "RuntimeDefault"
    own = container(deployment)["securityContext"]
    assert own["runAsNonRoot"] is True and own["allowPrivilegeEscalation"] is False
    assert own["readOnlyRootFilesystem"] is True and own["capabilities"] == {"drop": ["ALL"]}
    for mount in container(deployment)["volumeMounts"]:
        vol = volume(deployment, mount["name"])
        assert mount.get("readOnly") is True or "emptyDir" in vol, f"{mount['mountPath']}: writable but not scratch"
        if "secret" in vol:
            assert vol["secret"]["defaultMode"] == 0o440, "readable by the pod's group (fsGroup), no one else"
    assert {m["mountPath"] for m in container(deployment)["volumeMounts"]} >= {"/tmp"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_container_asks_for_and_is_bounded_in_cpu_and_memory(role: str):
    resources = container(deployments()[role])["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_every_role_runs_the_image_of_this_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {container(d)["image"] for d in deployments().values()}
    assert images == {f"okta-itdr:{version}"}


# --- Prometheus ----------------------------------------------------------------------------------------------


def relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' ``keep`` and ``replace`` relabelling (the two actions the scrape config uses)."""
    out = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(out.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep" and not match:
            return None
        if action == "replace" and match:
            out[rule["target_label"]] = match.expand(rule.get("replacement", "$1").replace("$", "\\"))
    return out


def _meta(service: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The labels endpointslice discovery gives a target of ``service``'s first port."""
    labels = {
        f"__meta_kubernetes_service_label_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v
        for k, v in service["metadata"]["labels"].items()
    }
    return labels | {
        "__meta_kubernetes_endpointslice_port_name": service["spec"]["ports"][0]["name"],
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_namespace": service["metadata"]["namespace"],
    }


def test_prometheus_scrapes_every_role_as_the_job_and_role_the_alerts_and_dashboard_select():
    scrape = yaml.safe_load(SCRAPE.read_text())
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == JOB
    (discovery,) = job["kubernetes_sd_configs"]
    assert discovery["namespaces"]["names"] == [one("Namespace")["metadata"]["name"]]
    roles = set()
    for service in of_kind("Service"):
        target = relabel(job["relabel_configs"], _meta(service, "okta-itdr-x-1"))
        assert target is not None, service["metadata"]["name"]
        roles.add(target["role"])
        assert target["instance"] == "okta-itdr-x-1"
    assert roles == ROLES
    other = copy.deepcopy(of_kind("Service")[0])
    other["metadata"]["labels"]["app.kubernetes.io/name"] = "other"
    assert relabel(job["relabel_configs"], _meta(other, "x")) is None
    for rule_file in scrape["rule_files"]:
        assert (SCRAPE.parent / rule_file).exists()


# --- helpers -------------------------------------------------------------------------------------------------


def _secret_value(key: str) -> str:
    """A usable value for each Secret key: an RSA key for a PEM, else random text (and a newline, as files get)."""
    if key.endswith(".pem"):
        key_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key_pem.decode()
    return secrets.token_hex(32) + "\n"


def _in_pod(root: Path, config: str) -> str:
    """The config with its absolute paths moved under ``root`` (the pod's filesystem in the test)."""
    data = yaml.safe_load(config)
    data["data_dir"] = str(root / data["data_dir"].lstrip("/"))
    for _, ref in secret_refs(data):
        if "file" in ref:
            ref["file"] = str(root / ref["file"].lstrip("/"))
    return yaml.safe_dump(data)


def _kubelet_volume(mount: Path, files: dict[str, str]) -> None:
    """A ConfigMap or Secret volume as the kubelet writes it: the files in a timestamped directory, ``..data``
    linked to it, and each name a link through ``..data``."""
    stamped = mount / "..2026_01_01_00_00_00.000000000"
    stamped.mkdir(parents=True)
    for name, text in files.items():
        (stamped / name).write_text(text)
    (mount / "..data").symlink_to(stamped.name)
    for name in files:
        (mount / name).symlink_to(f"..data/{name}")
