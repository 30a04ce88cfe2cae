"""Shared fixtures and the end-of-run summary for the benchmark suite.

Run with ``pytest benchmarks --benchmark-enable`` (the project's pytest
options disable benchmarks by default). Each benchmark records its headline
figures with the ``figure`` fixture: they go into the benchmark's
``extra_info`` (so into ``--benchmark-json`` output) and into the summary
that ``pytest_terminal_summary`` prints at the end of the run.

With ``--otc-report`` (or ``OTC_BENCH_REPORT=1``) the run also writes
``benchmarks/results/<date>.json``, a markdown report and PNG charts
(``report.py``); ``otc bench`` runs the suite that way.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench_support import FIGURES, NOTES, Figure, Record, cpu_times, geometric_mean, stolen
from pytest_benchmark.fixture import BenchmarkFixture

from runtime import Limits, Sandbox

POOL_SIZE = 4
"""Warm instances kept by the shared sandbox: more than one timed run needs."""


RESULTS = Path(__file__).parent / "results"
REPORT_ENV = "OTC_BENCH_REPORT"
COMMAND_ENV = "OTC_BENCH_COMMAND"
"""The command to print in the report (``otc bench`` sets it); the pytest command line otherwise."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--otc-report",
        action="store_true",
        default=False,
        help="write benchmarks/results/<date>.json, .md and PNG charts at the end of the run",
    )


MACHINE = (
    "machine speed: a fixed pure-Python loop in this process, and the hypervisor's share of the CPU "
    "(the VM's slow spells show here)"
)
MACHINE_TIMES = pytest.StashKey[tuple[int, int]]()
"""The machine's CPU times (``cpu_times``) when the run began."""


def _reference_loop() -> float:
    """Median seconds of a fixed pure-Python loop: the same work in every run,
    so its time tells a fast spell of the machine from a slow one."""

    def spin() -> int:
        total = 0
        for i in range(20_000):
            total += i * 3 % 7
        return total

    times = []
    for _ in range(31):
        started = time.perf_counter()
        spin()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []
    config.stash[NOTES] = {"reference loop at start": _reference_loop()}
    config.stash[MACHINE_TIMES] = cpu_times()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    figures = config.stash.get(FIGURES, [])
    if figures:
        start = config.stash[NOTES].pop("reference loop at start")
        figures.append(Figure(MACHINE, "reference loop, at the start", start, "s", detail="median of 31"))
        figures.append(Figure(MACHINE, "reference loop, at the end", _reference_loop(), "s", detail="median of 31"))
        share = stolen(config.stash[MACHINE_TIMES], cpu_times())
        figures.append(Figure(MACHINE, "CPU stolen by the hypervisor", share * 100, "%", detail="over the whole run"))
    wanted = config.getoption("--otc-report", default=False) or os.environ.get(REPORT_ENV, "") not in ("", "0")
    if not wanted or not figures:
        return
    from report import write_report  # only report runs need matplotlib

    command = os.environ.get(COMMAND_ENV) or " ".join(["pytest", *sys.argv[1:]])
    paths = write_report(figures, config.stash.get(NOTES, {}), RESULTS, command=command)
    config.stash[NOTES]["written"] = [str(path) for path in paths]


@pytest.fixture(scope="session", autouse=True)
def guest_built() -> None:
    """Build (first use only) and load the guest before anything is timed."""
    with Sandbox(pool_size=0) as sb:
        result = sb.run("print(1+1)")
        assert result.ok, result.error


@pytest.fixture(scope="session")
def warm_sandbox() -> Iterator[Sandbox]:
    """A sandbox with a full warm pool, shared by the benchmarks that need fresh runs."""
    with Sandbox(limits=Limits(timeout=2.0), pool_size=POOL_SIZE) as sb:
        sb.wait_ready()
        yield sb


@pytest.fixture(scope="session")
def cold_sandbox() -> Iterator[Sandbox]:
    """A sandbox without a pool: every run instantiates its interpreter on the spot."""
    with Sandbox(limits=Limits(timeout=2.0), pool_size=0) as sb:
        yield sb


@pytest.fixture
def figure(request: pytest.FixtureRequest, benchmark: BenchmarkFixture) -> Record:
    """``figure(section, name, value, unit, goal=..., detail=..., ...)``: record a headline number
    (the keywords are the fields of ``bench_support.Figure``)."""

    def record(section: str, name: str, value: float, unit: str, **fields: Any) -> None:
        benchmark.extra_info[name] = value
        benchmark.extra_info[f"{name} (unit)"] = unit
        if fields.get("ratio") is not None:
            benchmark.extra_info[f"{name} (x otc-runtime)"] = fields["ratio"]
        request.config.stash[FIGURES].append(Figure(section, name, value, unit, **fields))

    return record


def _format(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "s":
        if value >= 10:
            return f"{value:.1f} s"
        return f"{value * 1e3:.3f} ms" if value >= 1e-3 else f"{value * 1e6:.1f} us"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MiB":
        return f"{value:.2f} MiB"
    return f"{value:.0f} {unit}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, [])
    if not figures:
        return
    write = terminalreporter.write_line
    terminalreporter.section("otc-runtime benchmark figures")
    sections: dict[str, list[Figure]] = {}
    for fig in figures:
        sections.setdefault(fig.section, []).append(fig)
    for section, items in sections.items():
        write(f"{section}:")
        width = max(len("geometric mean"), *(len(fig.name) for fig in items))
        for fig in items:
            if fig.status:
                write(f"  {fig.name:<{width}} {fig.status}")
                continue
            goal = f"  [goal {fig.goal}]" if fig.goal else ""
            ratio = f"  {fig.ratio:.3g}x otc-runtime" if fig.ratio is not None else ""
            detail = f"  ({fig.detail})" if fig.detail else ""
            write(f"  {fig.name:<{width}} {_format(fig.value, fig.unit):>12}{goal}{ratio}{detail}")
        ratios = [fig.value for fig in items if fig.unit == "x"]
        if len(ratios) > 1:
            write(f"  {'geometric mean':<{width}} {_format(geometric_mean(ratios), 'x'):>12}  [goal <= 2.2x]")
    written = config.stash.get(NOTES, {}).get("written")
    if written:
        from report import comparison_table

        terminalreporter.section("otc-runtime and its peers (medians; in brackets: x otc-runtime, same run)")
        for line in comparison_table(json.loads(Path(written[0]).read_text())).splitlines():
            write(line)
        for path in written:
            write(f"wrote {path}")
