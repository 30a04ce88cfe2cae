"""Tool calls: the guest -> host round trip, concurrent calls, and the CRM job.

Goals:

* a trivial tool's round trip (guest -> host -> guest, JSON both ways,
  arguments validated on the host) costs <= 20 us per call, measured inside
  the guest over a loop of ``N`` plain calls;
* 1000 calls of an async tool sleeping 10 ms, gathered in one run at
  ``max_concurrent_tool_calls=100``, take <= 130 ms of wall time (the floor
  is 10 waves of 10 ms = 100 ms);
* 50 calls of an async tool sleeping 100 ms, gathered in one run, take
  < 300 ms (the issue's proof that the calls overlap).

For context: the same ``N``-call loop in pydantic-monty (an optional peer,
``pip install pydantic-monty``; skipped with the reason when it is missing)
and the issue's 200-record CRM job (``ExampleCRM``) in plain-call and
``asyncio.gather`` style.

Every run's result is checked (``ok``, value, call log); timings are never
asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bench_support import Record, median_of
from pytest_benchmark.fixture import BenchmarkFixture

from host_functions import ExampleCRM, ToolSet, tool
from runtime import ExecutionResult, Limits, Sandbox

N = 2000
"""Calls per round-trip run."""

ROUNDS = 5
"""Timed runs per benchmark (each after one untimed warm-up run)."""

LIMITS = Limits(max_concurrent_tool_calls=100, timeout=30.0)

ROUND_TRIP = f"tool call round trip, in-guest loop of N={N} plain calls (JSON included)"
CONCURRENT = "tool calls gathered in one run (async tools that sleep)"
CRM_SECTION = "tool calls: CRM job, 200 records in one run (fresh ExampleCRM per round)"


@tool(inline=True)
def echo_inline(x: int) -> int:
    """Return ``x``, on the sandbox's own thread."""
    return x


@tool
def echo(x: int) -> int:
    """Return ``x``, on the host's tool thread pool."""
    return x


@tool
async def aecho(x: int) -> int:
    """Return ``x``, on the host's event loop."""
    return x


@tool
async def sleepy(i: int) -> int:
    """Sleep 10 ms, then return ``i``."""
    await asyncio.sleep(0.01)
    return i


@tool
async def nap(i: int) -> int:
    """Sleep 100 ms, then return ``i``."""
    await asyncio.sleep(0.1)
    return i


@pytest.fixture(scope="module")
def tool_sandbox() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([echo_inline, echo, aecho, sleepy, nap]), limits=LIMITS) as sb:
        assert sb.wait_ready(timeout=60.0)
        yield sb


def _recording_runner(
    sandbox: Sandbox, code: str, results: list[ExecutionResult]
) -> tuple[Callable[[], ExecutionResult], Callable[[], None]]:
    """(run, refill) for ``_timed``: ``run`` keeps every result in ``results``."""

    def run() -> ExecutionResult:
        result = sandbox.run(code)
        results.append(result)
        return result

    def refill() -> None:
        assert sandbox.wait_ready(timeout=30.0), "the warm pool did not refill"

    return run, refill


def _timed(benchmark: BenchmarkFixture, run: Callable[[], Any], setup: Callable[[], None]) -> list[float]:
    """One untimed warm-up run, then ``ROUNDS`` timed ones; their wall times (s)."""
    walls: list[float] = []

    def one() -> Any:
        start = time.perf_counter()
        out = run()
        walls.append(time.perf_counter() - start)
        return out

    setup()
    one()
    walls.clear()
    benchmark.pedantic(one, setup=setup, rounds=ROUNDS)
    return walls


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


# --- 1. the round trip of a trivial tool ---------------------------------------------------------

LOOP_EXPRESSIONS = {
    "empty-loop": "i",
    "inline-sync": "echo_inline(i)",
    "pool-sync": "echo(i)",
    "async": "aecho(i)",
}
LOOP_NAMES = {
    "empty-loop": "empty loop (baseline)",
    "inline-sync": "inline sync tool",
    "pool-sync": "pool sync tool",
    "async": "async tool, plain call",
}
EXPECTED_TOTAL = N * (N - 1) // 2


def _loop_script(expression: str) -> str:
    """N calls in a loop, timed inside the guest: ``[seconds per call, sum of the results]``."""
    return (
        "import time\n"
        "total = 0\n"
        "t0 = time.perf_counter()\n"
        f"for i in range({N}):\n"
        f"    total += {expression}\n"
        "elapsed = time.perf_counter() - t0\n"
        f"[elapsed / {N}, total]\n"
    )


