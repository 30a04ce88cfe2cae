"""Memory: resident set size (RSS) added by each live sandbox.

Goal: <= 8 MiB of RSS per live sandbox after its first run.

A "live sandbox" is a ``Session`` (an interpreter kept alive) that has run
one small script. ``N`` of them are created and kept alive; the figure is
(RSS after - RSS before) / N, with RSS read from ``/proc/self/status``. Two
variants: interpreters instantiated on the spot (``pool_size=0``) and
interpreters taken from a warm pool, which were pre-warmed by trusted
warm-up runs and so have touched more pages. The benchmark's own timing is
how long creating the N sessions and their first runs took.

RSS counts every page a mapping has touched, including clean pages of the
guest's memory image, which wasmtime maps copy-on-write from the compiled
``.cwasm`` file: those are shared through the page cache, not copied per
sandbox. So the breakdown (``Private_Dirty`` and file-backed RSS from
``/proc/self/smaps_rollup``) is reported next to RSS, in ``extra_info``.
"""

from __future__ import annotations

import gc
import json

import pytest
from bench_support import Record, memory_breakdown, rss_bytes
from pytest_benchmark.fixture import BenchmarkFixture

from runtime import Limits, Sandbox, Session

N = 50
SCRIPT = "import json\nrows = [{'i': i, 'sq': i * i} for i in range(100)]\nprint(len(json.dumps(rows)))\n"
MIB = 1 << 20


def _first_runs(sessions: list[Session]) -> None:
    expected = f"{len(json.dumps([{'i': i, 'sq': i * i} for i in range(100)]))}\n"
    for session in sessions:
        result = session.run(SCRIPT)
        assert result.ok, result.error
        assert result.stdout == expected


@pytest.mark.parametrize("pooled", [pytest.param(False, id="on-the-spot"), pytest.param(True, id="from-pool")])
def test_rss_per_sandbox(benchmark: BenchmarkFixture, figure: Record, pooled: bool) -> None:
    """Goal: <= 8 MiB RSS per live sandbox after its first run."""
    limits = Limits(timeout=5.0)
    with Sandbox(limits=limits, pool_size=0) as warmup, warmup.session() as s:
        assert s.run(SCRIPT).ok  # loads the engine and compiled component before measuring
    sessions: list[Session] = []
    gc.collect()
    before, before_detail = rss_bytes(), memory_breakdown()

    def create() -> None:
        if pooled:
            # The pool holds exactly N warmed instances; the sandbox is closed once they
            # are taken, which stops its refill (and frees anything refilled meanwhile).
            sandbox = Sandbox(limits=limits, pool_size=N)
            assert sandbox.wait_ready(timeout=120.0)
            sessions.extend(sandbox.session() for _ in range(N))
            sandbox.close()
        else:
            with Sandbox(limits=limits, pool_size=0) as sandbox:
                sessions.extend(sandbox.session() for _ in range(N))
        _first_runs(sessions)

    try:
        benchmark.pedantic(create, rounds=1, iterations=1)
        gc.collect()
        per_sandbox = (rss_bytes() - before) / N / MIB
        after_detail = memory_breakdown()
        for session in sessions:
            assert session.run("1 + 1").value == 2  # all still alive after the measurement
    finally:
        for session in sessions:
            session.close()
    delta = {key: (after_detail[key] - before_detail.get(key, 0)) / N / MIB for key in after_detail}
    benchmark.extra_info.update({f"per-sandbox {key} MiB": value for key, value in delta.items()})
    kind = "from warm pool" if pooled else "on the spot"
    detail = (
        f"N={N}; of which file-backed {delta['Rss_File']:.2f} MiB; "
        f"Private_Dirty {delta['Private_Dirty']:.2f} MiB, Pss {delta['Pss']:.2f} MiB"
    )
    figure("memory", f"RSS per live session, {kind}", per_sandbox, "MiB", goal="<= 8 MiB", detail=detail)
