"""Shared fixtures and the end-of-run summary for the benchmark suite.

Run with ``pytest benchmarks --benchmark-enable`` (the project's pytest
options disable benchmarks by default). Each benchmark records its headline
figures with the ``figure`` fixture: they go into the benchmark's
``extra_info`` (so into ``--benchmark-json`` output) and into the summary
that ``pytest_terminal_summary`` prints at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench_support import FIGURES, Figure, Record, geometric_mean
from pytest_benchmark.fixture import BenchmarkFixture

from runtime import Limits, Sandbox

POOL_SIZE = 4
"""Warm instances kept by the shared sandbox: more than one timed run needs."""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []


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
    """``figure(section, name, value, unit, goal=..., detail=...)``: record a headline number."""

    def record(section: str, name: str, value: float, unit: str, *, goal: str = "", detail: str = "") -> None:
        benchmark.extra_info[name] = value
        benchmark.extra_info[f"{name} (unit)"] = unit
        request.config.stash[FIGURES].append(Figure(section, name, value, unit, goal, detail))

    return record


def _format(value: float, unit: str) -> str:
    if unit == "s":
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
            goal = f"  [goal {fig.goal}]" if fig.goal else ""
            detail = f"  ({fig.detail})" if fig.detail else ""
            write(f"  {fig.name:<{width}} {_format(fig.value, fig.unit):>12}{goal}{detail}")
        ratios = [fig.value for fig in items if fig.unit == "x"]
        if len(ratios) > 1:
            write(f"  {'geometric mean':<{width}} {_format(geometric_mean(ratios), 'x'):>12}  [goal <= 2.2x]")
