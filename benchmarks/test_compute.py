"""Compute suite: the same code run in the sandbox and natively, as a ratio.

Goal: the geometric mean of the per-workload ratios (sandbox time / native
time) is <= 2.2x.

Each workload is one code string, executed identically by both sides: in a
``Session`` (so instantiation is excluded and the guest's compile cache
makes compilation free after the first run) and with ``exec`` in this host
process (compiled once up front, so compilation is excluded there too). The
two are measured interleaved within one test, round by round (native in the
untimed setup, sandbox in the timed call), so a ratio compares the same
moment of a noisy machine. Sizes are picked so a sandbox run takes roughly
20-100 ms here. The host and the guest may run different CPython versions:
the summary names both, since the ratio includes that difference.
"""

from __future__ import annotations

import contextlib
import io
import platform
import statistics
import time
from collections.abc import Iterator

import pytest
from bench_support import Record, quick
from compute_workloads import FULL, scripts
from pytest_benchmark.fixture import BenchmarkFixture

from runtime import ExecutionResult, Limits, Sandbox, Session

ROUNDS = 3 if quick() else 7

WORKLOADS = scripts(FULL)


@pytest.fixture(scope="module")
def compute_session(warm_sandbox: Sandbox) -> Iterator[Session]:
    with warm_sandbox.session(limits=Limits(timeout=30.0)) as s:
        yield s


@pytest.fixture(scope="module")
def section(compute_session: Session) -> str:
    guest = compute_session.run("import sys\nprint(sys.version.split()[0])").stdout.strip()
    return f"compute, sandbox/native (guest CPython {guest} in wasm, host CPython {platform.python_version()})"


def _native(code: object) -> tuple[str, float]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        start = time.perf_counter()
        exec(code, {"__name__": "__main__"})  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
    return out.getvalue(), elapsed


@pytest.mark.parametrize("name", list(WORKLOADS), ids=list(WORKLOADS))
def test_compute(
    benchmark: BenchmarkFixture, compute_session: Session, section: str, figure: Record, name: str
) -> None:
    """Goal: geometric mean of sandbox/native over the workloads <= 2.2x (this test: one workload's ratio)."""
    code = WORKLOADS[name]
    compiled = compile(code, "<script>", "exec")
    expected, _ = _native(compiled)  # also warms the native side up
    assert expected.strip().lstrip("-").isdigit(), expected
    native: list[float] = []
    sandbox: list[float] = []

    def native_round() -> None:
        out, elapsed = _native(compiled)
        assert out == expected
        native.append(elapsed)

    def sandbox_round() -> ExecutionResult:
        start = time.perf_counter()
        result = compute_session.run(code)
        sandbox.append(time.perf_counter() - start)
        return result

    warm = sandbox_round()  # compiles the code in the guest, untimed
    assert warm.ok, warm.error
    sandbox.clear()
    result = benchmark.pedantic(sandbox_round, setup=native_round, rounds=ROUNDS)
    assert result.ok, result.error
    assert result.stdout == expected
    native_s, sandbox_s = statistics.median(native), statistics.median(sandbox)
    benchmark.extra_info["native_median_s"] = native_s
    benchmark.extra_info["sandbox_median_s"] = sandbox_s
    detail = f"native {native_s * 1e3:.1f} ms, sandbox {sandbox_s * 1e3:.1f} ms"
    figure(section, name, sandbox_s / native_s, "x", detail=detail)