def _check_loop(result: ExecutionResult, kind: str) -> float:
    """Check one loop run; its in-guest seconds per call."""
    assert result.ok, result.error
    assert result.value_kind == "json"
    per_call, total = result.value
    assert total == EXPECTED_TOTAL
    assert isinstance(per_call, float) and per_call > 0
    if kind == "empty-loop":
        assert result.tool_calls == ()
    else:
        assert len(result.tool_calls) == N
        assert {call.outcome for call in result.tool_calls} == {"ok"}
        assert {call.tool for call in result.tool_calls} == {LOOP_EXPRESSIONS[kind].partition("(")[0]}
    return float(per_call)


@pytest.mark.parametrize("kind", list(LOOP_EXPRESSIONS))
def test_round_trip(benchmark: BenchmarkFixture, tool_sandbox: Sandbox, figure: Record, kind: str) -> None:
    """Goal: a trivial tool's round trip <= 20 us per call, timed in the guest (plain blocking calls).

    ``Sandbox.run`` of the whole ``N``-call loop is timed too (pedantic, after
    an untimed pool refill) and divided by ``N``: that figure includes the
    fresh run's own cost.
    """
    code = _loop_script(LOOP_EXPRESSIONS[kind])
    results: list[ExecutionResult] = []
    walls = _timed(benchmark, *_recording_runner(tool_sandbox, code, results))
    per_calls = [_check_loop(result, kind) for result in results]
    timed = results[-len(walls) :]
    per_call = statistics.median(per_calls[-len(walls) :])
    whole = (median_of(benchmark) or statistics.median(walls)) / N
    name = LOOP_NAMES[kind]
    if kind == "empty-loop":
        figure(ROUND_TRIP, f"{name}: in guest", per_call, "s", detail="per iteration")
    else:
        host = statistics.median(call.duration for result in timed for call in result.tool_calls)
        detail = f"host side {_us(host)} median (call log duration)"
        figure(ROUND_TRIP, f"{name}: in guest", per_call, "s", goal="<= 20 us", detail=detail)
    figure(ROUND_TRIP, f"{name}: Sandbox.run / N", whole, "s", detail="whole fresh run, median, divided by N")


# --- 2. the same loop in pydantic-monty (optional peer) ---------------------------------------------


def _echo(x: int) -> int:
    return x


@pytest.fixture(scope="module")
def monty_pool() -> Iterator[tuple[Any, str]]:
    """A pydantic-monty worker pool and the package's version, or a skip that says why there is none."""
    try:
        import pydantic_monty
    except ImportError as exc:
        pytest.skip(f"pydantic-monty not installed: {exc} (optional peer: pip install pydantic-monty)")
    version = getattr(pydantic_monty, "__version__", "?")
    if not hasattr(pydantic_monty.Monty, "checkout"):
        pytest.skip(f"pydantic-monty {version} not usable: no Monty().checkout() pool API (needs >= 1.0)")
    try:
        pool = pydantic_monty.Monty()
        pool.__enter__()
    except Exception as exc:
        pytest.skip(f"pydantic-monty {version} not usable: {type(exc).__name__}: {exc}")
    try:
        yield pool, version
    finally:
        pool.__exit__(None, None, None)


@pytest.mark.parametrize("kind", ["empty-loop", "external-function"])
def test_round_trip_monty(benchmark: BenchmarkFixture, monty_pool: tuple[Any, str], figure: Record, kind: str) -> None:
    """Goal: context for the 20 us goal; the same ``N``-call loop in pydantic-monty.

    The tool is an external function (``external_lookup``) of a ``feed_run``
    in a fresh checkout of the pool's worker (a subprocess); the whole
    checkout + feed is timed too and divided by ``N``.
    """
    pool, version = monty_pool
    code = _loop_script("i" if kind == "empty-loop" else "echo(i)")
    limits = {"max_suspensions": 10 * N}  # the default (1000) is less than N calls
    values: list[Any] = []

    def run() -> Any:
        with pool.checkout(limits=limits) as session:
            value = session.feed_run(code, external_lookup={"echo": _echo})
        values.append(value)
        return value

    walls = _timed(benchmark, run, lambda: None)
    per_calls = []
    for value in values:
        per_call, total = value
        assert total == EXPECTED_TOTAL
        assert isinstance(per_call, float) and per_call > 0
        per_calls.append(per_call)
    per_call = statistics.median(per_calls[-len(walls) :])
    whole = (median_of(benchmark) or statistics.median(walls)) / N
    name = f"pydantic-monty {version}, " + ("empty loop" if kind == "empty-loop" else "external fn")
    figure(ROUND_TRIP, f"{name}: in guest", per_call, "s", detail="worker subprocess")
    figure(ROUND_TRIP, f"{name}: feed_run / N", whole, "s", detail="checkout + feed_run, median, divided by N")


# --- 3 and 4. many async calls gathered in one run -------------------------------------------------

GATHERS = {
    "1000x10ms-c100": (
        "sleepy",
        1000,
        "1000 x 10 ms at concurrency 100",
        "<= 130 ms; floor 100 ms",
    ),
    "50x100ms": ("nap", 50, "50 x 100 ms", "< 300 ms; floor 100 ms"),
}


