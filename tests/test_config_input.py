"""The config file and the secrets it names are written by someone we do not trust to write them well:
each bad one is refused with the field and the reason, never a traceback, and never by echoing a secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import ConfigError, load_config, parse_config, secret_values
from detector.tenants import make_auth

PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----"


def tenant(**overrides: Any) -> dict[str, Any]:
    base = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    return {**base, **overrides}


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def token_from_file(path: Path) -> dict[str, Any]:
    return {"tenants": [tenant(read={"kind": "ssws", "token": {"file": str(path)}})]}


def resolve_error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        secret_values(parse_config(data))
    return str(info.value)


# -- org_url --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:P4ssw0rd@acme.okta.com", "must not hold a user name or password"),
        ("https://acme.okta.com@evil.com", "must not hold a user name or password"),
        ("http://acme.okta.com:P4ssw0rd@127.0.0.1:8080", "must not hold a user name or password"),
        ("https://acme.okta.com:0", "the port must be a number within 1..65535"),
        ("https://acme.okta.com:99999", "the port must be a number within 1..65535"),
        ("https://acme.okta.com:abc", "the port must be a number within 1..65535"),
        ("https://acme.okta.com:", "the port must be a number within 1..65535"),
        ("https://acme.okta.com\r\nX-Injected: 1", "must not hold spaces, backslashes, control"),
        ("https://acme.okta.com\t", "must not hold spaces, backslashes, control"),
        ("https://acme okta.com", "must not hold spaces, backslashes, control"),
        ("https://evil.com\\.acme.okta.com", "must not hold spaces, backslashes, control"),
        ("https://acmé.okta.com", "non-ASCII"),
        ("https://acme.okta.com/api/v1", "must be the org's base URL"),
        ("https://acme.okta.com?x=1", "no path, query or fragment"),
        ("https://acme.okta.com#top", "no path, query or fragment"),
        ("https://", "with a valid host name"),
        ("https://acme..okta.com", "with a valid host name"),
        ("https://[::1", "with a valid host name"),
        ("http://acme.okta.com", "must be an https:// URL"),
        ("ftp://acme.okta.com", "must be an https:// URL"),
    ],
)
def test_org_url_must_be_a_plain_https_origin(url, expected):
    message = error_of({"tenants": [tenant(org_url=url)]})
    assert message.startswith("invalid config:\n  tenants[0].org_url: ") and expected in message
    assert "P4ssw0rd" not in message and "evil.com" not in message


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://acme.okta.com/", "https://acme.okta.com"),
        ("https://acme.oktapreview.com:443", "https://acme.oktapreview.com:443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_valid_org_urls_are_kept(url, kept):
    assert parse_config({"tenants": [tenant(org_url=url)]}).tenants[0].org_url == kept


# -- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
async def test_one_line_ending_is_stripped_from_a_secret(tmp_path: Path, monkeypatch, ending):
    monkeypatch.setenv("T", "00abc-token" + ending)
    assert secret_values(parse_config({"tenants": [tenant()]})) == ["00abc-token"]
    file = tmp_path / "token"
    file.write_bytes(("00file-token" + ending).encode())
    config = parse_config(token_from_file(file))
    assert secret_values(config) == ["00file-token"]
    auth = make_auth(config.tenants[0].read, "https://acme.okta.com")
    assert await auth.headers(None, "GET", "https://acme.okta.com/api/v1/logs") == {  # type: ignore[arg-type]
        "Authorization": "SSWS 00file-token"
    }


@pytest.mark.parametrize("source", ["env", "file"])
@pytest.mark.parametrize(
    "value",
    ["00abc\n\n", "00abc\nsecond-line", "00a\x01bc", "00abc\r", " 00abc", "00abc ", "\n", "00abc\x1b[2J", "00abcé"],
)
def test_a_secret_that_cannot_go_in_a_header_is_refused_unechoed(tmp_path: Path, monkeypatch, source, value):
    monkeypatch.setenv("T", value)
    data = {"tenants": [tenant()]} if source == "env" else token_from_file(write(tmp_path / "t", value.encode()))
    message = resolve_error(data)
    assert message.startswith("tenants[0].read.token: ")
    assert "one line of printable ASCII with no space at either end" in message or message.endswith("empty")
    assert "00a" not in message


def test_an_unset_variable_and_an_empty_file_name_the_field_only(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SECRET_NAME_X", raising=False)
    message = resolve_error({"tenants": [tenant(read={"kind": "ssws", "token": {"env": "SECRET_NAME_X"}})]})
    assert message == "tenants[0].read.token: the environment variable named by `env` is not set or empty"
    empty = tmp_path / "00empty"
    empty.write_text("\n")
    assert resolve_error(token_from_file(empty)) == "tenants[0].read.token: the file named by `file` is empty"


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "00secret-fifo"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "00missing", "No such file or directory"),
        (lambda tmp: tmp, "not a regular file"),  # a directory
        (lambda _tmp: Path("/dev/zero"), "not a regular file"),
        (fifo, "not a regular file"),
        (lambda tmp: write(tmp / "00big", b"0" * (64 * 1024 + 1)), "larger than 64 KiB"),
        (lambda tmp: write(tmp / "00bin", b"\x00\xff\xfe00binary"), "not UTF-8 text"),
    ],
)
def test_a_secret_file_is_read_only_if_it_is_a_small_regular_text_file(tmp_path: Path, make, reason):
    path = make(tmp_path)
    message = resolve_error(token_from_file(path))
    assert message.startswith("tenants[0].read.token: ") and reason in message
    assert str(path) not in message and "00" not in message.split(": ", 1)[1]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_pem_key_keeps_its_lines(tmp_path: Path, monkeypatch, newline):
    monkeypatch.setenv("T", "00ssws")
    key = tmp_path / "key.pem"
    key.write_bytes((PEM.replace("\n", newline) + newline).encode())
    oauth = {"kind": "oauth", "client_id": "0oa1", "private_key": {"file": str(key)}, "scopes": ["okta.users.read"]}
    assert secret_values(parse_config({"tenants": [tenant(enforce=oauth)]})) == ["00ssws", PEM.replace("\n", newline)]
    key.write_bytes(PEM.replace("\n", "\n\x07").encode())
    assert "tenants[0].enforce.private_key: the secret in the file named by `file` holds control characters" in (
        resolve_error({"tenants": [tenant(enforce=oauth)]})
    )


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        ({"kind": "ssws", "token": {"env": "00SECRETtoken"}}, "tenants[0].read.token.env: not an environment variable"),
        ({"kind": "ssws", "token": {"env": "MY-TOKEN 00SECRET"}}, "tenants[0].read.token.env: not an environment"),
        ({"kind": "ssws", "token": {"00SECRETtoken": None}}, "tenants[0].read.token: unknown key (not shown"),
        ({"kind": "ssws", "token": {"env": "T"}, "00SECRETtoken": None}, "tenants[0].read: unknown key (not shown"),
        ({"kind": "ssws", "token": {"file": "/run/00SECRET\x00"}}, "tenants[0].read.token.file: a path must not"),
        ({"kind": "ssws", "token": "00SECRETtoken"}, "tenants[0].read.token: secrets are never written inline"),
        ({"kind": "ssws", "token": ["00SECRETtoken"]}, "tenants[0].read.token: Input should be"),
        ({"kind": "00SECRETtoken"}, "tenants[0].read: 'kind' must be one of 'ssws', 'oauth'"),
    ],
)
def test_a_misplaced_secret_is_never_echoed(read, expected):
    message = error_of({"tenants": [tenant(read=read)]})
    assert expected in message and "00SECRET" not in message


# -- the file -------------------------------------------------------------------------------------


def valid_yaml() -> str:
    return yaml.safe_dump({"tenants": [tenant()]})


def test_a_utf8_bom_is_fine(tmp_path: Path):
    path = write(tmp_path / "itdr.yaml", b"\xef\xbb\xbf" + valid_yaml().encode())
    assert load_config(path).tenants[0].name == "acme"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: write(tmp / "c.yaml", valid_yaml().encode("utf-16")), "not UTF-8 text (UTF-16?"),
        (lambda tmp: write(tmp / "c.yaml", valid_yaml().encode("utf-16-le")), "not UTF-8 text (UTF-16?"),
        (lambda tmp: write(tmp / "c.yaml", b"tenants: \xff\xfe\n"), "not UTF-8 text"),
        (lambda tmp: write(tmp / "c.yaml", b"a: " + b"[" * 10_000 + b"]" * 10_000), "nested more than 64 levels"),
        (lambda tmp: write(tmp / "c.yaml", b"a:\n" + b"".join(b" " * i + b"- \n" for i in range(100))), "nested more"),
        (lambda tmp: write(tmp / "c.yaml", b"# pad\n" * 200_000), "larger than 1 MiB"),
        (lambda tmp: tmp, "not a regular file"),
        (lambda _tmp: Path("/dev/zero"), "not a regular file"),
        (fifo, "not a regular file"),
        (lambda tmp: tmp / "missing.yaml", "No such file or directory"),
        (lambda tmp: write(tmp / "c.yaml", b"- just\n- a list\n"), "expected a mapping at the top level"),
        (lambda tmp: write(tmp / "c.yaml", b"a: !!python/object/apply:os.system [id]\n"), "not valid YAML at line 1"),
        (lambda tmp: write(tmp / "c.yaml", b"a: &a [*a]\n"), "an alias inside the node it refers to at line 1"),
        (lambda tmp: write(tmp / "c.yaml", b"a: \x01\n"), "a character YAML does not allow at line 1, column 4"),
    ],
)
def test_a_config_file_that_cannot_be_read_safely_is_refused(tmp_path: Path, make, expected):
    path = make(tmp_path)
    message = load_error(path)
    assert message.startswith(f"{path}: ") and expected in message


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_before_it_is_expanded(tmp_path: Path):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    path = write(tmp_path / "laughs.yaml", "\n".join(lines).encode())
    assert "aliases expand to more than 100000 values at line 5" in load_error(path)


def test_aliases_that_stay_small_still_work(tmp_path: Path):
    text = (
        "tenants:\n"
        "  - {name: a, org_url: 'https://a.okta.com', read: &read {kind: ssws, token: {env: T}},\n"
        "     poll: &p {interval_s: 2}}\n"
        "  - {name: b, org_url: 'https://b.okta.com', read: *read, poll: *p}\n"
    )
    path = write(tmp_path / "itdr.yaml", text.encode())
    assert [t.poll.interval_s for t in load_config(path).tenants] == [2.0, 2.0]


def test_a_yaml_syntax_error_gives_the_position_never_the_text(tmp_path: Path):
    path = write(
        tmp_path / "itdr.yaml",
        b"tenants:\n  - name: acme\n    read: {kind: ssws, token: {env: T}\n    token: 00SECRETinline\n",
    )
    message = load_error(path)
    assert message == f"{path}: not valid YAML at line 4, column 5"
