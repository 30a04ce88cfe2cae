"""otc-runtime against its peers, side by side: the same scripts, the same checks, ratios from the same run.

Peers (``peers/``): native ``exec`` (no isolation: the speed limit), a
CPython subprocess per run, pydantic-monty and smolagents'
``LocalPythonExecutor`` (each skipped, with the reason, when it is not
installed). Scenarios (``peers/peer_workloads.py``): a fresh run of
``print(1+1)``; a session run that keeps state; 1000 sequential tool calls;
1000 concurrent 10 ms tool calls (100 in flight); the compute suite; memory
per live sandbox; fresh runs per second with 2 threads.

Latency scenarios interleave the peer with otc-runtime round by round (the
reference in the untimed setup, the peer in the timed call), so each ratio
compares the same moments of a noisy machine; a throughput window follows
one of otc-runtime's; memory takes the ratio to otc-runtime's figure from
earlier in the same run. Figures are
medians with their interquartile spread. A peer that cannot run a scenario
is recorded as ``n/a: <reason>`` and skipped. Every run's output is checked;
timings are never asserted.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from bench_support import NOTES, Record, quartiles, quick
from peers import peer_workloads as w
from peers.peer_base import NotSupported, Outcome, Peer, PeerSession, Runner
from peers.peer_harness import Peers, expect_stdout, expect_value, interleaved, throughput
from peers.peer_monty import MontyPeer
from peers.peer_native import NativePeer
from peers.peer_otc import OtcPeer
from peers.peer_smolagents import SmolagentsPeer
from peers.peer_subprocess import SubprocessPeer
from pytest_benchmark.fixture import BenchmarkFixture

REFERENCE = "otc-runtime"
PEERS: list[Peer] = [OtcPeer(), NativePeer(), SubprocessPeer(), MontyPeer(), SmolagentsPeer()]
NAMES = [peer.name for peer in PEERS]  # the reference first: memory ratios need its figure
IDS = {"otc-runtime": "otc", "native exec": "native", "pydantic-monty": "monty"}
"""Short test ids (the others are the peer's name)."""
QUICK = quick()

SECTIONS = {
    "fresh": "peers: fresh isolated run of `print(1+1)`",
    "session": "peers: session run, state kept (`x = x + 1`)",
    "tools-sequential": f"peers: {w.N_CALLS} sequential tool calls in one fresh run",
    "tools-concurrent": f"peers: {w.N_CALLS} concurrent 10 ms tool calls, {w.CONCURRENCY} in flight (floor 100 ms)",
    "compute": "peers: compute suite, session runs",
    "memory": "peers: memory per live sandbox after one run (RSS, and of it private: Private_Dirty)",
    "throughput": "peers: fresh `print(1+1)` runs per second, 2 threads",
}
_REFERENCE_VALUES: dict[str, float] = {}


@pytest.fixture(scope="module")
def peers(request: pytest.FixtureRequest) -> Iterator[Peers]:
    about = [
        {
            "name": p.name,
            "version": p.version() if p.available() is None else "",
            "available": p.available() or "yes",
            "isolates": p.isolates,
            "does_not_isolate": p.does_not_isolate,
        }
        for p in PEERS
    ]
    request.config.stash[NOTES]["peers"] = about
    started = Peers(PEERS)
    yield started
    started.close()


def _peer(peers: Peers, figure: Record, scenario: str, name: str, unit: str, label: str = "") -> Peer:
    got = peers.get(name)
    if isinstance(got, str):
        _not_available(figure, scenario, name, unit, got, label)
    return got


def _not_available(figure: Record, scenario: str, name: str, unit: str, reason: str, label: str = "") -> NoReturn:
    section = SECTIONS[scenario.partition(":")[0]]
    figure(section, label or name, math.nan, unit, status=f"n/a: {reason}", peer=name, scenario=scenario)
    pytest.skip(f"{name}, {scenario}: {reason}")


def _rounds(benchmark: BenchmarkFixture, full: int, fast: int) -> int:
    return 1 if benchmark.disabled else (fast if QUICK else full)


def _record(
    figure: Record, scenario: str, name: str, times: list[float], reference: list[float], label: str = "", **extra: Any
) -> None:
    median = statistics.median(times)
    ratio = 1.0 if name == REFERENCE else (median / statistics.median(reference) if reference else None)
    section = SECTIONS[scenario.partition(":")[0]]
    figure(
        section,
        label or name,
        median,
        "s",
        spread=quartiles(times),
        ratio=ratio,
        peer=name,
        scenario=scenario,
        rounds=len(times),
        **extra,
    )


def _runner_pair(peers: Peers, peer: Peer, tools: dict[str, Callable[..., Any]]) -> tuple[Runner, Runner | None]:
    runner = peer.runner(tools, concurrency=w.CONCURRENCY)
    if peer.name == REFERENCE:
        return runner, None
    reference = peers.get(REFERENCE)
    assert not isinstance(reference, str)
    return runner, reference.runner(tools, concurrency=w.CONCURRENCY)


TOOL_SCENARIOS: dict[str, tuple[dict[str, Callable[..., Any]], str, Any, tuple[int, int]]] = {
    "tools-sequential": ({"echo": w.echo}, w.SEQUENTIAL, w.N_CALLS * (w.N_CALLS - 1) // 2, (7, 2)),
    "tools-concurrent": ({"sleepy": w.sleepy}, w.CONCURRENT, True, (5, 2)),
}


@pytest.mark.parametrize("scenario", ["fresh", *TOOL_SCENARIOS], ids=str)
@pytest.mark.parametrize("name", NAMES, ids=lambda name: IDS.get(name, name))
def test_peer_fresh_runs(benchmark: BenchmarkFixture, figure: Record, peers: Peers, name: str, scenario: str) -> None:
    """A fresh isolated run (``print(1+1)``; with 1000 sequential or concurrent tool calls), per run."""
    peer = _peer(peers, figure, scenario, name, "s")
    tools, code, value, (full, fast) = TOOL_SCENARIOS.get(scenario, ({}, w.FRESH, None, (200, 10)))
    check = expect_stdout("2\n") if scenario == "fresh" else expect_value(value)
    try:
        runner, ref = _runner_pair(peers, peer, tools)
    except NotSupported as exc:
        _not_available(figure, scenario, name, "s", exc.reason)
    try:
        reference = (lambda: ref.run(code), check, ref.prepare) if ref is not None else None
        rounds = _rounds(benchmark, full, fast)
        times, ref_times = interleaved(
            benchmark, rounds, lambda: runner.run(code), check, reference, runner.prepare, warm_up=not QUICK
        )
    finally:
        runner.close()
        if ref is not None:
            ref.close()
    detail = f"{statistics.median(times) / w.N_CALLS * 1e6:.1f} us per call" if scenario != "fresh" else ""
    _record(figure, scenario, name, times, ref_times, detail=detail)


def _counting_session(session: PeerSession) -> tuple[Callable[[], Outcome], Callable[[Outcome], None]]:
    """(run, check) for ``SESSION``: each run's value is one more than the last one's."""
    session.run(w.SESSION_SETUP)  # its value differs: smolagents returns the assigned value
    count = [0]

    def check(outcome: Outcome) -> None:
        count[0] += 1
        assert outcome.value == count[0], (outcome, count[0])

    return lambda: session.run(w.SESSION), check


@pytest.mark.parametrize("name", NAMES, ids=lambda name: IDS.get(name, name))
def test_peer_session(benchmark: BenchmarkFixture, figure: Record, peers: Peers, name: str) -> None:
    """A run in a session that keeps state between runs (same source each time: compile caches may apply)."""
    peer = _peer(peers, figure, "session", name, "s")
    session = peer.session()
    ref_session = None if name == REFERENCE else _peer(peers, figure, "session", REFERENCE, "s").session()
    try:
        run, check = _counting_session(session)
        reference = (*_counting_session(ref_session), lambda: None) if ref_session is not None else None
        times, ref_times = interleaved(benchmark, _rounds(benchmark, 500, 50), run, check, reference, warm_up=not QUICK)
    finally:
        session.close()
        if ref_session is not None:
            ref_session.close()
    _record(figure, "session", name, times, ref_times)


@pytest.fixture(scope="module")
def native_outputs() -> dict[str, str]:
    """What each compute workload prints, from a native run: every peer must print the same."""
    native = NativePeer().session()
    return {workload: native.run(code).stdout for workload, code in w.COMPUTE.items()}


@pytest.mark.parametrize("workload", list(w.COMPUTE), ids=str)
@pytest.mark.parametrize("name", NAMES, ids=lambda name: IDS.get(name, name))
def test_peer_compute(
    benchmark: BenchmarkFixture,
    figure: Record,
    peers: Peers,
    native_outputs: dict[str, str],
    name: str,
    workload: str,
) -> None:
    """One compute workload in a session (instantiation excluded), against otc-runtime in the same rounds."""
    scenario, label = f"compute:{workload}", f"{workload}: {name}"
    peer = _peer(peers, figure, scenario, name, "s", label)
    code, check = w.COMPUTE[workload], expect_stdout(native_outputs[workload])
    session = peer.session()
    ref_session = None if name == REFERENCE else _peer(peers, figure, scenario, REFERENCE, "s").session()
    try:
        rounds = 1 if benchmark.disabled else 2
        if not benchmark.disabled and not QUICK:
            start = time.perf_counter()
            check(session.run(code))  # sizes the rounds: a slow peer gets fewer
            rounds = max(2, min(7, int(5.0 / max(time.perf_counter() - start, 1e-3))))
        reference = (lambda: ref_session.run(code), check, lambda: None) if ref_session is not None else None
        run = functools.partial(session.run, code)
        times, ref_times = interleaved(benchmark, rounds, run, check, reference, warm_up=not QUICK)
    finally:
        session.close()
        if ref_session is not None:
            ref_session.close()
    _record(figure, scenario, name, times, ref_times, label)


@pytest.mark.parametrize("name", NAMES, ids=lambda name: IDS.get(name, name))
def test_peer_memory(benchmark: BenchmarkFixture, figure: Record, peers: Peers, name: str) -> None:
    """RSS per live sandbox (a session that ran one small script); a worker process's RSS for out-of-process peers."""
    peer = _peer(peers, figure, "memory", name, "MiB")
    n = 3 if benchmark.disabled else (8 if QUICK else 20)
    samples = []
    benchmark.pedantic(lambda: samples.append(peer.live_sandboxes(n, w.MEMORY, w.MEMORY_OUTPUT)), rounds=1)
    sample = samples[-1]
    for scenario, value, what in (("memory", sample.rss_mib, "RSS"), ("memory-private", sample.private_mib, "private")):
        if name == REFERENCE:
            _REFERENCE_VALUES[scenario] = value
        ratio = value / _REFERENCE_VALUES[scenario] if _REFERENCE_VALUES.get(scenario) else None
        figure(
            SECTIONS["memory"],
            f"{name}: {what}",
            value,
            "MiB",
            ratio=ratio,
            peer=name,
            scenario=scenario,
            detail=sample.detail if scenario == "memory" else "Private_Dirty per sandbox (a worker's own)",
        )


@pytest.mark.parametrize("name", NAMES, ids=lambda name: IDS.get(name, name))
def test_peerthroughput(benchmark: BenchmarkFixture, figure: Record, peers: Peers, name: str) -> None:
    """Fresh runs per second, 2 threads sharing one runner (a pool, where the peer has one) for a few seconds.

    For another peer, otc-runtime's window runs right before (untimed by pytest-benchmark): the ratio
    compares two consecutive windows, not windows minutes apart.
    """
    peer = _peer(peers, figure, "throughput", name, "runs/s")
    seconds = 0.3 if benchmark.disabled else (0.5 if QUICK else 3.0)
    reference = None if name == REFERENCE else _peer(peers, figure, "throughput", REFERENCE, "runs/s")
    results: list[tuple[float, list[int]]] = []
    reference_rates: list[tuple[float, list[int]]] = []

    def window(measured: Peer, into: list[Any]) -> None:
        runner = measured.runner({}, concurrency=1)
        try:
            into.append(throughput(runner, seconds))
        finally:
            runner.close()

    setup = (lambda: window(reference, reference_rates)) if reference is not None else None
    benchmark.pedantic(lambda: window(peer, results), setup=setup, rounds=1)
    rate, counts = results[-1]
    ratio = rate / reference_rates[-1][0] if reference_rates else (1.0 if name == REFERENCE else None)
    detail = f"{seconds:g} s, runs per thread {counts}"
    if reference_rates:
        detail += f"; otc-runtime {reference_rates[-1][0]:.0f} runs/s in the window before"
    figure(SECTIONS["throughput"], name, rate, "runs/s", ratio=ratio, peer=name, scenario="throughput", detail=detail)
