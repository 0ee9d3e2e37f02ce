"""Precision and recall of the detections on the labelled corpus (``detections/corpus.py``).

Each case runs through the whole registry with a fresh state and the corpus tenant's context, as the daemon
runs one tenant. A case's outcome is the set of (finding, entity) pairs it raised (every revision of one
attack counts once). Per detection (a finding's name mapped to the detection that emits it):

* true positive: a pair the case expects, found;
* false negative: a pair the case expects, not found;
* false positive: a pair the case neither expects nor allows (a trap's every finding).

A case *passes* when it has no false negative and no false positive. ``bench/corpus.py`` prints the table;
``detections/corpus_test.py`` asserts every case passes except the known gaps, and that each gap still fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from detections.catalogue import finding_names
from detections.confidence import Tier
from detections.corpus import DIRECTORY, PROFILE, TENANT, TENANT_FIELD, Case, Expect
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Finding
from detections.registry import build_engine
from detections.threat_signals import Book


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    found: frozenset[Expect]  # as raised; ``matched`` reads them as the labels name them
    tiers: frozenset[tuple[str, Tier]] = frozenset()  # (finding, tier) of every revision raised

    @property
    def matched(self) -> frozenset[Expect]:
        """The pairs found, an entity a label names as ``ip:*`` (any source IP) read as that label."""
        wild = {(e.finding, e.entity[:-1]): e for e in (*self.case.expect, *self.case.allow) if e.entity.endswith("*")}
        out = set()
        for pair in self.found:
            prefix = pair.entity.split(":", 1)[0] + ":"
            out.add(wild.get((pair.finding, prefix), pair))
        return frozenset(out)

    @property
    def missed(self) -> frozenset[Expect]:
        return frozenset(self.case.expect) - self.matched

    @property
    def unexpected(self) -> frozenset[Expect]:
        return self.matched - frozenset(self.case.expect) - frozenset(self.case.allow)

    @property
    def passed(self) -> bool:
        return not self.missed and not self.unexpected


@dataclass(slots=True)
class Score:
    detection: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    cases: set[str] = field(default_factory=set)  # the cases that are about this detection

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def findings_of(case: Case) -> list[Finding]:
    """Every finding (each revision) the case's events raise, in its delivery order, through every detection of
    one tenant, from empty state. An event marked for another tenant (``TENANT_FIELD``) goes to that tenant's
    engine, which shares the threat-signal book as the tenants of one daemon do."""
    book = Book()
    engines: dict[str, Engine] = {}
    states: dict[str, dict] = {}
    found: list[Finding] = []
    for raw in case.events:
        tenant = raw.get(TENANT_FIELD, TENANT)
        if tenant not in engines:
            engines[tenant] = build_engine(None, TenantContext(tenant, profile=PROFILE), book, DIRECTORY)
        found += engines[tenant].process(parse_event(raw, tenant), states.setdefault(tenant, {}))
    return found


def run_case(case: Case) -> Outcome:
    found = findings_of(case)
    return Outcome(
        case,
        frozenset(Expect(f.detection, f.entity) for f in found),
        frozenset((f.detection, f.assessment.tier) for f in found),
    )


def run(cases: Iterable[Case]) -> list[Outcome]:
    return [run_case(case) for case in cases]


def score(outcomes: Sequence[Outcome]) -> list[Score]:
    """One row per detection of the registry, in its order."""
    owner = {name: detection for detection, names in finding_names().items() for name in names}
    scores = {detection: Score(detection) for detection in finding_names()}
    for outcome in outcomes:
        scores[outcome.case.detection].cases.add(outcome.case.name)
        expected = frozenset(outcome.case.expect)
        for pair in expected & outcome.matched:
            scores[owner[pair.finding]].tp += 1
        for pair in outcome.missed:
            scores[owner[pair.finding]].fn += 1
        for pair in outcome.unexpected:
            scores[owner[pair.finding]].fp += 1
    return list(scores.values())


def table(scores: Sequence[Score], outcomes: Sequence[Outcome]) -> str:
    """A plain-text table: per detection its cases, TP, FN, FP, precision and recall, then each failing case."""

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = [("detection", "cases", "tp", "fn", "fp", "precision", "recall")]
    rows += [
        (s.detection, str(len(s.cases)), str(s.tp), str(s.fn), str(s.fp), ratio(s.precision), ratio(s.recall))
        for s in scores
    ]
    total = Score("all", sum(s.tp for s in scores), sum(s.fn for s in scores), sum(s.fp for s in scores))
    rows.append(
        ("all", str(len(outcomes)), str(total.tp), str(total.fn), str(total.fp), ratio(total.precision),
         ratio(total.recall))
    )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]  # fmt: skip
    failing = [o for o in outcomes if not o.passed]
    if failing:
        lines += ["", f"{len(failing)} case(s) not as labelled:"]
        for o in failing:
            what = [f"missed {_pairs(o.missed)}"] * bool(o.missed) + [f"unexpected {_pairs(o.unexpected)}"] * bool(
                o.unexpected
            )
            lines.append(f"  {o.case.name}: {'; '.join(what)}" + (" (known gap)" if o.case.gap else ""))
    return "\n".join(lines)


def _pairs(pairs: Iterable[Expect]) -> str:
    return ", ".join(sorted(f"{p.finding} for {p.entity}" for p in pairs))
