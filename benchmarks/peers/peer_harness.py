"""How ``test_peers.py`` measures: peers started on demand, interleaved rounds, throughput windows, checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from peers.peer_base import Outcome, Peer, Runner
from peers.peer_workloads import FRESH
from pytest_benchmark.fixture import BenchmarkFixture

__all__ = ["Peers", "expect_stdout", "expect_value", "interleaved", "throughput"]

Reference = tuple[Callable[[], Outcome], Callable[[Outcome], None], Callable[[], None]]
"""(run, check, prepare) of otc-runtime, measured in the same rounds as a peer."""


class Peers:
    """Peers started on first use and closed at the end of the module."""

    def __init__(self, peers: Sequence[Peer]) -> None:
        self.peers = list(peers)
        self.started: dict[str, Peer] = {}

    def get(self, name: str) -> Peer | str:
        """The started peer, or why it is not available."""
        peer = next(p for p in self.peers if p.name == name)
        reason = peer.available()
        if reason is None and name not in self.started:
            peer.start()
            self.started[name] = peer
        return reason or peer

    def close(self) -> None:
        for peer in self.started.values():
            peer.close()


def interleaved(
    benchmark: BenchmarkFixture,
    rounds: int,
    run: Callable[[], Outcome],
    check: Callable[[Outcome], None],
    reference: Reference | None,
    prepare: Callable[[], None] = lambda: None,
    *,
    warm_up: bool = True,
) -> tuple[list[float], list[float]]:
    """(peer times, reference times): ``rounds`` rounds, each the reference (untimed setup) then the peer."""
    times: list[float] = []
    reference_times: list[float] = []

    def setup() -> None:
        prepare()  # first: what the peer's last run left behind (an exiting worker) settles before the reference
        if reference is not None:
            ref_run, ref_check, ref_prepare = reference
            ref_prepare()
            start = time.perf_counter()
            ref_check(ref_run())
            reference_times.append(time.perf_counter() - start)
            ref_prepare()  # its pool's refill must not run on the other core during the peer's timed run
        prepare()

    def timed() -> None:
        start = time.perf_counter()
        outcome = run()
        times.append(time.perf_counter() - start)
        check(outcome)  # every run's result, after the clock stopped

    if warm_up and not benchmark.disabled:  # one untimed warm-up round of each side
        setup()
        timed()
        times.clear()
        reference_times.clear()
    benchmark.pedantic(timed, setup=setup, rounds=rounds)
    return times, reference_times


def expect_stdout(expected: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.stdout == expected, outcome

    return check


def expect_value(expected: object) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.value == expected, outcome

    return check


def throughput(runner: Runner, seconds: float, workers: int = 2) -> tuple[float, list[int]]:
    check = expect_stdout("2\n")
    runner.prepare()
    check(runner.run(FRESH))  # warm-up
    runner.prepare()
    counts = [0] * workers
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def work(slot: int) -> None:
        try:
            while time.monotonic() < deadline:
                check(runner.run(FRESH))
                counts[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return sum(counts) / (time.monotonic() - start), counts
