"""Every command that reads a config exits 2 with the field and the reason for each hostile config, in
plain text off a terminal, and never with a traceback or a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from detector.cli import main


def config(tmp: Path, text: str) -> Path:
    path = tmp / "itdr.yaml"
    path.write_text(text)
    return path


def with_tenant(extra: str = "", org_url: str = "https://acme.okta.com", token: str = "{env: ITDR_T}") -> str:
    return f"tenants:\n  - name: acme\n    org_url: {org_url}\n    read: {{kind: ssws, token: {token}}}\n{extra}"


def token_file(data: bytes | None) -> Callable[[Path], Path]:
    """A config whose token is read from a file holding ``data`` (None: a FIFO)."""

    def make(tmp: Path) -> Path:
        secret = tmp / "00secret-token"
        if data is None:
            os.mkfifo(secret)
        else:
            secret.write_bytes(data)
        return config(tmp, with_tenant(token=f"{{file: {secret}}}"))

    return make


def oauth_config(tmp: Path, key: bytes) -> Path:
    (tmp / "key.pem").write_bytes(key)
    read = f"{{kind: oauth, client_id: 0oa1, private_key: {{file: {tmp / 'key.pem'}}}, scopes: [okta.logs.read]}}"
    return config(tmp, with_tenant().replace("{kind: ssws, token: {env: ITDR_T}}", read))


def utf16_config(tmp: Path) -> Path:
    path = tmp / "itdr.yaml"
    path.write_bytes(with_tenant().encode("utf-16"))
    return path


def fifo_config(tmp: Path) -> Path:
    path = tmp / "itdr.yaml"
    os.mkfifo(path)
    return path


# (id, config maker, what stderr must say, whether the command resolves secrets to find it)
CASES: list[tuple[str, Callable[[Path], Path], str, bool]] = [
    (
        "userinfo",
        lambda t: config(t, with_tenant(org_url="https://admin:P4ssw0rd@acme.okta.com")),
        "tenants[0].org_url: must not hold a user name or password",
        False,
    ),
    (
        "userinfo-host",
        lambda t: config(t, with_tenant(org_url="http://acme.okta.com:P4ssw0rd@127.0.0.1:8080")),
        "tenants[0].org_url: must not hold a user name or password",
        False,
    ),
    (
        "port",
        lambda t: config(t, with_tenant(org_url="https://acme.okta.com:99999")),
        "tenants[0].org_url: the port must be a number within 1..65535",
        False,
    ),
    (
        "threshold",
        lambda t: config(t, with_tenant("    detections: {mfa_fatigue: {min_denials: 0}}\n")),
        "tenants[0].detections.mfa_fatigue.min_denials: Input should be greater than or equal to 1",
        False,
    ),
    (
        "nan",
        lambda t: config(t, with_tenant("    detections: {mfa_fatigue: {window_s: .nan}}\n")),
        "tenants[0].detections.mfa_fatigue.window_s: Input should be a finite number",
        False,
    ),
    ("deep", lambda t: config(t, "a: " + "[" * 10_000 + "]" * 10_000), "nested more than 64 levels deep", False),
    ("utf16", utf16_config, "not UTF-8 text (UTF-16?", False),
    ("huge", lambda t: config(t, with_tenant() + "#\n" * 600_000), "larger than 1 MiB", False),
    ("fifo-config", fifo_config, "not a regular file", False),
    (
        "syntax",
        lambda t: config(t, "tenants:\n  - {name: acme\n    token: 00SECRETinline\n"),
        "not valid YAML at line 3, column 10",
        False,
    ),
    (
        "markup",
        lambda t: config(t, with_tenant("    detections: {'[red]x[/]': {}}\n")),
        "tenants[0].detections: unknown detection '[red]x[/]'",
        False,
    ),
    ("token-lines", token_file(b"00SECRET\n\n"), "tenants[0].read.token: the secret in the file named by", True),
    ("token-binary", token_file(b"\xff\xfe00SECRET"), "tenants[0].read.token: the file named by `file` is not", True),
    (
        "token-fifo",
        token_file(None),
        "tenants[0].read.token: cannot read the file named by `file`: not a regular",
        True,
    ),
    (
        "key-not-pem",
        lambda t: oauth_config(t, b"00SECRET, not a key\n"),
        "tenants[0].read.private_key: private_key_pem is not a valid unencrypted PEM private key",
        True,
    ),
    (
        "token-dev-zero",
        lambda t: config(t, with_tenant(token="{file: /dev/zero}")),
        "tenants[0].read.token: cannot read the file named by `file`: not a regular file",
        True,
    ),
]
COMMANDS = ["check-config", "run", "poller", "worker", "actions", "replay", "test-connection"]


def argv(command: str, path: Path) -> list[str]:
    if command == "check-config":
        return [command, str(path)]
    if command == "replay":
        return [command, "--config", str(path), os.devnull]
    return [command, "--config", str(path)]


# replay takes detection settings only: it never reads the Okta credentials, so it is not asked to.
RUNS = [
    pytest.param(command, make, expected, id=f"{command}-{name}")
    for name, make, expected, secrets in CASES
    for command in COMMANDS
    if not (secrets and command == "replay")
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("command", "make", "expected"), RUNS)
def test_every_command_refuses_a_hostile_config_with_the_field_and_reason(
    tmp_path: Path, capsys, monkeypatch, command, make, expected
):
    monkeypatch.setenv("ITDR_T", "00token")
    path = make(tmp_path)
    assert main(argv(command, path)) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err and "\x1b[" not in err and not err.startswith("[red]")
    assert "P4ssw0rd" not in err and "00SECRET" not in err


def test_a_token_with_two_newlines_in_the_environment_is_refused(capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ITDR_T", "00token\n\n")
    assert main(["run", "--config", str(config(tmp_path, with_tenant()))]) == 2
    err = capsys.readouterr().err
    assert "tenants[0].read.token: the secret in the environment variable named by `env` must be one line" in err
    assert "00token" not in err


def test_a_config_with_a_real_key_passes_check_config(tmp_path: Path, capsys):
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert main(["check-config", str(oauth_config(tmp_path, key))]) == 0
    err = capsys.readouterr().err
    assert "tenant acme: https://acme.okta.com read=oauth enforce=none (alert only) enforcing\n" in err


def test_on_a_terminal_the_error_is_red_and_its_text_still_not_markup(capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    path = config(tmp_path, with_tenant("    detections: {'[bold]x[/]': {}}\n"))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "\x1b[31m" in err and "unknown detection '[bold]x[/]'" in err


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "case"), [("check-config", "deep"), ("check-config", "token-fifo"), ("run", "userinfo")]
)
def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path, command, case):
    make, expected = next((c[1], c[2]) for c in CASES if c[0] == case)
    detector = Path(sys.executable).parent / "detector"
    env = {**os.environ, "ITDR_T": "00token"}
    done = subprocess.run(
        [str(detector), *argv(command, make(tmp_path))], capture_output=True, text=True, env=env, timeout=50
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr and "[red]" not in done.stderr
