"""Figure 10: precision and recall per detection on the labelled corpus (detections/corpus.py).

Every case (an attack variant or a benign trap) runs through the whole registry with a fresh state and the
corpus tenant's context; detections/scoring.py counts, per detection, the expected findings found (true
positives), those missed and the findings no label asked for (false positives). Known gaps are counted like any
other case: the figure is what the detections do today.

.venv/bin/python -m bench.corpus        # or: .venv/bin/python -m bench.run --only 10
"""

from __future__ import annotations

import argparse
import time

from bench.common import Figure
from detections import corpus, scoring

SECTION = "10 corpus"


def run(show: bool = True) -> list[Figure]:
    cases = corpus.cases()
    start = time.perf_counter()
    outcomes = scoring.run(cases)
    elapsed = time.perf_counter() - start
    scores = scoring.score(outcomes)
    if show:
        print(scoring.table(scores, outcomes))
    nan = float("nan")
    figures = []
    for s in scores:
        note = f"{len(s.cases)} cases, tp {s.tp} fn {s.fn} fp {s.fp}"
        precision, recall = (nan if v is None else v for v in (s.precision, s.recall))
        figures.append(Figure(SECTION, f"{s.detection} precision", precision, "", note))
        figures.append(Figure(SECTION, f"{s.detection} recall", recall, ""))
    tp, fn, fp = (sum(getattr(s, k) for s in scores) for k in ("tp", "fn", "fp"))
    gaps = sum(1 for c in cases if c.gap)
    failing = sum(1 for o in outcomes if not o.passed)
    note = f"{len(cases)} cases ({sum(c.trap for c in cases)} traps), {failing} not as labelled, {gaps} known gaps"
    figures += [
        Figure(SECTION, "all precision", tp / (tp + fp) if tp + fp else nan, "", note),
        Figure(SECTION, "all recall", tp / (tp + fn) if tp + fn else nan, ""),
        Figure(SECTION, "corpus through every detection", sum(len(c.events) for c in cases) / elapsed, "events/s",
               "fresh engine per case, parse included"),
    ]  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    from bench.common import machine_facts
    from bench.run import report

    argparse.ArgumentParser(prog="bench.corpus", description=__doc__).parse_args(argv)
    report(Console(width=160), run(), machine_facts())


if __name__ == "__main__":
    main()
