"""A sync cut short at a chosen page, as a SIGTERM or a crash would cut it: for the tests and the bench that show
a sync resumes from its checkpoint, over either store."""

from __future__ import annotations

import asyncio
from typing import Any


class CancelAfterPages:
    """Mixed in before an inventory store class: cancels the task running the sync right after its ``pages``-th
    page is stored (0: never)."""

    pages = 0

    async def write_page(self, tenant: str, checkpoint: Any, records: Any) -> None:
        await super().write_page(tenant, checkpoint, records)  # type: ignore[misc]
        self.pages -= 1
        if self.pages == 0:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
