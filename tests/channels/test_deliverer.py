"""The deliverer's loop per channel: an update queued while the loop is looking is not left for its idle sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from detector.ops.metrics import Metrics
from detector.respond import outbox as outbox_module
from detector.respond.channels.base import Outcome
from detector.respond.outbox import Deliverer, Outbox

from .conftest import finding, incident


class Recording:
    name = "soc"

    def __init__(self) -> None:
        self.versions: list[int] = []

    def wants(self, incident: Mapping[str, Any]) -> bool:
        return True

    async def deliver(self, incident: Mapping[str, Any], memo: Mapping[str, Any]) -> Outcome:
        self.versions.append(incident["version"])
        return Outcome("delivered")


async def test_an_update_queued_between_the_loops_look_and_its_sleep_is_delivered_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(outbox_module, "IDLE_S", 30.0)  # only a wake-up can deliver within the test
    box = await Outbox(tmp_path / "itdr.sqlite").open()
    channel = Recording()
    deliverer = Deliverer(box, {"acme/soc": channel}, Metrics())
    inc, _ = incident([finding(0)])
    depth, looked = box.depth, asyncio.Event()

    async def depth_after_an_update_lands(name: str) -> int:
        """The loop found nothing due; before it goes to sleep, an update is committed and the loop woken."""
        if not looked.is_set():
            looked.set()
            await box.write([inc], {"acme": [channel]})
            deliverer.wake.set()
            await asyncio.sleep(0)  # the fan-out passes the wake-up on
        return await depth(name)

    monkeypatch.setattr(box, "depth", depth_after_an_update_lands)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        deadline = time.monotonic() + 5
        while not channel.versions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await box.close()
    assert looked.is_set() and channel.versions == [inc.version]
