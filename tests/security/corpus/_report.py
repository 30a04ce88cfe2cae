"""What each attack did, collected for the end-of-run table by family."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

__all__ = ["NOTES", "OUTCOMES", "Outcome", "table"]


@dataclass(frozen=True)
class Outcome:
    family: str
    attack: str
    contained: bool
    """Every effect check and the run-level expectation passed."""
    seen: str
    """The class of the run's error (``TimeoutExceeded``...), ``ok`` without one,
    ``raised`` when ``run`` itself raised."""


OUTCOMES = pytest.StashKey[list[Outcome]]()
"""Where ``test_corpus`` records outcomes, on the pytest config."""
NOTES = pytest.StashKey[list[str]]()
"""Lines about the host as a whole (memory over the corpus), printed under the table."""


def table(outcomes: Iterable[Outcome], families: Iterable[str]) -> list[str]:
    """Lines of the summary: per family, attacks tried, contained, and what the runs reported."""
    outcomes = list(outcomes)
    by_family: dict[str, list[Outcome]] = {name: [] for name in families}
    for outcome in outcomes:
        by_family.setdefault(outcome.family, []).append(outcome)
    rows = [("family", "tried", "contained", "errors seen (typed, with counts)")]
    total_tried = total_contained = 0
    for name, items in by_family.items():
        if not items:
            continue
        contained = sum(o.contained for o in items)
        seen = Counter(o.seen for o in items)
        text = ", ".join(f"{kind} {count}" for kind, count in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append((name, str(len(items)), str(contained), text))
        total_tried, total_contained = total_tried + len(items), total_contained + contained
    rows.append(("total", str(total_tried), str(total_contained), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows]
    escaped = [f"  NOT CONTAINED: {o.family} / {o.attack} (run reported {o.seen})" for o in outcomes if not o.contained]
    return lines + escaped
