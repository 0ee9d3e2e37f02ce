"""The demo's approver: a person who opens the signed approve link an action record carries and sends its form.

The link's GET only shows a confirmation page (a link preview decides nothing); its form POSTs to the same
signed URL with the approver's name, which is what this does, against the daemon's own admin server.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

TIMEOUT_S = 10.0
_TITLE = re.compile(r"<h1>(.*?)</h1>", re.S)


@dataclass(frozen=True, slots=True)
class LinkAnswer:
    path: str  # the link without its query (step, exp and sig are a one-time credential)
    status: int  # HTTP status; 0 when no answer came
    title: str  # the page's heading: what the daemon did

    @property
    def ok(self) -> bool:
        return self.status == 200

    def line(self) -> str:
        answer = f"{self.status} {self.title}" if self.status else self.title
        return f"POST {self.path}?step=…&exp=…&sig=… (the signed link in the action record) → {answer}"


async def approve_by_link(url: str, by: str) -> LinkAnswer:
    parts = urlsplit(url)
    path = f"{parts.scheme}://{parts.netloc}{parts.path}"
    try:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data={"by": by}) as response:
            page = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return LinkAnswer(path, 0, f"no answer ({type(exc).__name__})")
    found = _TITLE.search(page)
    return LinkAnswer(path, response.status, html.unescape(found.group(1)) if found else "")
