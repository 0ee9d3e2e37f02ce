"""What of the directory inventory a read credential may read, tried one record per part, changing nothing.

The sync skips a part Okta refuses (detector/inventory/sync.py) and goes on, so a missing scope or admin
role shows only as a part skipped after hours of syncing. The test connection asks first: each part of
``PARTS`` with ``limit=1``, and each list hanging off its objects for the first object listed (a group's
members of the first group, ...). Users' roles are read by their holders' list, else one user at a time:
that fallback is said, not counted missing. One result per part, named ``inventory.<part>``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from detector.inventory.sync import PARTS, Part
from detector.okta.client import OktaClient
from detector.okta.errors import OktaApiError
from detector.okta.permissions import Check, Outcome

PREFIX = "inventory."
PERMISSIONS: tuple[str, ...] = tuple(
    dict.fromkeys(PREFIX + name for p in PARTS for name in (p.name, *(c.part for c in p.children)))
)


@dataclass(frozen=True)
class PartAccess:
    part: str  # a sync part (users, group_members, ...)
    check: Check

    @property
    def permission(self) -> str:
        return PREFIX + self.part


async def probe_inventory(client: OktaClient, parts: tuple[Part, ...] = PARTS) -> list[PartAccess]:
    """Each part's read tried once, in the sync's order."""
    out: list[PartAccess] = []
    for part in parts:
        out += await _probe(client, part)
    return list({a.part: a for a in out}.values())  # a part listed twice (users' roles): its last word


async def _probe(client: OktaClient, part: Part) -> list[PartAccess]:
    if part.kind == "org":
        return [PartAccess(part.name, await _single(client, part.path))]
    try:
        first = await _first(client, part.path, {**part.params, "limit": "1"}, part.envelope)
    except OktaApiError as exc:
        if part.fallback is not None and exc.status in (403, 404):
            found = await _probe(client, part.fallback)
            return [_fell_back(a, exc) if a.part == part.name else a for a in found]
        check = _refused(exc)
        return [PartAccess(part.name, check), *(PartAccess(c.part, _unread(part)) for c in part.children)]
    out = [] if not part.stores_listed else [PartAccess(part.name, Check(Outcome.OK, "read one record"))]
    for child in part.children:
        if first is None:
            out.append(PartAccess(child.part, Check(Outcome.OK, "nothing to read: the list it hangs off is empty")))
            continue
        path = child.path.format(id=quote(first, safe=""))
        try:
            await _first(client, path, {"limit": "1"}, None)
        except OktaApiError as exc:
            out.append(PartAccess(child.part, _refused(exc)))
            continue
        out.append(PartAccess(child.part, Check(Outcome.OK, f"read the first of {part.name}'s")))
    return out


async def _first(client: OktaClient, path: str, params: dict[str, str], envelope: str | None) -> str | None:
    """The id of the first object of a list's first page (None: empty, or no id)."""
    pages = client.pages(path, params=params, envelope=envelope)
    async with contextlib.aclosing(pages):
        async for page in pages:
            item: Any = page.items[0] if page.items else None
            rid = item.get("id") if isinstance(item, dict) else None
            return rid if isinstance(rid, str) and rid else None
    return None


async def _single(client: OktaClient, path: str) -> Check:
    try:
        await client.request_json("GET", path)
    except OktaApiError as exc:
        return _refused(exc)
    return Check(Outcome.OK, "read it")


def _refused(exc: OktaApiError) -> Check:
    """Why the sync would skip the part: Okta's 403 (scope or role), or no such list (404, 405)."""
    if exc.status in (404, 405):
        why = f"Okta has no such list for this org ({exc.status}): the sync skips it"
        return Check(Outcome.MISSING, why, exc.error_code, exc.error_summary)
    check = Check.failed(exc)
    if exc.status == 403:
        why = check.detail if check.outcome is Outcome.MISSING else "Okta refused it (403)"
        return Check(Outcome.MISSING, f"{why}; the sync skips it", exc.error_code, exc.error_summary)
    return check


def _unread(part: Part) -> Check:
    return Check(Outcome.ERROR, f"not tried: {part.name} itself is refused")


def _fell_back(access: PartAccess, exc: OktaApiError) -> PartAccess:
    c = access.check
    if c.outcome is not Outcome.OK:
        return access
    why = f"the list of role holders is refused ({exc.status}): the sync reads every user's roles, a call each"
    return PartAccess(access.part, Check(Outcome.OK, why, exc.error_code, exc.error_summary))
