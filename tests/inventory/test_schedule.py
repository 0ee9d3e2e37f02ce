"""The sync loop both modes run (detector/inventory/schedule.py): a review whose findings went out but whose results
were not stored (a crash between the two, as Kafka mode can have) raises the same findings at the next sync, never
new ones; once stored, nothing again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from detector.config import parse_config
from detector.inventory.changes import Watch
from detector.inventory.model import Inventory
from detector.inventory.review import PostureResults, Review, review_after_sync
from detector.inventory.schedule import SyncSchedule
from detector.inventory.store import SqliteInventoryStore
from detector.okta import OktaClient

from .conftest import Sim


async def test_findings_published_without_their_results_are_raised_again_the_same(
    sim: Sim, client: OktaClient, store: SqliteInventoryStore, tmp_path: Path
) -> None:
    sim.org.add_user("bob@acme.com", factors=())  # no MFA factor: a posture finding
    read = {"kind": "ssws", "token": {"env": "UNUSED"}}  # the client is the test's: never resolved
    tenant = parse_config({"tenants": [{"name": "acme", "org_url": sim.url, "read": read}]}).tenants[0]
    published: list[list[tuple[str, int]]] = []
    crash = [True]

    async with PostureResults(tmp_path / "itdr.sqlite") as results:

        async def raise_findings(status: dict[str, Any], previous: Inventory, current: Inventory) -> Review | None:
            done = await review_after_sync(results, tenant, status, previous, current, Watch(), time.time())
            assert done is not None
            published.append([(f.dedup_key, f.revision) for f in done.findings])
            if crash.pop() if crash else False:
                raise ConnectionError("the process died before the results were stored")
            await done.commit(results)
            return done

        schedule = SyncSchedule(tenant, client, store, raise_findings)
        statuses = [(await schedule.once())["state"] for _ in range(3)]

    assert statuses == ["success"] * 3
    first, again, after = published
    assert first and sorted(again) == sorted(first)  # the same keys and revisions: the consumers drop the repeat
    assert after == []  # stored: a check raises only when its result changes
