"""Property-based fuzzing of the whole detection step with hostile LogEvents.

Every field of an event is chosen by whoever signs in, so the fuzzer takes realistic events of every kind
the detections read and replaces any of their values with something hostile: the wrong type, missing,
huge, non-finite, deeply nested, control characters, markup, or bytes that are not UTF-8. A sequence of
such events runs through ``DetectStep`` (the parse → dead letter → detect → serialise step both modes
share) on one state, and every finding through every output formatter. The properties:

* nothing raises: not the parse, not a detection, not a formatter;
* every record is either processed (counted) or dead-lettered with a reason;
* every state the detections wrote survives encoding and decoding.

CI runs a bounded, derandomised number of examples. A longer local run:

    ITDR_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz_events.py -p no:cacheprovider
"""

from __future__ import annotations

import io
import os
import re
import time
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from rich.console import Console

from detections.directory import AdminRole, UserFacts
from detections.engine import Engine, TenantContext
from detections.registry import build_detections
from detections.testkit import (
    admin_event,
    failed_sign_in,
    oie_push_accept,
    oie_push_deny,
    push_sent,
    sign_in,
    suspicious_activity_report,
    threat_detected,
    unknown_user_failure,
    user_target,
)
from detector.ops.metrics import Metrics
from detector.respond.alerts import format_evidence, format_finding
from detector.respond.escaping import (
    PAGERDUTY_SUMMARY_LIMIT,
    SLACK_TEXT_LIMIT,
    pagerduty_details,
    pagerduty_summary,
    slack_mrkdwn,
    slack_truncate,
    teams_text,
)
from detector.stream.detect import DeadLetter, DetectStep

EXAMPLES = int(os.environ.get("ITDR_FUZZ_EXAMPLES", "150"))
TENANT = "acme"
NOW = time.time()

HOSTILE_STRINGS = [
    "",
    "null",
    "[/]",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b]0;pwned\x07",
    "line one\nINFO forged line\r\n",
    "<!channel> <https://evil.example|click> <@U123>",
    "**bold** [click](https://evil.example) # heading",
    "\u202etxt.exe\u2066",
    "Summer2024!",
    "{New Device=POSITIVE, New IP=",
    '[{"anonymous": true, "operator": ',
    "inf",
    "-Infinity",
    "NaN",
    "9999-12-31T23:59:59-23:59",
    "\x00\x01\x7f\x9b",
    "a" * 5000,
]

