"""Every number in the config has a range: a threshold of 0, a NaN window or a negative map size would
silently fire on everything or disable a detection."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detections.registry import DetectionSettings
from detector.config import ConfigError, detection_rule, load_config, parse_config

NUMBERS = (int, float, bool)


def tenant(**overrides: Any) -> dict[str, Any]:
    base = {"name": "acme", "org_url": "https://acme.okta.com", "read": {"kind": "ssws", "token": {"env": "T"}}}
    return {**base, **overrides}


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def settings(cls: type = DetectionSettings, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """(path, type, default) of every leaf setting, nested dataclasses walked."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from settings(kind, (*path, f.name))
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            yield (*path, f.name), kind, default


def holds_numbers(kind: Any) -> bool:
    return kind in NUMBERS or any(arg in NUMBERS for arg in typing.get_args(kind))


NUMERIC = [(path, kind) for path, kind, _ in settings() if holds_numbers(kind)]


def nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def merged(items: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in items:
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def test_the_walk_sees_every_detection_and_its_numeric_settings():
    assert {path[0] for path, _ in NUMERIC} == {f.name for f in dataclasses.fields(DetectionSettings)}
    assert len(NUMERIC) > 120
    assert (("mfa_fatigue", "min_denials"), int) in NUMERIC
    assert (("impossible_travel", "inflight_asns"), frozenset[int]) in NUMERIC


@pytest.mark.parametrize(("path", "kind"), NUMERIC, ids=[".".join(p) for p, _ in NUMERIC])
def test_every_numeric_detection_setting_is_covered_by_a_range_rule(path, kind):
    """A setting added later with a name no rule knows fails here, instead of going unchecked."""
    assert detection_rule(path[-1], kind) is not None, f"add a rule for {'.'.join(path)}: {kind} in detector/config.py"


BAD_VALUES = {  # each is outside every rule for its type
    int: [-1, True, 1.5, 10**12],
    float: [math.nan, math.inf, -1.0, 0.0, True, 1e12],
    bool: [1, "yes"],
    frozenset[int]: [[0], [-5], [2**40]],
}


@pytest.mark.parametrize(("kind", "bad"), [(k, v) for k, values in BAD_VALUES.items() for v in values])
def test_an_out_of_range_value_is_refused_with_the_yaml_path(kind, bad):
    paths = [path for path, k in NUMERIC if k == kind]
    assert paths
    message = error_of({"tenants": [tenant(detections=merged([(p, bad) for p in paths]))]})
    for path in paths:
        where = f"tenants[0].detections.{'.'.join(path)}"
        assert f"{where}: " in message or f"{where}[0]: " in message, (where, message)


def test_every_default_is_within_its_rule():
    every = merged([(path, list(d) if isinstance(d, tuple | frozenset) else d) for path, _, d in settings()])
    assert parse_config({"tenants": [tenant(detections=every)]}).tenants[0].detections == DetectionSettings()


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        ({"mfa_fatigue": {"min_denials": 0}}, "mfa_fatigue.min_denials: Input should be greater than or equal to 1"),
        ({"mfa_fatigue": {"max_entries": -1}}, "mfa_fatigue.max_entries: Input should be greater than or equal to 1"),
        ({"impossible_travel": {"proxy_dampening": 101}}, "impossible_travel.proxy_dampening: Input should be less"),
        (
            {"distributed_spray": {"booster_share": 0}},
            "distributed_spray.booster_share: Input should be greater than 0",
        ),
        ({"impossible_travel": {"min_distance_km": 40000}}, "impossible_travel.min_distance_km: Input should be less"),
        ({"brute_force": {"window_s": 100 * 86400}}, "brute_force.window_s: Input should be less than or equal to"),
        (
            {"impossible_travel": {"same_network_suppresses": 0}},
            "impossible_travel.same_network_suppresses: Input should be a valid boolean",
        ),
        ({"session_hijack": {"min_confidence": 150}}, "session_hijack.min_confidence: Input should be less than"),
    ],
)
def test_range_examples(detections, expected):
    assert f"tenants[0].detections.{expected}" in error_of({"tenants": [tenant(detections=detections)]})


