"""The Dockerfile and .dockerignore, checked as files (no Docker engine here to build them).

Checked: a slim two-stage build whose final stage installs the wheels without sources or build tools; a fixed
numeric non-root uid; the HEALTHCHECK command really tells a serving /healthz from a dead one on the port the
default command serves and EXPOSE names; the entrypoint and command exist; every COPY source exists and is in
the build context; no secret, config or local state is built in or sent to the builder.
"""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
import tomllib

import pytest
from prometheus_client import CollectorRegistry

from deploy.kafka.broker import free_port
from detector.cli import _metrics_settings, build_parser
from detector.config import HttpSettings, parse_config
from detector.ops.http import OpsHttpServer
from tests.deploy_support import ROOT, Stage, dockerfile, dockerignore, in_context, mount_options, tracked_files

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def final() -> Stage:
    return dockerfile()[-1]


def test_every_stage_is_python_3_11_slim_and_the_final_one_installs_wheels_only():
    stages = dockerfile()
    assert len(stages) == 2, "a build stage (wheels) and the final stage"
    assert [s.base for s in stages] == ["python:3.11-slim", "python:3.11-slim"]
    build, last = stages
    assert build.name and any("pip wheel" in r.text and "'.[kafka]'" in r.text for r in build.all("RUN"))
    assert not last.all("COPY") and not last.all("ADD"), "the final stage holds no source tree"
    (install,) = [r for r in last.all("RUN") if "pip install" in r.text]
    mount = mount_options(install.flags["mount"])
    assert mount["type"] == "bind" and mount["from"] == build.name, "the wheels come from a mount, not a layer"
    assert f"--find-links {mount['target']}" in install.text and "--no-index" in install.text
    assert "okta-itdr[kafka]" in install.text, "Kafka mode (aiokafka, faust-streaming) is in the image"
    text = " ".join(i.text for i in last.instructions)
    for tool in ("apt-get", "gcc", "build-essential", "pip wheel"):
        assert tool not in text, f"the final stage has build tools: {tool}"


def test_it_runs_as_a_fixed_numeric_non_root_uid_that_owns_the_data_dir():
    user = final().all("USER")[-1].text
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "numeric uid:gid, so runAsNonRoot can verify it"
    uid, gid = user.split(":")
    run = " ".join(r.text for r in final().all("RUN"))
    assert f"--uid {uid}" in run and f"--gid {gid}" in run
    workdir = final().all("WORKDIR")[-1].text
    assert f"install -d -o {uid} -g {gid} -m 0700 {workdir}" in run


def test_entrypoint_is_the_detector_script_and_the_default_command_parses():
    (entrypoint,) = final().all("ENTRYPOINT")
    assert entrypoint.exec_form and entrypoint.args == ["detector"]
    assert PYPROJECT["project"]["scripts"]["detector"] == "detector.cli:main"
    (cmd,) = final().all("CMD")
    args = build_parser().parse_args(cmd.args)  # SystemExit on an unknown subcommand or flag
    assert args.command == "run" and str(args.config) == "/etc/itdr/itdr.yaml"


def test_expose_healthcheck_and_default_command_name_one_port():
    (cmd,) = final().all("CMD")
    args = build_parser().parse_args(cmd.args)
    read = {"kind": "ssws", "token": {"env": "T"}}
    minimal = parse_config({"tenants": [{"name": "a", "org_url": "https://a.okta.com", "read": read}]})
    serving = _metrics_settings(minimal, args.metrics_port)
    assert serving is not None, "the default command serves /healthz even with no http: section"
    (expose,) = final().all("EXPOSE")
    assert expose.args == [f"{serving.port}"] == [f"{HttpSettings().port}"]
    (check,) = final().all("HEALTHCHECK")
    assert check.exec_form and check.args[:2] == ["python", "-c"], "the image has python, not curl"
    assert f"http://127.0.0.1:{serving.port}/healthz" in check.args[2]


async def test_the_healthcheck_passes_on_a_serving_process_and_fails_without_one():
    (check,) = final().all("HEALTHCHECK")
    port = free_port()
    code = check.args[2].replace(f":{HttpSettings().port}/", f":{port}/")

    def healthcheck() -> int:
        return subprocess.run([check.args[0].replace("python", sys.executable), "-c", code], timeout=30).returncode

    server = await OpsHttpServer(CollectorRegistry(), "run", HttpSettings(port=port)).start()
    try:
        assert await asyncio.to_thread(healthcheck) == 0
    finally:
        await server.stop()
    assert healthcheck() != 0


def test_every_copied_path_exists_and_is_in_the_build_context():
    rules = dockerignore()
    copies = [c for stage in dockerfile() for c in stage.all("COPY")]
    sources = {s for c in copies for s in c.args[:-1]}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert in_context(source, rules), f"{source} is copied but .dockerignore leaves it out"
    assert PYPROJECT["project"]["readme"] in sources, "the wheel build reads the readme"
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert package.rstrip("*") in sources, package


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/demo/itdr.sqlite",
        ".cache/pip/x",
        ".git/config",
        "tests/data/okta-samples/x.json",
        "tests/test_deploy.py",
        "deploy/itdr/itdr.yaml",
        "deploy/k8s/secret.yaml.example",
        "itdr.yaml",
        ".env",
        "acme-read.pem",
        "detector/acme-read.pem",
        "detector/ops/__pycache__/http.cpython-311.pyc",
        "detections/mfa_fatigue_test.py",
        "detections/testkit.py",
    ],
)
def test_local_state_tests_and_secrets_stay_out_of_the_build_context(path: str):
    assert not in_context(path, dockerignore())


def test_the_code_in_the_image_imports_nothing_the_context_leaves_out():
    rules = dockerignore()
    modules = {f.removesuffix(".py").replace("/", ".") for f in tracked_files() if f.endswith(".py")}
    left_out = {m for m in modules if not in_context(m.replace(".", "/") + ".py", rules)}
    assert "detections.testkit" in left_out  # the check below has something to find
    for module in modules - left_out:
        if module.split(".")[0] not in ("detector", "detections"):
            continue
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & left_out, f"{module} imports {imported & left_out}, which is not in the image"


def test_the_sources_the_wheel_needs_are_in_the_build_context():
    rules = dockerignore()
    for path in ("pyproject.toml", "README.md", "detector/cli.py", "detector/sim/scenarios/demo.yaml"):
        assert in_context(path, rules), path


def test_no_secret_is_baked_into_the_image():
    stages = dockerfile()
    for stage in stages:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            names = [word.split("=", 1)[0] for word in instruction.args]
            secret = [n for n in names if re.search(r"token|secret|password|passwd|key|credential", n, re.I)]
            assert not secret, f"{instruction.keyword} {secret}: secrets are mounted or passed at run time"
    copied = [s for stage in stages for c in stage.all("COPY") for s in c.args[:-1]]
    assert not [s for s in copied if re.search(r"\.(pem|key|env)$|itdr\.ya?ml$|deploy", s)]
