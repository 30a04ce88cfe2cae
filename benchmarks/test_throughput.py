"""Throughput: fresh sandboxes per second with both cores busy.

Goal: >= 1200 fresh runs of ``print(1+1)`` per second on this 2-core machine.

Two ways to keep the cores busy, each for ``DURATION`` seconds:

* threads: ``WORKERS`` threads share one ``Sandbox`` with a warm pool (its
  one background thread refills the pool; a run that finds it empty
  instantiates on the spot); for context, also without a pool
  (``pool_size=0``: every run instantiates on its own thread, nothing is
  pre-warmed);
* processes: ``WORKERS`` processes (``spawn``), each with its own
  ``Sandbox``, started together behind a barrier.

Every run's output is checked. The benchmark's own timing is the length of
the measurement window; the figure is runs per second, in ``extra_info``.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.synchronize import Barrier

import pytest
from bench_support import Record, quick
from pytest_benchmark.fixture import BenchmarkFixture

from runtime import Limits, Sandbox

WORKERS = 2
DURATION = 1.0 if quick() else 3.0
POOL_SIZE = 4
CODE = "print(1+1)"
SECTION = f"throughput, fresh `{CODE}` runs, {WORKERS} workers for {DURATION:.0f} s"


def _run_until(sandbox: Sandbox, deadline: float) -> int:
    done = 0
    while time.monotonic() < deadline:
        result = sandbox.run(CODE)
        assert result.ok, result.error
        assert result.stdout == "2\n"
        done += 1
    return done


@pytest.mark.parametrize("pool_size", [pytest.param(POOL_SIZE, id="pooled"), pytest.param(0, id="no-pool")])
def test_throughput_threads(benchmark: BenchmarkFixture, figure: Record, pool_size: int) -> None:
    """Goal: >= 1200 fresh sandboxes/s, here with 2 threads sharing one Sandbox (with a pool; without, for context)."""
    counts = [0] * WORKERS
    errors: list[BaseException] = []

    def measure() -> float:
        with Sandbox(limits=Limits(timeout=2.0), pool_size=pool_size) as sandbox:
            assert sandbox.wait_ready(timeout=60.0)
            _run_until(sandbox, time.monotonic() + 0.2)  # warm-up
            assert sandbox.wait_ready(timeout=60.0)
            start = time.monotonic()
            deadline = start + DURATION

            def work(slot: int) -> None:
                try:
                    counts[slot] = _run_until(sandbox, deadline)
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(slot,)) for slot in range(WORKERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.monotonic() - start

    elapsed = benchmark.pedantic(measure, rounds=1, iterations=1)
    assert not errors, errors
    rate = sum(counts) / elapsed
    benchmark.extra_info["runs_per_worker"] = counts
    name = f"{WORKERS} threads, one shared Sandbox(pool_size={pool_size})"
    figure(SECTION, name, rate, "runs/s", goal=">= 1200 runs/s" if pool_size else "")


def _process_worker(barrier: Barrier, results: multiprocessing.Queue[tuple[int, float]]) -> None:
    with Sandbox(limits=Limits(timeout=2.0), pool_size=POOL_SIZE) as sandbox:
        assert sandbox.wait_ready(timeout=120.0)
        _run_until(sandbox, time.monotonic() + 0.2)  # warm-up
        assert sandbox.wait_ready(timeout=60.0)
        barrier.wait()
        start = time.monotonic()
        done = _run_until(sandbox, start + DURATION)
        results.put((done, time.monotonic() - start))


def test_throughput_processes(benchmark: BenchmarkFixture, figure: Record) -> None:
    """Goal: >= 1200 fresh sandboxes/s, here with 2 processes, each with its own Sandbox."""
    ctx = multiprocessing.get_context("spawn")
    outcomes: list[tuple[int, float]] = []

    def measure() -> None:
        barrier = ctx.Barrier(WORKERS)
        results: multiprocessing.Queue[tuple[int, float]] = ctx.Queue()
        procs = [ctx.Process(target=_process_worker, args=(barrier, results)) for _ in range(WORKERS)]
        for proc in procs:
            proc.start()
        try:
            outcomes.extend(results.get(timeout=180.0) for _ in procs)
        finally:
            for proc in procs:
                proc.join(timeout=30.0)
        assert all(proc.exitcode == 0 for proc in procs), [proc.exitcode for proc in procs]

    benchmark.pedantic(measure, rounds=1, iterations=1)
    rate = sum(done / elapsed for done, elapsed in outcomes)
    benchmark.extra_info["runs_per_worker"] = [done for done, _ in outcomes]
    name = f"{WORKERS} processes, a Sandbox(pool_size={POOL_SIZE}) each"
    figure(SECTION, name, rate, "runs/s", goal=">= 1200 runs/s")
