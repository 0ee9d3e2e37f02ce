"""The detection catalogue: one model for ``detector detections`` and docs/detections.md.

``python -m detector.catalogue > docs/detections.md``; ``tests/test_catalogue.py`` fails when the file is stale.
The facts the detections' code states come from ``detections.catalogue`` (findings, MITRE techniques, evidence
classes, offered actions, settings and their defaults) and the tiers their findings reach from the labelled corpus;
this module adds what only the daemon knows: the range ``detector.config`` checks each setting against, and
quarantine, which the response policy grants wherever clearing sessions is earned (detector/respond/policy.py).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any, get_type_hints

from rich.table import Table
from rich.text import Text

from detections.catalogue import baseline, entries, tiers_reached
from detections.registry import DetectionSettings
from detector.config_reference import setting_range
from detector.respond.escaping import terminal_text
from detector.respond.policy import ORDER, earned_actions

COMMAND = "python -m detector.catalogue > docs/detections.md"


@dataclasses.dataclass(frozen=True, slots=True)
class Knob:
    name: str
    default: str
    type: str
    range: str  # the constraints the config checks, "-" for none
    note: str


@dataclasses.dataclass(frozen=True, slots=True)
class Detection:
    id: str
    title: str
    summary: str
    module: str
    findings: tuple[str, ...]
    mitre: tuple[str, ...]
    tiers: tuple[str, ...]  # reached on the corpus at default settings, lowest first
    evidence: tuple[str, ...]
    actions: tuple[str, ...]  # what its findings may earn, least regret first
    keyed_by_actor: bool
    human_only: bool
    config: str
    knobs: tuple[Knob, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _knobs(key: str, defaults: tuple[tuple[str, str, str], ...]) -> tuple[Knob, ...]:
    """The settings under ``tenants[].detections.<key>`` with the type and range the config checks."""
    kinds = get_type_hints(get_type_hints(DetectionSettings)[key])
    return tuple(Knob(n, d, *setting_range(n, kinds[n]), note) for n, d, note in defaults)


@functools.cache
def detections() -> tuple[Detection, ...]:
    """Every detection of the registry, in its order."""
    reached = tiers_reached()
    out = []
    for e in entries():
        knobs = _knobs(e.id, e.defaults)
        earned = earned_actions({"actions": [a.value for a in e.actions]})
        out.append(
            Detection(
                id=e.id,
                title=e.title,
                summary=e.summary,
                module=e.module,
                findings=e.findings,
                mitre=e.mitre,
                tiers=tuple(t.value for t in reached.get(e.id, ())),
                evidence=tuple(c.value for c in e.evidence),
                actions=tuple(a.value for a in sorted(earned, key=ORDER.__getitem__)),
                keyed_by_actor=e.keyed_by_actor,
                human_only=e.human_only,
                config=e.config,
                knobs=knobs,
            )
        )
    return tuple(out)


# -- the listing: a rich table, plain text, JSON ------------------------------------------------------------------

COLUMNS = ("detection", "title", "MITRE ATT&CK", "tiers", "evidence", "actions", "settings (default, range or type)")


def _cells(d: Detection) -> tuple[str, ...]:
    knobs = "\n".join(f"{k.name}={k.default} ({_short(k.range) or k.type})" for k in d.knobs)
    return (
        d.id,
        d.title,
        ", ".join(d.mitre),
        "..".join(dict.fromkeys((d.tiers[0], d.tiers[-1]))) if d.tiers else "-",
        ", ".join(d.evidence),
        ", ".join(d.actions) or "none (alert only)",
        knobs,
    )


def _short(constraints: str) -> str:
    """The range without ``strict`` (every setting is: no ``"5"`` for 5, no ``true`` for a number); "" if none."""
    return ", ".join(c for c in constraints.split("; ") if c not in ("strict", "-"))


def table(rows: tuple[Detection, ...]) -> Table:
    out = Table(title="Detections (settings: strict types; docs/detections.md)", title_justify="left", show_lines=True)
    for name in COLUMNS:
        out.add_column(name, overflow="fold", ratio=3 if name.startswith("settings") else 1)
    for d in rows:
        out.add_row(*(Text("\n".join(terminal_text(line) for line in c.split("\n"))) for c in _cells(d)))
    return out


def plain(rows: tuple[Detection, ...]) -> str:
    """Off a terminal: one tab-separated line per detection (settings separated by ``; ``)."""
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(c.replace("\n", "; ") for c in _cells(d)) for d in rows]
    return "\n".join(lines) + "\n"


# -- docs/detections.md ------------------------------------------------------------------------------------------


def markdown(rows: tuple[Detection, ...]) -> str:
    lines = [
        "# Detection catalogue",
        "",
        f"Generated from the code by `{COMMAND}`; do not edit by hand",
        "(`tests/test_catalogue.py` fails when this file is stale); `detector detections` lists the same. How findings",
        "are scored and when they may act: [architecture](architecture.md#findings-and-the-confidence-model).",
        "",
        "*Tiers*: the tiers the detection's findings reach on the attacks of the labelled corpus",
        "([tests/data/corpus](../tests/data/corpus/README.md)) at default settings. *Actions*: what its findings may",
        "earn when the evidence passes the gates of `detections/confidence.py` (quarantine wherever clearing",
        "sessions is earned); the tenant's `response` decides what runs. *Keyed by actor*: the detection's state",
        "follows the user who acted, so in Kafka mode it runs in the partition of `okta.events` that holds the event;",
        "otherwise its events are re-keyed by its own state key (IP, login, target, tenant) first. *Human only*: the",
        "tenant's listed service accounts never reach it.",
        "",
        "| detection | findings | MITRE ATT&CK | tiers | actions | keyed by actor | human only |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in rows:
        lines.append(
            f"| [`{d.id}`](#{d.id}) | {_codes(d.findings)} | {', '.join(d.mitre) or '-'} | {', '.join(d.tiers) or '-'} "
            f"| {_codes(d.actions)} | {_yes(d.keyed_by_actor)} | {_yes(d.human_only)} |"
        )
    for d in rows:
        lines += [
            "",
            f"## {d.id}",
            "",
            d.summary,
            "",
            f"* Source: [`{d.module}`](../{d.module})",
            f"* Findings: {_codes(d.findings)}",
            f"* MITRE ATT&CK: {', '.join(d.mitre) or '-'}",
            f"* Tiers on the corpus: {', '.join(d.tiers) or '-'}",
            f"* Evidence: {', '.join(d.evidence) or '-'}",
            f"* Actions it may earn: {_codes(d.actions)}",
            f"* Keyed by actor: {_yes(d.keyed_by_actor)}; human only: {_yes(d.human_only)}",
            f"* Settings (`{d.config}`; per tenant in the config file under `tenants[].detections.{d.id}`):",
            "",
            "| setting | default | range | note |",
            "|---|---|---|---|",
        ]
        lines += _knob_rows(d.knobs)
    return "\n".join(lines + _baseline_section()) + "\n"


def _knob_rows(knobs: tuple[Knob, ...]) -> list[str]:
    return [f"| `{k.name}` | `{_cell(k.default)}` | {_cell(k.range)} | {_cell(k.note)} |" for k in knobs]


def _baseline_section() -> list[str]:
    """The per-user profile the detections share: not a detection, but its settings are tuned like one."""
    shared = baseline()
    readers = ", ".join(f"[`{r}`](#{r})" for r in shared.readers)
    return [
        "",
        f"## {shared.id}",
        "",
        shared.summary,
        "",
        f"* Source: [`{shared.module}`](../{shared.module}); read by {readers}",
        f"* Settings (`{shared.config}`; per tenant in the config file under `tenants[].detections.{shared.id}`):",
        "",
        "| setting | default | range | note |",
        "|---|---|---|---|",
        *_knob_rows(_knobs(shared.id, shared.defaults)),
    ]


def render() -> str:
    return markdown(detections())


def _codes(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.buffer.write(render().encode("utf-8"))  # UTF-8 whatever the locale (the notes hold → and Δ)
