"""Soak and load: thousands of consecutive runs with tools in one process, and concurrent runs.

``test_soak_consecutive_runs``: ``RUNS`` fresh runs (``Sandbox.run``, warm pool) of a
script that makes a blocking sync tool call, gathers an async and a sync call, and
prints; every run is checked. Every ``RUNS // SAMPLES`` runs, at a quiet moment
(the pool refilled and its used instances freed, ``gc.collect()``), the host's
resident set (RSS), OS threads and open descriptors are sampled. RSS is read
twice: as the kernel reports it, and after ``malloc_trim(0)`` has handed glibc's
free heap pages back. The first carries allocator retention that comes and goes
in steps of ~10 MiB as the heap fragments; the second is what a leak would move.

Asserted: every run correct; threads and descriptors at the end no more than
after warm-up (the first 20 % of runs); trimmed RSS at the end within 5 % of
its value after warm-up. The untrimmed drift is reported, not asserted. The
curve goes to ``benchmarks/results/soak-<date>.png``.

``RUNS`` is 10,000 with ``--benchmark-enable`` and 500 when benchmarks are
disabled (CI runs ``pytest benchmarks --benchmark-disable``) or in quick mode, with the same
assertions: the 500-run curve is short but already past the allocator's warm-up.

``test_concurrent_runs_keep_their_own_results``: 8 threads, each making fresh
runs one after another; every run gathers sync, async (completing in a shuffled
order) and context-reading tool calls that carry the run's own token, so calls of
different runs interleave on the host. Every result must hold exactly its own
tokens, in order, none lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime
import gc
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench_support import Record, quick, rss_bytes
from pytest_benchmark.fixture import BenchmarkFixture

from host_functions import ToolContext, ToolSet, tool
from runtime import Limits, Sandbox

FULL_RUNS = 10_000
SHORT_RUNS = 500
SAMPLES = 40
WARM_UP = 0.2
"""The share of runs before the baseline sample (the allocator and caches settle)."""
MAX_DRIFT = 0.05
THREADS = 8
CALLS = 12
"""Calls of each kind (sync, async, context) per cross-talk run."""
RESULTS = Path(__file__).parent / "results"
MIB = 1 << 20


@tool
def echo(value: Any) -> Any:
    """Return the value (a sync tool, on the tool thread pool)."""
    return value


@tool
async def echo_async(value: Any) -> Any:
    """Return the value after a random pause of up to 2 ms, so completions come back shuffled."""
    await asyncio.sleep(random.random() * 0.002)
    return value


@tool
def whose(ctx: ToolContext[str], value: str) -> str:
    """The run's context and the value: a context leaking between runs would show."""
    return f"{ctx.deps}|{value}"


@pytest.fixture(scope="module")
def soak_sandbox() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([echo, echo_async, whose]), limits=Limits(timeout=10.0), pool_size=2) as sb:
        sb.wait_ready()
        yield sb


def _libc_trim() -> Any:
    """glibc's ``malloc_trim``, or None elsewhere (then RSS is reported untrimmed only)."""
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL("libc.so.6").malloc_trim
    return None


@dataclass(frozen=True)
class Sample:
    runs: int
    seconds: float
    rss: float
    """MiB, as the kernel reports it."""
    trimmed: float
    """MiB, after ``malloc_trim(0)``."""
    threads: int
    fds: int


def _sample(sb: Sandbox, runs: int, started: float, trim: Any) -> Sample:
    sb.wait_ready(10)  # the pool frees the instances runs used once it is full and idle
    time.sleep(0.05)
    gc.collect()
    raw = rss_bytes() / MIB
    if trim is not None:
        trim(0)
    return Sample(
        runs=runs,
        seconds=time.monotonic() - started,
        rss=raw,
        trimmed=rss_bytes() / MIB,
        threads=len(os.listdir("/proc/self/task")),
        fds=len(os.listdir("/proc/self/fd")),
    )


def _one_run(sb: Sandbox, i: int) -> None:
    token = f"soak-{i}-{uuid.uuid4().hex[:8]}"
    code = (
        f"import asyncio\nx = echo({token!r})\ny = await asyncio.gather(echo_async({token!r}), echo({i}))\n"
        "print(x)\n[x, y]"
    )
    result = sb.run(code)
    assert result.error is None, result.error
    assert (result.stdout, result.value) == (f"{token}\n", [token, [token, i]])
    assert [call.outcome for call in result.tool_calls] == ["ok", "ok", "ok"]


