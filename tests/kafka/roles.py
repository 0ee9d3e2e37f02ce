"""Start Kafka-mode roles as real `detector` subprocesses against the simulator and the session's broker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from deploy.kafka.broker import free_port
from tests.pipeline.conftest import ENFORCE_TOKEN, READ_TOKEN, Sim, config_dict


def write_config(
    sim: Sim,
    folder: Path,
    bootstrap: str,
    *,
    app_id: str,
    partitions: int = 3,
    kafka: dict[str, Any] | None = None,
    **tenant: Any,
) -> Path:
    """A config whose Kafka names are unique to one test (``app_id``): tests share the session's broker.
    Polls every 0.25 s: faster would spend the simulator's logs budget and leave the poller waiting."""
    tenant.setdefault("poll", {"interval_s": 0.25, "lookback_minutes": 60})
    cfg = config_dict(sim, folder / "data", **tenant)
    cfg["kafka"] = {
        "bootstrap": bootstrap,
        "partitions": partitions,
        "app_id": app_id,
        "topic_prefix": f"{app_id}.",
        **(kafka or {}),
    }
    cfg["log_level"] = "info"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "itdr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Role:
    """One `detector <role>` process; its output goes to a log file the assertions can show."""

    def __init__(self, command: str, config: Path, log: Path, *extra: str) -> None:
        self.command, self.config, self.log, self.extra = command, config, log, extra
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Role:
        env = {**os.environ, "ITDR_TEST_READ_TOKEN": READ_TOKEN, "ITDR_TEST_ENFORCE_TOKEN": ENFORCE_TOKEN}
        args = [sys.executable, "-m", "detector.cli", self.command, "--config", str(self.config), *self.extra]
        if self.command in ("worker", "run"):
            args += ["--web-port", str(free_port())]
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out, env=env)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, timeout: float = 30) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


async def wait_for(condition: Callable[[], bool], timeout: float, roles: list[Role], what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for role in roles:
            assert role.alive(), f"{role.command} exited {role.process.returncode}:\n{role.tail()}"  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {r.command} ---\n{r.tail()}" for r in roles)
            raise AssertionError(f"{what} not reached in {timeout:.0f} s\n{tails}")
        await asyncio.sleep(0.2)
