"""The HTTP routes of response control: the ledger, approvals, undo, the allowlist, Slack's buttons.

``response_routes`` returns (token routes, public routes) for ``detector.ops.http.Api``. Token routes need
the bearer token. The public ones verify their callers themselves:

* ``POST /api/v1/slack/actions``: Slack's signature (``detector.respond.slack``), each request once.
* ``GET|POST /api/v1/approvals/{request_id}/approve|deny`` and ``GET|POST /api/v1/actions/{action_id}/undo``:
  with ``?step=&exp=&sig=`` a signed one-time link (``detector.respond.links``): GET shows a page whose
  form POSTs, so a link preview never decides anything; without them, the bearer token and a JSON body
  ``{"by": "alice"}`` (the API).

Every value shown on a page is HTML-escaped, and every Slack answer's text is mrkdwn-escaped: logins and
reasons come from events and from people.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from detector.ops.http import BEARER, unauthorized
from detector.respond.allowlist import Allowlist, AllowlistRefused
from detector.respond.decisions import Decisions, Refused
from detector.respond.escaping import slack_mrkdwn, slack_truncate
from detector.respond.ledger import ActionRecord, Status
from detector.respond.links import LinkSigner
from detector.respond.slack import MAX_BODY, SlackRequests, button_press

MAX_LIST = 1000
MAX_BY = 100
RouteDef = web.RouteDef


@dataclass
class ResponseDesk:
    """What the routes act through; made when the pipeline (or the action role) starts."""

    decisions: Decisions
    allowlist: Allowlist
    links: LinkSigner
    slack: SlackRequests | None
    tenants: Callable[[], Collection[str]]  # the tenants configured now (a reload changes them)


Desk = Callable[[], ResponseDesk | None]
Decide = Callable[[Decisions, str, str], Awaitable[ActionRecord]]
_DECIDE: dict[str, Decide] = {
    "approve": lambda d, subject, by: d.approve(subject, by),
    "deny": lambda d, subject, by: d.deny(subject, by),
    "undo": lambda d, subject, by: d.undo(subject, by),
}


def response_routes(desk: Desk) -> tuple[list[RouteDef], list[RouteDef]]:
    """(token routes, public routes)."""

    def ready() -> ResponseDesk:
        found = desk()
        if found is None:
            raise _error(503, "response control is starting")
        return found

    async def list_actions(request: web.Request) -> web.Response:
        d, q = ready(), request.query
        limit = _limit(q.get("limit", "100"))
        records = await d.decisions.worker.ledger.all(q.get("tenant"), limit)
        status = q.get("status")
        return web.json_response({"actions": [r.to_dict() for r in records if status in (None, r.status.value)]})

    async def one_action(request: web.Request) -> web.Response:
        record = await ready().decisions.worker.ledger.get(request.match_info["action_id"])
        if record is None:
            raise _error(404, "no such action")
        return web.json_response(record.to_dict())

    async def list_approvals(request: web.Request) -> web.Response:
        waiting = await ready().decisions.worker.ledger.in_status(frozenset({Status.AWAITING_APPROVAL}))
        tenant = request.query.get("tenant")
        return web.json_response({"approvals": [r.to_dict() for r in waiting if tenant in (None, r.tenant)]})

    async def list_allowlist(request: web.Request) -> web.Response:
        d = ready()
        now = d.decisions.now
        entries = await d.allowlist.entries(request.query.get("tenant"))
        every = request.query.get("all") in ("1", "true")
        return web.json_response({"entries": [e.to_dict(now) for e in entries if every or e.active(now)]})

    async def add_allowlist(request: web.Request) -> web.Response:
        d, body = ready(), await _json_body(request)
        tenant = body.get("tenant")
        if tenant not in d.tenants():
            raise _error(400, "tenant: not a configured tenant")
        detections = body.get("detections", [])
        if not isinstance(detections, list) or not all(isinstance(x, str) for x in detections):
            raise _error(400, "detections: a list of detection names")
        try:
            entry = await d.allowlist.add(
                tenant,
                _text(body, "user"),
                _text(body, "reason"),
                _instant(body.get("expires")),
                _text(body, "by"),
                d.decisions.now,
                detections,
            )
        except AllowlistRefused as exc:
            raise _error(400, str(exc)) from None
        return web.json_response(entry.to_dict(d.decisions.now), status=201)

    async def remove_allowlist(request: web.Request) -> web.Response:
        d = ready()
        by = request.query.get("by") or _text(await _json_body(request), "by")
        entry = await d.allowlist.remove(request.match_info["entry_id"], by, d.decisions.now)
        if entry is None:
            raise _error(404, "no such active entry")
        return web.json_response(entry.to_dict(d.decisions.now))

    def decide(verb: str, key: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            d, subject = ready(), request.match_info[key]
            if "sig" in request.query:
                return await _by_link(d, request, verb, subject)
            if not request.get(BEARER):
                return unauthorized("a valid bearer token (or a signed link) is required")
            by = _text(await _json_body(request), "by")
            try:
                record = await _DECIDE[verb](d.decisions, subject, by)
            except Refused as exc:
                raise _error(exc.status, str(exc)) from None
            return web.json_response({"action": record.to_dict()})

        return handler

    def confirm(verb: str, key: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            d, subject = ready(), request.match_info[key]
            check = d.links.check(verb, subject, request.query, d.decisions.now)
            if not check.ok:
                return _page(403, "This link does not work", check.reason)
            record = await _subject(d, verb, subject)
            if record is None:
                return _page(404, "Nothing to decide", "there is no such request or action")
            return _confirmation(request, verb, record)

        return handler

    async def slack_actions(request: web.Request) -> web.Response:
        d = ready()
        if d.slack is None:
            raise _error(404, "Slack interactivity is not configured (approvals.slack_signing_secret)")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY or not d.slack.verify(body, request.headers):
            raise _error(401, "invalid or expired Slack signature")
        if not await d.decisions.worker.ledger.claim("slack:" + request.headers["X-Slack-Signature"], d.decisions.now):
            return _slack("This request was already handled.")
        press = button_press(body)
        if press is None:
            raise _error(400, "not a block_actions button press of ours")
        try:
            record = await _DECIDE[press.verb](d.decisions, press.value, f"slack:{press.user}")
        except Refused as exc:
            return _slack(f"Not done: {exc}")
        return _slack(f"{record.action} for {record.principal_login or record.principal}: {record.detail}")

    token = [
        web.get("/api/v1/actions", list_actions),
        web.get("/api/v1/actions/{action_id}", one_action),
        web.get("/api/v1/approvals", list_approvals),
        web.get("/api/v1/allowlist", list_allowlist),
        web.post("/api/v1/allowlist", add_allowlist),
        web.delete("/api/v1/allowlist/{entry_id}", remove_allowlist),
    ]
    public = [web.post("/api/v1/slack/actions", slack_actions)]
    for verb, path, key in (
        ("approve", "/api/v1/approvals/{request_id}/approve", "request_id"),
        ("deny", "/api/v1/approvals/{request_id}/deny", "request_id"),
        ("undo", "/api/v1/actions/{action_id}/undo", "action_id"),
    ):
        public += [web.get(path, confirm(verb, key), allow_head=False), web.post(path, decide(verb, key))]
    return token, public


async def _by_link(d: ResponseDesk, request: web.Request, verb: str, subject: str) -> web.Response:
    """A signed link's form, posted: the link must be intact, unexpired and unused; the name typed is recorded."""
    check = d.links.check(verb, subject, request.query, d.decisions.now)
    if not check.ok:
        return _page(403, "This link does not work", check.reason)
    form = await request.post()
    by = form.get("by")
    if not isinstance(by, str) or not 0 < len(by.strip()) <= MAX_BY or not by.isprintable():
        return _page(400, "Your name is needed", f"type your name (at most {MAX_BY} characters) and send again")
    if not await d.decisions.worker.ledger.claim(check.claim, d.decisions.now):
        return _page(409, "This link was already used", "each link works once")
    try:
        record = await _DECIDE[verb](d.decisions, subject, f"link:{by.strip()}")
    except Refused as exc:
        return _page(exc.status, "Not done", str(exc))
    return _page(200, f"{record.status.value.replace('_', ' ').capitalize()}", record.detail)


