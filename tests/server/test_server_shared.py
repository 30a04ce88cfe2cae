"""The state a daemon's worker processes share, used from several processes at once."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runtime import ExecutionResult, TimeoutExceeded
from runtime.server import RateLimit, ServerConfig
from runtime.server._metrics import Layout, Metrics
from runtime.server._process_lock import ProcessLock
from runtime.server._rate_limit import BucketTable, RateLimiter
from runtime.server._shared import ServerShare

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def lock_file(tmp_path: Path) -> str:
    path = tmp_path / "otc.lock"
    path.touch()
    return str(path)


def _take_tokens(table: BucketTable, tries: int, granted: Any, index: int) -> None:
    limiter = RateLimiter(RateLimit(per_second=1e-9, burst=150), table=table)
    granted[index] = sum(limiter.acquire("alice") == 0.0 for _ in range(tries))


def _take_slots(share: ServerShare, tries: int, granted: Any, index: int) -> None:
    slots = share.worker(index).slots(ceiling=7)
    granted[index] = sum(slots.take() for _ in range(tries))


def _metrics(share: ServerShare, row: int) -> Metrics:
    """A worker's metrics over ``share``'s counts."""
    return Metrics(
        tool_names=["echo"],
        max_concurrent=1,
        pool_size=1,
        in_flight=lambda: 0,
        pool_ready=lambda: 0,
        counts=share.counts,
        row=row,
        rows=share.workers,
    )


def _count(share: ServerShare, index: int) -> None:
    metrics = _metrics(share, index)
    for _ in range(10 + index):
        metrics.execution(ExecutionResult(stdout="", stderr="", value=None, value_kind="none", error=None), 0.002)
    metrics.rejection("busy")


def _run_all(target: Any, share_or_table: Any, *args: Any, processes: int = 2) -> list[int]:
    granted = SPAWN.RawArray("q", processes)
    workers = [SPAWN.Process(target=target, args=(share_or_table, *args, granted, i)) for i in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    return list(granted)


def test_token_buckets_are_shared_by_processes(lock_file: str) -> None:
    table = BucketTable.allocate(max_keys=100, context=SPAWN, lock=ProcessLock(lock_file))
    granted = _run_all(_take_tokens, table, 100)

    assert sum(granted) == 150  # the burst, once, over both processes (200 if each had its own)


def test_concurrency_slots_are_shared_by_processes(lock_file: str) -> None:
    config = ServerConfig(port=0, workers=2, execution_rate=None, tool_call_rate=None)
    share = ServerShare.create(config, [], SPAWN, lock_file)
    granted = _run_all(_take_slots, share, 5)

    assert sum(granted) == 7
    assert share.slots(ceiling=7).total == 7
    share.forget_worker(1)  # a dead worker's executions no longer count
    assert share.slots(ceiling=7).total == granted[0]


def test_metrics_add_up_the_workers_rows(lock_file: str) -> None:
    config = ServerConfig(port=0, workers=3)
    share = ServerShare.create(config, ["echo"], SPAWN, lock_file)
    for index in range(3):
        process = SPAWN.Process(target=_count, args=(share.worker(index), index))
        process.start()
        process.join(60)
        assert process.exitcode == 0
    text = _metrics(share, 0).render()

    assert 'otc_executions_total{outcome="ok"} 33\n' in text
    assert 'otc_execution_rejections_total{reason="busy"} 3\n' in text
    assert "otc_execution_duration_seconds_count 33\n" in text
    assert 'otc_execution_duration_seconds_bucket{le="0.0025"} 33\n' in text


def test_metrics_count_every_series_in_its_own_place() -> None:
    metrics = Metrics(tool_names=["echo"], max_concurrent=1, pool_size=1, in_flight=lambda: 0, pool_ready=lambda: 0)
    timeout = TimeoutExceeded("run timed out", value=1.0)
    metrics.execution(ExecutionResult(stdout="", stderr="", value=None, value_kind="none", error=timeout), 1.5)
    for reason in ("unauthorized", "invalid", "busy", "rate_limited"):
        metrics.rejection(reason)
    metrics.tool_call_rate_limited()
    text = metrics.render()

    assert 'otc_executions_total{outcome="TimeoutExceeded"} 1\n' in text
    assert 'otc_limit_breaches_total{limit="timeout"} 1\n' in text
    assert 'otc_execution_duration_seconds_bucket{le="2.5"} 1\n' in text
    assert 'otc_execution_duration_seconds_bucket{le="1"} 0\n' in text
    assert "otc_tool_calls_rate_limited_total 1\n" in text
    assert all(f'{{reason="{reason}"}} 1\n' in text for reason in ("unauthorized", "invalid", "busy", "rate_limited"))
    assert len(set(Layout(["echo"]).index.values())) == Layout(["echo"]).width


def test_metrics_refuse_counts_of_another_shape() -> None:
    with pytest.raises(ValueError, match="not 2 rows"):
        Metrics(
            tool_names=["echo"],
            max_concurrent=1,
            pool_size=1,
            in_flight=lambda: 0,
            pool_ready=lambda: 0,
            counts=(ctypes.c_double * 5)(),
            rows=2,
        )


def test_a_full_table_prunes_idle_buckets_and_admits_past_twice_its_size() -> None:
    now = [100.0]
    limiter = RateLimiter(RateLimit(per_second=1, burst=1), clock=lambda: now[0], max_keys=8)
    for i in range(16):  # all active: nothing to prune, the table holds twice max_keys
        assert limiter.acquire(f"k{i}") == 0.0
    assert len(limiter) == 16
    assert limiter.acquire("one-more") == 0.0  # no room: admitted with a full bucket, not kept
    assert limiter.acquire("one-more") == 0.0
    assert len(limiter) == 16
    assert limiter.acquire("k3") > 0  # the kept ones still count
    now[0] += 5  # all refilled
    assert limiter.acquire("new") == 0.0
    assert len(limiter) == 1


def test_a_private_share_is_not_sent_to_processes() -> None:
    share = ServerShare.create(ServerConfig(port=0), [])
    assert share.workers == 1
    with pytest.raises((TypeError, pickle.PicklingError)):
        pickle.dumps(share)  # a thread lock: private to this process


def _add_slowly(lock: ProcessLock, total: Any, times: int, index: int) -> None:
    for _ in range(times):
        with lock:
            seen = total[0]
            time.sleep(0.0005)  # a read-modify-write that would lose updates without the lock
            total[0] = seen + 1


def _hold_forever(lock: ProcessLock, held: Any) -> None:
    with lock:
        held.value = 1
        time.sleep(3600)


def test_a_process_lock_excludes_processes_and_threads(lock_file: str) -> None:
    lock = ProcessLock(lock_file)
    total = SPAWN.RawArray("q", 1)
    others = [SPAWN.Process(target=_add_slowly, args=(lock, total, 40, i)) for i in range(2)]
    for other in others:
        other.start()
    threads = [threading.Thread(target=_add_slowly, args=(lock, total, 40, 0)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.join(60)
        assert other.exitcode == 0

    assert total[0] == 160


def test_a_process_lock_is_freed_when_its_holder_is_killed(lock_file: str) -> None:
    lock = ProcessLock(lock_file)
    held = SPAWN.RawValue("b", 0)
    holder = SPAWN.Process(target=_hold_forever, args=(lock, held))
    holder.start()
    deadline = time.monotonic() + 30
    while not held.value:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)  # inside its critical section
    holder.join(30)

    def take() -> None:
        with lock:
            pass

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    taker.join(10)
    assert not taker.is_alive()  # a multiprocessing.Lock would wait here for good
