"""OktaClient: one tenant, one credential, one aiohttp session.

Owns the transport concerns every caller needs and none should re-implement: auth headers,
the rate-limit budget, retries with Okta's SDK back-off semantics, typed errors, and the few
endpoints the daemon uses (System Log pages, user reads, enforcement calls).

Every request carries a budget ``Priority``: the enforcement calls are ENFORCE whoever makes them,
everything else the client's own (TAIL unless built or viewed otherwise: ``with_priority``).
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import structlog
from multidict import CIMultiDict
from yarl import URL

from detector.okta.auth import Auth, PrivateKeyJwtAuth
from detector.okta.budget import Priority, RateBudget, RateObserver, bucket_for, reset_wait
from detector.okta.errors import (
    OktaApiError,
    OktaBadResponse,
    OktaTransportError,
    error_from_response,
)

log = structlog.get_logger(__name__)

LifecycleOp = Literal["suspend", "unsuspend", "activate", "deactivate", "unlock", "expire_password", "reset_factors"]
_LIFECYCLE_OPS: frozenset[str] = frozenset(LifecycleOp.__args__)  # type: ignore[attr-defined]
_MAX_LIST_PAGES = 1000


@dataclass(frozen=True)
class LogPage:
    """One System Log page. ``next_url`` is the opaque cursor to persist with the events."""

    events: list[Any]
    raw_events: list[bytes]
    next_url: str | None
    request_id: str | None


@dataclass(frozen=True)
class ListPage:
    """One page of a list endpoint: its items as Okta sent them, and the ``next`` URL (None: the last page)."""

    items: list[Any]
    next_url: str | None


@dataclass
class _Response:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    links: dict[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Okta-Request-Id")


class OktaClient:
    """Async client for one Okta org. Use ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        org_url: str,
        auth: Auth,
        *,
        budget_share: float = 0.5,
        timeout: float = 30.0,
        max_retries: int = 4,
        user_agent: str = "okta-itdr/0.1",
        max_wait: float = 60.0,
        backoff_base: float = 0.5,
        budget: RateBudget | None = None,
        priority: Priority = Priority.TAIL,
        rate_observer: RateObserver | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        origin = URL(org_url.rstrip("/"))
        if origin.scheme not in ("https", "http") or not origin.host or origin.path not in ("", "/"):
            raise ValueError(f"org_url must be an origin like https://acme.okta.com, got {org_url!r}")
        if max_retries < 0 or timeout <= 0 or max_wait < 0:
            raise ValueError("max_retries, timeout and max_wait must be non-negative (timeout > 0)")
        self.org_url = str(origin.origin())
        self._shared = _Shared(auth)
        self.budget = budget or RateBudget(budget_share, sleep=sleep, observe=rate_observer)
        self.priority = priority
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.user_agent = user_agent
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._origin = origin.origin()

    def __repr__(self) -> str:
        return f"OktaClient(org_url={self.org_url!r}, auth={self.auth!r}, priority={self.priority.name})"

    def with_priority(self, priority: Priority) -> OktaClient:
        """A view of this client whose requests (but the enforcement calls) are ``priority``: the same
        credential (a rotated one too), budget and HTTP session; closing either closes both."""
        view = copy.copy(self)
        view.priority = priority
        return view

    @property
    def auth(self) -> Auth:
        return self._shared.auth

    @auth.setter
    def auth(self, auth: Auth) -> None:
        """A rotated secret: the next request of this client and of its views uses it."""
        self._shared.auth = auth

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> OktaClient:
        self._get_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._shared.session is not None:
            session, self._shared.session = self._shared.session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._shared.session is None or self._shared.session.closed:
            self._shared.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                raise_for_status=False,
            )
        return self._shared.session

    # -- credentials --------------------------------------------------------------------------

    async def token_scopes(self, scopes: list[str] | None = None) -> frozenset[str]:
        """Run the OAuth token request now, for ``scopes`` instead of the configured ones if given, and
        return the scopes granted. Calls no API; an SSWS credential has no token endpoint (ValueError)."""
        if not isinstance(self.auth, PrivateKeyJwtAuth):
            raise ValueError("only an OAuth credential asks the token endpoint for scopes")
        auth = self.auth if scopes is None else self.auth.with_scopes(scopes)
        return await auth.fetch_token(self._get_session())

    # -- System Log ---------------------------------------------------------------------------

    async def fetch_log_page(
        self, url: str | None = None, *, since: datetime | None = None, limit: int = 1000
    ) -> LogPage:
        """GET one System Log page: a new polling query, or the stored opaque ``next`` URL as-is."""
        if url is None:
            if not 1 <= limit <= 1000:
                raise ValueError("limit must be within 1..1000")
            params: dict[str, str] = {}
            if since is not None:
                params["since"] = _iso(since)
            params["limit"] = str(limit)
            params["sortOrder"] = "ASCENDING"
            url = f"{self.org_url}/api/v1/logs?{urlencode(params)}"
        else:
            self._check_origin(url)
        resp = await self._request("GET", url)
        data = self._parse_json(resp, "GET", url)
        if not isinstance(data, list):
            raise self._bad(resp, "GET", url, "System Log response is not a JSON array")
        # A malformed element is kept: the poller stores it and the detector dead-letters it with a
        # reason. Rejecting the page instead would stall the tail on it forever.
        return LogPage(
            events=data,
            raw_events=[orjson.dumps(e) for e in data],
            next_url=resp.links.get("next"),
            request_id=resp.request_id,
        )

    # -- paged lists --------------------------------------------------------------------------

    async def pages(
        self,
        start: str,
        *,
        params: Mapping[str, str] | None = None,
        what: str = "objects",
        max_pages: int = _MAX_LIST_PAGES,
        envelope: str | None = None,
    ) -> AsyncGenerator[ListPage, None]:
        """Every page of a list endpoint, following Okta's ``Link: rel="next"``.

        ``start`` is a path (``/api/v1/users``, with ``params``) or a ``next`` URL stored from an earlier
        page, so a caller that persisted its cursor resumes there. A ``next`` outside the org's origin is
        refused (it would carry our credential elsewhere), and more than ``max_pages`` pages is an error
        rather than an endless loop on a server that keeps linking. ``envelope`` names the array of a list
        that pages as an object (Okta's IAM lists: ``{"value": [...], "_links": {"next": {"href": ...}}}``).
        """
        if start.startswith("/"):
            url: str | None = self.org_url + start + ("?" + urlencode(dict(params)) if params else "")
        else:
            self._check_origin(start)
            url = start
        for _ in range(max_pages):
            if url is None:
                return
            resp = await self._request("GET", url)
            data = self._parse_json(resp, "GET", url)
            nxt = resp.links.get("next")
            if envelope is not None:
                data, nxt = _enveloped(data, envelope, nxt)
            if not isinstance(data, list):
                raise self._bad(resp, "GET", url, f"expected a JSON array of {what}")
            url = nxt
            if url is not None:
                self._check_origin(url)
            yield ListPage(data, url)
        if url is not None:
            raise self._bad(None, "GET", start, f"too many pages of {what}")

    async def list_all(
        self, path: str, *, params: Mapping[str, str] | None = None, what: str = "objects"
    ) -> list[dict[str, Any]]:
        """Every object of a list endpoint (all pages); a page holding a non-object is a bad response."""
        out: list[dict[str, Any]] = []
        async for page in self.pages(path, params=params, what=what):
            if not all(isinstance(item, dict) for item in page.items):
                raise self._bad(None, "GET", path, f"expected a JSON array of {what}")
            out.extend(page.items)
        return out

    # -- users --------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return await self._get_object(self._user_url(user_id))

    async def list_user_groups(self, user_id: str) -> list[dict[str, Any]]:
        """All groups of a user, following ``next`` links."""
        return await self.list_all(self._user_url(user_id, "groups")[len(self.org_url) :], what="groups")

    async def list_user_roles(self, user_id: str) -> list[dict[str, Any]]:
        """The user's admin role assignments (``okta.roles.read``); [] for a user who is no admin."""
        url = self._user_url(user_id, "roles")
        resp = await self._request("GET", url)
        data = self._parse_json(resp, "GET", url)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise self._bad(resp, "GET", url, "expected a JSON array of role assignments")
        return data

    # -- enforcement --------------------------------------------------------------------------

    async def set_group_member(self, group_id: str, user_id: str, *, member: bool) -> None:
        """PUT (``member``) or DELETE a user's membership of an OKTA_GROUP; both are idempotent at Okta."""
        if not group_id or not user_id:
            raise ValueError("group_id and user_id must not be empty")
        url = f"{self.org_url}/api/v1/groups/{quote(group_id, safe='')}/users/{quote(user_id, safe='')}"
        await self._request("PUT" if member else "DELETE", url, priority=Priority.ENFORCE)

    async def clear_user_sessions(
        self, user_id: str, *, oauth_tokens: bool = True, forget_devices: bool | None = None
    ) -> None:
        """DELETE the user's Okta sessions (and OAuth tokens / remembered devices if asked)."""
        params = {"oauthTokens": _bool(oauth_tokens)}
        if forget_devices is not None:
            params["forgetDevices"] = _bool(forget_devices)
        url = self._user_url(user_id, "sessions") + "?" + urlencode(params)
        await self._request("DELETE", url, priority=Priority.ENFORCE)

    async def lifecycle(
        self, user_id: str, op: LifecycleOp, *, send_email: bool | None = None
    ) -> dict[str, Any] | None:
        """POST a lifecycle operation. Not idempotent at Okta: callers confirm state first."""
        if op not in _LIFECYCLE_OPS:
            raise ValueError(f"unknown lifecycle operation {op!r}")
        url = self._user_url(user_id, "lifecycle", op)
        if send_email is not None:
            url += "?" + urlencode({"sendEmail": _bool(send_email)})
        resp = await self._request("POST", url, priority=Priority.ENFORCE)
        if not resp.body.strip():
            return None
        data = self._parse_json(resp, "POST", url)
        if not isinstance(data, dict):
            raise self._bad(resp, "POST", url, "expected a JSON object")
        return data or None

    async def request_json(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any:
        """Escape hatch for other management endpoints: same auth, budget, retries and errors."""
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        url = self.org_url + path + ("?" + urlencode(dict(params)) if params else "")
        resp = await self._request(method.upper(), url, json_body=body)
        if not resp.body.strip():
            return None
        return self._parse_json(resp, method, url)

    # -- transport ----------------------------------------------------------------------------

    async def _request(
        self, method: str, url: str, *, json_body: Any = None, priority: Priority | None = None
    ) -> _Response:
        """Send with budget, auth and retries; return a 2xx response or raise a typed error.

        ``priority``: the budget priority, the client's own unless given."""
        path = URL(url, encoded=True).path
        bucket = bucket_for(method, path)
        priority = self.priority if priority is None else priority
        data = orjson.dumps(json_body) if json_body is not None else None
        attempt = 0
        retry_for: str | None = None
        refreshed = nonce_retried = False
        while True:
            await self.budget.acquire(bucket, priority)
            try:
                try:
                    sent = await self.auth.headers(self._get_session(), method, url)
                    resp = await self._send(method, url, path, sent, data, attempt, retry_for)
                finally:
                    self.budget.release(priority)
                self.budget.update(bucket, resp.headers, limited=resp.status == 429)
                if 200 <= resp.status < 300:
                    return resp
                if not nonce_retried and self.auth.accept_dpop_nonce(resp.status, resp.headers, resp.body):
                    nonce_retried = True
                    log.info(
                        "okta.dpop.nonce_retry",
                        method=method,
                        path=path,
                        status=resp.status,
                        request_id=resp.request_id,
                    )
                    continue
                if resp.status == 401 and self.auth.refreshable and not refreshed:
                    refreshed = True
                    log.info("okta.auth.refresh_on_401", method=method, path=path, request_id=resp.request_id)
                    await self.auth.invalidate(sent)
                    continue
                raise error_from_response(
                    resp.status,
                    resp.body,
                    request_id=resp.request_id,
                    method=method,
                    path=path,
                    retry_after=_server_wait_hint(resp),
                    challenge=resp.headers.get("WWW-Authenticate"),
                )
            except OktaApiError as exc:
                if not exc.retryable or attempt >= self.max_retries:
                    if exc.retryable:
                        log.warning(
                            "okta.request.gave_up",
                            method=method,
                            path=path,
                            status=exc.status,
                            error_code=exc.error_code,
                            request_id=exc.request_id,
                            attempts=attempt + 1,
                        )
                    raise
                wait = self._retry_wait(attempt, exc.retry_after)
                log.info(
                    "okta.request.retry",
                    method=method,
                    path=path,
                    status=exc.status,
                    error_code=exc.error_code,
                    request_id=exc.request_id,
                    attempt=attempt + 1,
                    wait=round(wait, 3),
                    reason=getattr(exc, "reason", None),
                )
                retry_for = exc.request_id or retry_for
                attempt += 1
                await self._sleep(wait)

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        auth_headers: Mapping[str, str],
        data: bytes | None,
        attempt: int,
        retry_for: str | None,
    ) -> _Response:
        headers = dict(auth_headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        if attempt:
            headers["X-Okta-Retry-Count"] = str(attempt)
            if retry_for:
                headers["X-Okta-Retry-For"] = retry_for
        try:
            async with self._get_session().request(
                method, URL(url, encoded=True), headers=headers, data=data, allow_redirects=False
            ) as resp:
                body = await resp.read()
                links = {str(rel): str(link["url"]) for rel, link in resp.links.items() if "url" in link}
                return _Response(resp.status, CIMultiDict(resp.headers), body, links)
        except TimeoutError:
            raise OktaTransportError("timeout", method=method, path=path) from None
        except aiohttp.ClientError as exc:
            raise OktaTransportError(type(exc).__name__, method=method, path=path) from None

    def _retry_wait(self, attempt: int, server_hint: float | None) -> float:
        base = server_hint if server_hint is not None else self._backoff_base * (2**attempt)
        return min(self.max_wait, base * (1 + self._rng.uniform(0, 0.2)))

    # -- helpers ------------------------------------------------------------------------------

    def _user_url(self, user_id: str, *parts: str) -> str:
        if not user_id:
            raise ValueError("user_id is empty")
        segs = [quote(user_id, safe=""), *(quote(p, safe="") for p in parts)]
        return f"{self.org_url}/api/v1/users/" + "/".join(segs)

    def _check_origin(self, url: str) -> None:
        if URL(url, encoded=True).origin() != self._origin:
            raise ValueError("refusing to follow a URL outside the org's origin")

    async def _get_object(self, url: str) -> dict[str, Any]:
        resp = await self._request("GET", url)
        data = self._parse_json(resp, "GET", url)
        if not isinstance(data, dict):
            raise self._bad(resp, "GET", url, "expected a JSON object")
        return data

    def _parse_json(self, resp: _Response, method: str, url: str) -> Any:
        try:
            return orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            raise self._bad(resp, method, url, "response body is not valid JSON") from None

    @staticmethod
    def _bad(resp: _Response | None, method: str, url: str, why: str) -> OktaBadResponse:
        return OktaBadResponse(
            resp.status if resp else None,
            None,
            why,
            request_id=resp.request_id if resp else None,
            method=method,
            path=URL(url, encoded=True).path,
        )


@dataclass
class _Shared:
    """What a client and its priority views share: the credential and the aiohttp session (made on first use)."""

    auth: Auth
    session: aiohttp.ClientSession | None = None


def _enveloped(data: Any, key: str, link: str | None) -> tuple[Any, str | None]:
    """The array and the next link of a list paged as an object; (None, None) when it is no such object."""
    if not isinstance(data, dict):
        return None, None
    if link is None:
        nxt = data.get("_links")
        nxt = nxt.get("next") if isinstance(nxt, dict) else None
        href = nxt.get("href") if isinstance(nxt, dict) else None
        link = href if isinstance(href, str) and href else None
    return data.get(key), link


def _server_wait_hint(resp: _Response) -> float | None:
    """SDK back-off (``Reset − Date + 1``) for 429s, and for 503/504 only when the bucket is empty.

    Every Okta response carries the bucket's rate-limit headers, so on a 503/504 with quota left
    they say nothing about when the server recovers; exponential back-off fits better there.
    """
    if resp.status == 429 or (resp.status in (503, 504) and resp.headers.get("X-Rate-Limit-Remaining") == "0"):
        return reset_wait(resp.headers)
    return None


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _bool(v: bool) -> str:
    return "true" if v else "false"
