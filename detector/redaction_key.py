"""The deployment's keys (the redaction key of detections.redaction, the link key that signs approval and
undo links): a config secret, else generated once on disk.

Why: the key is what makes a redaction marker useless to whoever reads the data,
and the same key everywhere is what makes the same typed password the same
marker in every process and after every restart. ``redaction_key: {env: ...}``
or ``{file: ...}`` in the config wins (Kafka mode: every poller of a tenant must
use it, their data directories differ); otherwise the first process creates
``<data_dir>/redaction.key`` (0600) and later ones read it. The file holds the
key as text, so another deployment can refer to it with ``{file: ...}``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import structlog

from detections.redaction import MIN_KEY_BYTES
from detector.config import Config, ConfigError, SecretRef
from detector.private_files import open_private, private_dir

log = structlog.get_logger(__name__)

KEY_FILE = "redaction.key"


def redaction_key(config: Config) -> bytes:
    """The configured key, else the data directory's, made now if there is none yet."""
    return existing_redaction_key(config) or _create(config.data_dir / KEY_FILE)


def deployment_key(ref: SecretRef | None, path: Path, field: str) -> bytes:
    """A key like the redaction key: the secret ``ref`` (config ``field``) when set, else the key file at
    ``path``, made now if there is none yet."""
    if ref is not None:
        return configured_key(ref, field)
    return _read(path) if path.exists() else _create(path)


def configured_key(ref: SecretRef, field: str) -> bytes:
    """The key a config field refers to, long enough to be one (ConfigError names the field when not)."""
    return _checked(ref.resolve().get_secret_value().encode(), field)


def existing_redaction_key(config: Config) -> bytes | None:
    """The configured key, else the data directory's; None when neither exists (``detector replay``)."""
    if config.redaction_key is not None:
        return _checked(config.redaction_key.resolve().get_secret_value().encode(), "redaction_key")
    path = config.data_dir / KEY_FILE
    return _read(path) if path.exists() else None


def _create(path: Path) -> bytes:
    """Write to a private temporary file, then link it in place: a process racing us reads a whole key."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
            log.info("redaction.key_created", path=str(path))
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        with os.fdopen(open_private(path, os.O_RDONLY), "rb") as f:
            key = f.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the redaction key {path}: {exc.strerror}") from None
    return _checked(key, str(path))


def _checked(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the key needs at least {MIN_KEY_BYTES} bytes (openssl rand -hex 32)")
    return key