scalars = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN or infinity: those arrive as strings
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_DELETE = object()
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NOT_SGR = re.compile("\x1b(?!\\[[0-9;]*m)|[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def _templates(t: float) -> list[dict[str, Any]]:
    """One event of each kind the detections read, wire-shaped."""
    return [
        sign_in(t, "nyc"),
        sign_in(t, "moscow", behaviors="{New Device=POSITIVE, New Country=POSITIVE}", threat=True),
        failed_sign_in(t, "bob@acme.com"),
        unknown_user_failure(t, "Summer2024!"),
        oie_push_deny(t),
        oie_push_accept(t),
        push_sent(t, ip="185.220.101.4"),
        threat_detected(t),
        suspicious_activity_report(t),
        admin_event("user.account.privilege.grant", t, targets=[user_target()], debug={"privilegeGranted": "Super"}),
        admin_event("system.api_token.create", t),
    ]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON-like object (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    if value is _DELETE and isinstance(obj, dict):
        del obj[path[-1]]
    else:
        obj[path[-1]] = None if value is _DELETE else value


@st.composite
def hostile_records(draw: st.DrawFn) -> bytes:
    """One record as it would arrive from the bus: usually a mutated event, sometimes raw hostile bytes."""
    kind = draw(st.sampled_from(["mutated"] * 8 + ["bytes", "deep"]))
    if kind == "bytes":
        return draw(st.sampled_from([b"\xff\xfe{", b'{"uuid": "\xc3\x28"}', b"[]", b"null", b"", b'"x"', b"{}"]))
    if kind == "deep":
        depth = draw(st.integers(500, 5000))
        return b'{"uuid":"deep","eventType":"user.session.start","actor":' + b"[" * depth + b"]" * depth + b"}"
    raw = draw(st.sampled_from(_templates(NOW - draw(st.floats(min_value=0, max_value=7200)))))
    for path in draw(st.lists(st.sampled_from(_paths(raw)), max_size=4, unique=True)):
        try:
            _set(raw, path, draw(st.one_of(values, st.just(_DELETE))))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent of this path
    return orjson.dumps(raw)


@st.composite
def hostile_bursts(draw: st.DrawFn) -> list[bytes]:
    """Enough failed passwords for one hostile login, from one IP, for brute force and spray to fire: their
    findings carry the attacker's string in the principal and the summary."""
    login = draw(st.sampled_from(HOSTILE_STRINGS) | st.text(min_size=1, max_size=60))
    start = NOW - draw(st.floats(min_value=60, max_value=3600))
    raws = [failed_sign_in(start + i, login) for i in range(12)]
    raws += [failed_sign_in(start + 20 + i, f"{login}{i}") for i in range(12)]
    return [orjson.dumps(raw) for raw in raws]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _render_terminal(finding: dict[str, Any]) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=10_000, color_system="truecolor")
    for line in [format_finding(finding), *format_evidence(finding)]:
        console.print(line)
    rendered = console.file.getvalue()
    assert len(rendered.splitlines()) == 1 + len(finding["evidence"]) + len(finding["dampeners"])
    assert _NOT_SGR.search(rendered) is None, "an escape sequence other than rich's own colours"


def _render_channels(finding: dict[str, Any]) -> None:
    for text in _strings(finding):
        assert not _CONTROL.search(slack_mrkdwn(text)) and "<" not in slack_mrkdwn(text)
        assert len(slack_truncate(slack_mrkdwn(text * 3))) <= SLACK_TEXT_LIMIT
        assert not _CONTROL.search(teams_text(text)) and "](" not in teams_text(text)
        assert len(pagerduty_summary(text)) <= PAGERDUTY_SUMMARY_LIMIT
    pagerduty_details(finding)


def _formatters() -> list[Any]:
    """Every output a finding reaches, each taking a Finding.to_dict()."""
    return [_render_terminal, _render_channels]


class HostileDirectory:
    """Every user known, deprovisioned, dormant, made admin through a group whose name an admin typed as markup:
    the directory's paths run on every hostile event, and their labels reach every renderer."""

    FACTS = UserFacts(
        "DEPROVISIONED",
        created=0.0,
        last_login=0.0,
        admin_roles=(AdminRole("SUPER_ADMIN", "<b>Super</b>\x1b[31m*admin*", via_group="@here <!channel> `x`\n|"),),
        factor_types=frozenset({"push"}),
    )

    def user(self, user_id: str) -> UserFacts | None:
        return self.FACTS


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(hostile_records().map(lambda record: [record]) | hostile_bursts(), min_size=1, max_size=12))
def test_hostile_events_are_processed_or_dead_lettered_and_nothing_raises(groups: list[list[bytes]]) -> None:
    records = [record for group in groups for record in group]
    metrics = Metrics(CollectorRegistry())
    engine = Engine(build_detections(), TenantContext(TENANT), directory=HostileDirectory())
    step = DetectStep({TENANT: engine}, metrics)
    states: dict[str, Any] = {}
    dead = processed = 0
    for value in records:
        event = step.parse(TENANT, value)
        if isinstance(event, DeadLetter):
            assert event.reason and event.value == value
            dead += 1
            continue
        processed += 1
        result = step.detect(event, value, states)
        assert result.deadletters == [], [d.reason for d in result.deadletters]  # no detection raised
        for emitted in result.findings:
            finding = orjson.loads(emitted.value)
            for render in _formatters():
                render(finding)
    assert dead + processed == len(records)
    assert metrics.events_processed.labels(TENANT)._value.get() == processed
    for key, state in states.items():
        assert engine.decode_state(key, engine.encode_state(state)).to_dict() == state.to_dict()