def test_a_nan_window_written_in_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "itdr.yaml"
    path.write_text(
        "tenants:\n  - name: acme\n    org_url: https://acme.okta.com\n    read: {kind: ssws, token: {env: T}}\n"
        "    detections:\n      mfa_fatigue: {window_s: .nan, lateness_s: .inf}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "tenants[0].detections.mfa_fatigue.window_s: Input should be a finite number" in str(info.value)
    assert "tenants[0].detections.mfa_fatigue.lateness_s: Input should be a finite number" in str(info.value)


def test_a_detections_own_check_still_runs_after_the_rules():
    gaps = {"distributed_spray": {"hop_s": 7200}}
    assert "tenants[0].detections.distributed_spray: hop_s must be > 0 and ≤ window_s" in error_of(
        {"tenants": [tenant(detections=gaps)]}
    )


def test_asns_and_cidrs_of_a_detection_are_parsed_like_the_context():
    overrides = {"impossible_travel": {"allowlist_asns": ["AS7018", 64512], "allowlist_cidrs": ["203.0.113.9"]}}
    travel = parse_config({"tenants": [tenant(detections=overrides)]}).tenants[0].detections.impossible_travel
    assert travel.allowlist_asns == {7018, 64512} and travel.allowlist_cidrs == ("203.0.113.9/32",)


def with_kafka(**settings: Any) -> dict[str, Any]:
    return {"tenants": [tenant()], "kafka": {"bootstrap": "k:9092", **settings}}


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"tenants": [tenant(poll={"interval_s": math.inf})]}, "tenants[0].poll.interval_s: Input should be a finite"),
        ({"tenants": [tenant(poll={"budget_share": math.nan})]}, "tenants[0].poll.budget_share: Input should be"),
        ({"tenants": [tenant(poll={"page_limit": True})]}, "tenants[0].poll.page_limit: Input should be a valid"),
        ({"tenants": [tenant(poll={"sync_share": 0})]}, "tenants[0].poll.sync_share: Input should be greater than 0"),
        ({"tenants": [tenant(poll={"sync_share": 1.5})]}, "tenants[0].poll.sync_share: Input should be less than"),
        ({"tenants": [tenant(poll={"sync_reserve": -1})]}, "tenants[0].poll.sync_reserve: Input should be greater"),
        ({"tenants": [tenant(poll={"sync_reserve": 2.5})]}, "tenants[0].poll.sync_reserve: Input should be a valid"),
        ({"tenants": [tenant(poll={"sync_concurrency": 0})]}, "tenants[0].poll.sync_concurrency: Input should be"),
        ({"tenants": [tenant(poll={"sync_concurrency": 65})]}, "tenants[0].poll.sync_concurrency: Input should be"),
        ({"tenants": [tenant(poll={"lookback_minutes": "15"})]}, "tenants[0].poll.lookback_minutes: Input should"),
        ({"tenants": [tenant(response={"dry_run": "false"})]}, "tenants[0].response.dry_run: Input should be a valid"),
        ({"tenants": [tenant(response={"max_actions_per_hour": -1})]}, "response.max_actions_per_hour: Input should"),
        ({"tenants": [tenant(response={"allow_suspend": 1})]}, "tenants[0].response.allow_suspend: Input should"),
        (with_kafka(partitions=0), "kafka.partitions: Input should be greater than or equal to 1"),
        (with_kafka(web_port=70000), "kafka.web_port: Input should be less than or equal to 65535"),
        (with_kafka(events_retention_hours=10**15), "kafka.events_retention_hours: Input should be less"),
        ({"tenants": [tenant()], "metrics": {"port": 0}}, "metrics.port: Input should be greater than or equal to 1"),
        ({"tenants": [tenant()], "metrics": {"port": 9108.5}}, "metrics.port: Input should be a valid integer"),
        ({"tenants": [tenant()], "data_dir": "var\x00/x"}, "data_dir: a path must not hold control characters"),
    ],
)
def test_the_other_numbers_are_finite_and_in_range(top, expected):
    assert expected in error_of(top)
