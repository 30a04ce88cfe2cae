"""Helpers shared by the benchmark modules (importable: pytest puts this directory on ``sys.path``)."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

__all__ = [
    "FIGURES",
    "NOTES",
    "Figure",
    "Record",
    "cpu_times",
    "geometric_mean",
    "median_of",
    "memory_breakdown",
    "quartiles",
    "quick",
    "rss_bytes",
    "stolen",
]

QUICK_ENV = "OTC_BENCH_QUICK"
"""Set to 1 (``otc bench --quick`` does) to shrink rounds and subsets so the whole suite takes < 2 minutes."""


@dataclass(frozen=True)
class Figure:
    """One headline number for the end-of-run summary, with its goal."""

    section: str
    name: str
    value: float
    unit: str
    """``s`` (seconds), ``x`` (a ratio), ``MiB``, or a rate such as ``runs/s``."""
    goal: str = ""
    detail: str = ""
    spread: tuple[float, float] | None = None
    """(25th, 75th percentile) of the rounds the value is the median of, when there were several."""
    ratio: float | None = None
    """value / otc-runtime's value for the same scenario, measured in the same run (peer comparisons)."""
    peer: str = ""
    """The peer (or strategy) measured, for the comparison tables and charts; empty for other figures."""
    scenario: str = ""
    """The scenario the peer ran (a column of the comparison table)."""
    status: str = ""
    """``n/a: <reason>`` when the peer could not run the scenario (``value`` is then NaN)."""
    rounds: int = 0
    """How many measured rounds the value summarises (0: not recorded)."""


FIGURES = pytest.StashKey[list[Figure]]()
"""Where the ``figure`` fixture collects figures, on the pytest config."""

NOTES = pytest.StashKey[dict[str, Any]]()
"""Context for the report (peer descriptions, settings), on the pytest config."""


class Record(Protocol):
    """The ``figure`` fixture: stores a figure in ``extra_info`` and in the summary."""

    def __call__(
        self,
        section: str,
        name: str,
        value: float,
        unit: str,
        *,
        goal: str = "",
        detail: str = "",
        spread: tuple[float, float] | None = None,
        ratio: float | None = None,
        peer: str = "",
        scenario: str = "",
        status: str = "",
        rounds: int = 0,
    ) -> None: ...


def cpu_times() -> tuple[int, int]:
    """(stolen, all) CPU time of the machine since boot, in clock ticks, from
    ``/proc/stat``; (0, 0) where there is none. Stolen time is the hypervisor
    running someone else while this VM had work: this VM's slow spells."""
    try:
        fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    # user, nice, system, idle, iowait, irq, softirq, steal (guest time is counted in user already)
    return (fields[7] if len(fields) == 8 else 0), sum(fields)


def stolen(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time the hypervisor took between two ``cpu_times``."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def rss_bytes() -> int:
    """This process's resident set size, read from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def memory_breakdown() -> dict[str, int]:
    """Bytes by kind from ``/proc/self/smaps_rollup`` (``Rss``, ``Pss``, ``Private_Dirty``, ``Rss_File``...).

    ``Rss`` counts a clean page of a mapped file in every mapping that
    touched it, although the page cache holds it once; ``Private_Dirty`` is
    memory that really belongs to this process alone.
    """
    fields: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[key] = int(parts[0]) * 1024
    fields["Rss_File"] = fields.get("Rss", 0) - fields.get("Anonymous", 0)
    return fields


def median_of(benchmark: BenchmarkFixture) -> float | None:
    """The benchmark's median in seconds, or None when benchmarks are disabled."""
    stats = benchmark.stats
    return None if stats is None else float(stats["median"])


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def quartiles(values: list[float]) -> tuple[float, float] | None:
    """(25th, 75th percentile) of ``values``, or None for fewer than two."""
    if len(values) < 2:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def quick() -> bool:
    """Whether the suite runs in quick mode (``OTC_BENCH_QUICK=1``)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")