def _plot(samples: list[Sample], baseline: Sample, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    runs = [s.runs for s in samples]
    fig, (memory, counts) = pyplot.subplots(2, 1, figsize=(9, 7), sharex=True)
    memory.plot(runs, [s.rss for s in samples], label="RSS (kernel)", color="tab:gray")
    memory.plot(runs, [s.trimmed for s in samples], label="RSS after malloc_trim", color="tab:blue")
    memory.axvline(baseline.runs, linestyle=":", color="black", label="end of warm-up")
    memory.axhline(baseline.trimmed * (1 + MAX_DRIFT), linestyle="--", color="tab:red", label="+5 % bound")
    memory.set_ylabel("MiB")
    memory.legend(loc="best")
    memory.set_title(f"otc-runtime soak: {runs[-1]:,} consecutive fresh runs with tools, one process")
    counts.step(runs, [s.threads for s in samples], where="post", label="OS threads")
    counts.step(runs, [s.fds for s in samples], where="post", label="open descriptors")
    counts.set_xlabel("runs")
    counts.set_ylim(bottom=0)
    counts.legend(loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot.close(fig)


def test_soak_consecutive_runs(benchmark: BenchmarkFixture, figure: Record, soak_sandbox: Sandbox) -> None:
    total = SHORT_RUNS if benchmark.disabled or quick() else FULL_RUNS
    every = total // SAMPLES
    trim = _libc_trim()
    samples: list[Sample] = []

    def soak() -> None:
        started = time.monotonic()
        samples.append(_sample(soak_sandbox, 0, started, trim))
        for i in range(total):
            _one_run(soak_sandbox, i)
            if (i + 1) % every == 0 or i + 1 == total:
                samples.append(_sample(soak_sandbox, i + 1, started, trim))

    benchmark.pedantic(soak, rounds=1, iterations=1, warmup_rounds=0)

    baseline = next(s for s in samples if s.runs >= total * WARM_UP)
    end = samples[-1]
    after = [s for s in samples if s.runs >= baseline.runs]
    drift = end.trimmed / baseline.trimmed
    raw_drift = end.rss / baseline.rss
    slope = statistics.linear_regression([s.runs for s in after], [s.trimmed * MIB for s in after]).slope
    suffix = "" if total == FULL_RUNS else f"-{total}-runs"
    chart = RESULTS / f"soak-{datetime.date.today().isoformat()}{suffix}.png"
    _plot(samples, baseline, chart)

    section = "soak: consecutive fresh runs with tools"
    figure(section, "runs", total, "runs", detail=f"curve: {chart.relative_to(RESULTS.parent.parent)}")
    figure(section, "run rate, sampling pauses excluded", total / _busy_seconds(samples), "runs/s")
    figure(section, "RSS after warm-up (trimmed)", baseline.trimmed, "MiB", detail=f"at run {baseline.runs:,}")
    figure(section, "RSS at the end (trimmed)", end.trimmed, "MiB")
    detail = f"{(drift - 1) * 100:+.2f} %; kernel RSS {(raw_drift - 1) * 100:+.2f} %, allocator retention included"
    figure(section, "RSS end / after warm-up (trimmed)", drift, "x", goal=f"<= {1 + MAX_DRIFT:.2f}x", detail=detail)
    figure(section, "RSS slope after warm-up (trimmed)", slope, "B/run")
    figure(section, "threads after warm-up -> end", end.threads, "threads", detail=f"from {baseline.threads}")
    figure(section, "descriptors after warm-up -> end", end.fds, "fds", detail=f"from {baseline.fds}")

    assert end.threads <= baseline.threads, [s.threads for s in samples]
    assert end.fds <= baseline.fds, [s.fds for s in samples]
    assert drift <= 1 + MAX_DRIFT, [round(s.trimmed, 2) for s in samples]


def _busy_seconds(samples: list[Sample]) -> float:
    """Seconds spent in runs: the samples' own pauses (about 0.05 s each) taken out."""
    return max(samples[-1].seconds - 0.06 * (len(samples) - 1), 1e-9)


def _cross_talk_run(sb: Sandbox, worker: int, index: int) -> int:
    token = f"w{worker}-r{index}-{uuid.uuid4().hex[:12]}"
    code = (
        "import asyncio\nout = await asyncio.gather(\n"
        f"    *[echo(f'{token}-s{{i}}') for i in range({CALLS})],\n"
        f"    *[echo_async(f'{token}-a{{i}}') for i in range({CALLS})],\n"
        f"    *[whose(f'{token}-c{{i}}') for i in range({CALLS})],\n)\nout"
    )
    expected = [
        *(f"{token}-s{i}" for i in range(CALLS)),
        *(f"{token}-a{i}" for i in range(CALLS)),
        *(f"{token}|{token}-c{i}" for i in range(CALLS)),
    ]
    result = sb.run(code, context=token)
    assert result.error is None, result.error
    assert result.value == expected  # its own tokens, in order, and nothing else
    assert sorted(call.id for call in result.tool_calls) == list(range(1, 3 * CALLS + 1))
    assert {call.outcome for call in result.tool_calls} == {"ok"}
    return len(result.value)


def test_concurrent_runs_keep_their_own_results(
    benchmark: BenchmarkFixture, figure: Record, soak_sandbox: Sandbox
) -> None:
    runs_per_thread = 10 if benchmark.disabled or quick() else 100
    checked: list[int] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        for r in range(runs_per_thread):
            count = _cross_talk_run(soak_sandbox, w, r)
            with lock:
                checked.append(count)

    def load() -> None:
        with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="cross-talk") as pool:
            for future in [pool.submit(worker, w) for w in range(THREADS)]:
                future.result()

    started = time.monotonic()
    benchmark.pedantic(load, rounds=1, iterations=1, warmup_rounds=0)
    elapsed = time.monotonic() - started

    runs = THREADS * runs_per_thread
    assert len(checked) == runs and sum(checked) == runs * 3 * CALLS  # none lost
    section = "load: concurrent runs with interleaved tool calls"
    figure(section, "runs (8 threads)", runs, "runs", detail=f"{3 * CALLS} gathered calls each")
    figure(section, "tool results checked", sum(checked), "calls", detail="each its own run's, in order")
    figure(section, "tool calls per second", sum(checked) / elapsed, "calls/s")