async def _subject(d: ResponseDesk, verb: str, subject: str) -> ActionRecord | None:
    if verb == "undo":
        return await d.decisions.worker.ledger.get(subject)
    try:
        return await d.decisions.request(subject)
    except Refused:
        return None


def _confirmation(request: web.Request, verb: str, record: ActionRecord) -> web.Response:
    e = html.escape
    who = record.principal_login or record.principal
    approval = record.approval or {}
    facts = [
        ("tenant", record.tenant),
        ("user", who),
        ("action", record.action),
        ("detection", record.detection),
        ("status", record.status.value),
        ("why", record.detail),
    ]
    if verb != "undo":
        facts += [
            ("approvals", f"{len(approval.get('approved_by', []))} of {approval.get('approvers_needed', 1)}"),
            ("expires", str(approval.get("expires", ""))),
        ]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
    form = (
        f'<form method="post" action="{e(request.path_qs)}"><label>Your name '
        f'<input name="by" required maxlength="{MAX_BY}" autocomplete="name"></label> '
        f'<button type="submit">{e(verb.capitalize())}</button></form>'
    )
    return _page(200, f"{verb.capitalize()} {record.action} for {who}?", "", rows=rows, form=form)


def _page(status: int, title: str, text: str, *, rows: str = "", form: str = "") -> web.Response:
    e = html.escape
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>{e(title)}</title></head><body><h1>{e(title)}</h1>"
        f"{f'<p>{e(text)}</p>' if text else ''}{f'<table>{rows}</table>' if rows else ''}{form}</body></html>"
    )
    headers = {
        "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the page's URL holds a signature
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


def _slack(text: str) -> web.Response:
    return web.json_response(
        {"response_type": "ephemeral", "replace_original": False, "text": slack_truncate(slack_mrkdwn(text))}
    )


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
    502: web.HTTPBadGateway,
    503: web.HTTPServiceUnavailable,
}


def _error(status: int, message: str) -> web.HTTPException:
    return _ERRORS[status](text=orjson.dumps({"error": message}).decode(), content_type="application/json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError:
        raise _error(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _error(400, "the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 500 or not value.isprintable():
        raise _error(400, f"{name}: a non-empty line of text is needed")
    return value.strip()


def _instant(value: Any) -> float:
    """An ISO-8601 time (a date alone is its midnight, UTC) as epoch seconds."""
    if not isinstance(value, str):
        raise _error(400, "expires: an ISO-8601 time is needed, e.g. 2026-12-10T18:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _error(400, "expires: an ISO-8601 time is needed, e.g. 2026-12-10T18:00:00Z") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise _error(400, f"limit must be an integer in 1..{MAX_LIST}")
    return int(raw)
