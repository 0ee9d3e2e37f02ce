"""structlog JSON logs with a last-line defence against leaking secrets.

Code should never log a secret, but a secret can still slip in through an
exception message or a URL. The redactor replaces every known secret value
(resolved from the config at startup) wherever it appears, and blanks fields
whose names say they hold credentials.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"(token|secret|password|authorization|private_key|assertion|api_key|dpop)", re.I)
_AUTH_HEADER = re.compile(r"\b(SSWS|Bearer|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


class SecretRedactor:
    """A structlog processor; ``secrets`` are the literal values to scrub everywhere."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event):
            value = event[key]
            if _SENSITIVE_KEY.search(key) and value not in (None, "", 0, False) and key != "event":
                event[key] = REDACTED
            else:
                event[key] = self._scrub(value)
        return event

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {k: REDACTED if _SENSITIVE_KEY.search(str(k)) else self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value

    def scrub_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _PEM.sub(REDACTED, text)
        return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def configure_logging(level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """JSON lines to stderr (or ``stream``); stdlib logging (aiohttp, asyncio) gets the same redactor."""
    redactor = SecretRedactor(secrets)
    numeric = getattr(logging, level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
