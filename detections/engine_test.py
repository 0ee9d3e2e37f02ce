"""Kafka mode splits the engine: detections keyed by actor run on the actor's partition, the others on
partitions re-keyed by their state key. The split must find exactly what the whole engine finds."""

from __future__ import annotations

from typing import Any

from detections.engine import Engine, TenantContext
from detections.event import Event, parse_event
from detections.registry import build_detections
from detections.testkit import (
    ADMIN_ACTOR,
    admin_event,
    factor_activate,
    factor_reset,
    failed_sign_in,
    fastpass_phishing_block,
    oie_password_failure,
    push_answer,
    push_bombing,
    push_prompt,
    sign_in,
    suspicious_activity_report,
    threat_detected,
    user_target,
)

T0 = 1_700_000_000.0


def _mixed_stream() -> list[Event]:
    raws: list[dict[str, Any]] = []
    raws += push_bombing(T0, 6, accept=True)
    raws += [failed_sign_in(T0 + 100 + i, f"user{i}@acme.com", ip="203.0.113.9") for i in range(30)]
    raws += [oie_password_failure(T0 + 200 + i * 5, "bob@acme.com", ip="198.51.100.7") for i in range(12)]
    raws.append(sign_in(T0 + 300, "nyc", actor={"id": "00ubob", "type": "User", "alternateId": "bob@acme.com"}))
    raws += [sign_in(T0 + 400, "nyc"), sign_in(T0 + 1_000, "moscow")]
    raws.append(threat_detected(T0 + 500))
    raws.append(suspicious_activity_report(T0 + 600))
    raws.append(
        admin_event(
            "user.account.privilege.grant",
            T0 + 700,
            targets=[user_target(), {"id": "SUPER_ADMIN", "type": "ROLE", "alternateId": "Super Administrator"}],
            actor=ADMIN_ACTOR,
            debug={"privilegeGranted": "Super administrator"},
        )
    )
    raws.append(admin_event("system.api_token.create", T0 + 800))
    raws += [fastpass_phishing_block(T0 + 900, ip="45.137.21.9"), sign_in(T0 + 960, "moscow", ip="45.137.21.9")]
    raws += [failed_sign_in(T0 + 1_000 + i, f"sprayed{i % 12}@acme.com", ip=f"100.64.0.{i % 8}") for i in range(24)]
    # help-desk takeover of carol: the reset's actor is the admin, the rest are carol's own events
    carol = {"user": "00ucarol", "login": "carol@acme.com"}
    carol_actor = {"id": "00ucarol", "type": "User", "alternateId": "carol@acme.com"}
    raws += [sign_in(T0 - (i + 1) * 86_400, "nyc", actor=carol_actor) for i in range(4)]
    raws += [
        factor_reset(T0 + 900, **carol),
        factor_activate(T0 + 1_200, "lagos", **carol),
        sign_in(T0 + 1_300, "lagos", actor=carol_actor, dt_hash="dt-attacker"),
    ]
    raws += [push_prompt(T0 + 1_400, "moscow", actor=carol_actor), push_answer(T0 + 1_405, "nyc", actor=carol_actor)]
    return [parse_event(raw, "acme") for raw in raws]


def _ids(findings: list[Any]) -> list[tuple[str, str]]:
    return sorted((f.detection, f.dedup_key) for f in findings)


def test_routes_name_only_detections_not_keyed_by_actor() -> None:
    engine = Engine(build_detections(), TenantContext("acme"))
    routed = {d for event in _mixed_stream() for ids in engine.routes(event).values() for d in ids}
    assert routed, "the stream must exercise re-keyed detections"
    assert "mfa_reset_takeover" in routed
    assert not routed & engine.actor_keyed


def test_split_engine_finds_what_the_whole_engine_finds() -> None:
    events = _mixed_stream()
    whole = Engine(build_detections(), TenantContext("acme"))
    expected = whole.process_all(events, {})

    split = Engine(build_detections(), TenantContext("acme"))
    actor_states: dict[str, Any] = {}
    keyed_states: dict[str, dict[str, Any]] = {}  # one store per re-keyed partition key
    found = []
    for event in events:
        found += split.process(event, actor_states, only=split.actor_keyed)
        for key, ids in split.routes(event).items():
            found += split.process(event, keyed_states.setdefault(key, {}), only=ids)

    assert len({f.detection for f in expected}) >= 5, _ids(expected)
    assert {"mfa_reset_takeover", "push_requester_mismatch"} <= {f.detection for f in expected}, _ids(expected)
    assert _ids(found) == _ids(expected)


def test_own_actions_are_not_routed() -> None:
    engine = Engine(build_detections(), TenantContext("acme", own_client_ids=frozenset({"0oaITDR"})))
    raw = failed_sign_in(T0, "eve@acme.com")
    raw["client"]["id"] = "0oaITDR"
    ours = parse_event(raw, "acme")
    assert engine.routes(parse_event(failed_sign_in(T0, "eve@acme.com"), "acme"))
    assert engine.routes(ours) == {}


class _Explodes:
    """A detection with a bug: it raises on every event it sees, after touching its state."""

    id = "explodes"
    keyed_by_actor = True

    def state_key(self, event: Event) -> str | None:
        return event.actor_id or None

    def new_state(self) -> dict:
        return {}

    def load_state(self, data: dict) -> dict:
        return data

    def detect(self, event: Event, state: Any) -> list:
        raise ValueError("math domain error")


def test_a_detection_that_raises_is_isolated_and_the_others_still_see_the_event() -> None:
    events = _mixed_stream()
    whole = Engine(build_detections(), TenantContext("acme"))
    with_bug = Engine([_Explodes(), *build_detections()], TenantContext("acme"))
    expected = whole.process_all(events, {})
    findings, failures = [], []
    states: dict[str, Any] = {}
    for event in events:
        outcome = with_bug.run(event, states)
        findings += outcome.findings
        failures += outcome.failures
    assert _ids(findings) == _ids(expected)
    assert failures and {f.detection for f in failures} == {"explodes"}
    assert failures[0].reason == "detection explodes raised ValueError: math domain error"


def test_an_unreadable_stored_state_is_started_afresh_and_reported() -> None:
    class Broken(dict):
        def get(self, key: str, default: Any = None) -> Any:
            raise KeyError("a state written by an older version")

    engine = Engine(build_detections(), TenantContext("acme"))
    outcome = engine.run(_mixed_stream()[1], Broken())
    assert outcome.failures and all(type(f.error).__name__ == "StateUnreadable" for f in outcome.failures)
    assert "mfa_fatigue" in {f.detection for f in outcome.failures}