def _log_span(result: ExecutionResult) -> tuple[float, float]:
    """(first call's start, first start to last end) from the call log, in seconds."""
    first = min(call.started for call in result.tool_calls)
    last = max(call.started + call.duration for call in result.tool_calls)
    return first, last - first


@pytest.mark.parametrize("case", list(GATHERS))
def test_gather(benchmark: BenchmarkFixture, tool_sandbox: Sandbox, figure: Record, case: str) -> None:
    """Goal: 1000 x 10 ms at concurrency 100 in <= 130 ms; 50 x 100 ms in < 300 ms (wall time of ``Sandbox.run``).

    One run does ``await asyncio.gather(*[tool(i) for i in range(n)])``; the
    call log gives the time from the first call's start to the last one's end.
    """
    tool_name, n, label, goal = GATHERS[case]
    code = (
        "import asyncio\n"
        f"results = await asyncio.gather(*[{tool_name}(i) for i in range({n})])\n"
        f"results == list(range({n}))\n"
    )
    results: list[ExecutionResult] = []
    walls = _timed(benchmark, *_recording_runner(tool_sandbox, code, results))
    for result in results:
        assert result.ok, result.error
        assert result.value is True
        assert len(result.tool_calls) == n
        assert {call.outcome for call in result.tool_calls} == {"ok"}
        assert {call.tool for call in result.tool_calls} == {tool_name}
    timed = results[-len(walls) :]
    wall = median_of(benchmark) or statistics.median(walls)
    first = statistics.median(_log_span(result)[0] for result in timed)
    span = statistics.median(_log_span(result)[1] for result in timed)
    figure(CONCURRENT, f"{label}: wall", wall, "s", goal=goal, detail=f"median of {ROUNDS} runs")
    figure(
        CONCURRENT,
        f"{label}: call log span",
        span,
        "s",
        detail=f"first start to last end; first start {_ms(first)} into the run",
    )


# --- 5. the CRM job ------------------------------------------------------------------------------------

CRM_JOBS = {
    "plain": (
        'cands = list_candidates(status="active", page_size=200)\n'
        "for c in cands:\n"
        '    tag_candidate(c["id"], "reviewed")\n'
        "len(cands)\n"
    ),
    "gather": (
        "import asyncio\n"
        'cands = list_candidates(status="active", page_size=200)\n'
        'await asyncio.gather(*[tag_candidate(c["id"], "reviewed") for c in cands])\n'
        "len(cands)\n"
    ),
}


@pytest.mark.parametrize("style", list(CRM_JOBS))
def test_crm_job(benchmark: BenchmarkFixture, figure: Record, style: str) -> None:
    """Goal: context; the issue's job (list 200 active candidates, tag each) in one run.

    Every round gets a fresh ``ExampleCRM(active=200)`` and a sandbox granting
    its tools (built and filled in the untimed setup), so every timed run
    really tags 200 records; the CRM is checked afterwards.
    """
    code = CRM_JOBS[style]
    current: dict[str, Any] = {}
    done: list[tuple[ExampleCRM, ExecutionResult]] = []

    def setup() -> None:
        if "sandbox" in current:
            current.pop("sandbox").close()
        crm = ExampleCRM(active=200)
        sandbox = Sandbox(tools=crm.toolset(), limits=LIMITS, pool_size=1)
        current["crm"], current["sandbox"] = crm, sandbox
        assert sandbox.wait_ready(timeout=30.0), "the warm pool did not fill"

    def run() -> ExecutionResult:
        result: ExecutionResult = current["sandbox"].run(code)
        done.append((current["crm"], result))
        return result

    try:
        walls = _timed(benchmark, run, setup)
    finally:
        if "sandbox" in current:
            current.pop("sandbox").close()
    active = set(range(1, 201))  # ExampleCRM numbers its active records first
    for crm, result in done:
        assert result.ok, result.error
        assert result.value == 200
        assert crm.tagged("reviewed") == active
        assert crm.calls == {"list_candidates": 1, "get_candidate": 0, "tag_candidate": 200}
        assert len(result.tool_calls) == 201
        assert {call.outcome for call in result.tool_calls} == {"ok"}
    timed = [result for _, result in done[-len(walls) :]]
    wall = median_of(benchmark) or statistics.median(walls)
    span = statistics.median(_log_span(result)[1] for result in timed)
    tag = statistics.median(
        call.duration for result in timed for call in result.tool_calls if call.tool == "tag_candidate"
    )
    label = "plain calls" if style == "plain" else "asyncio.gather"
    detail = f"201 calls; call log span {_ms(span)}; tag_candidate median duration {_us(tag)} (call log)"
    figure(CRM_SECTION, f"{label}: wall", wall, "s", detail=detail)
