"""What the worker processes of one daemon share (``ServerConfig.workers``).

Each worker has its own interpreter, GIL, sandbox and warm pool; what must
hold for the server as a whole lives in memory they share, made by the
supervisor before it starts them and handed to each (``ServerShare``):

- the concurrency ceiling (``Slots``): executions in flight, one count per
  worker, admitted under one lock, so the ceiling is the server's;
- the callers' token buckets (``BucketTable``), for executions and tool calls;
- the metrics' counts, one row per worker (``Metrics`` adds them up), and each
  worker's ready interpreters;
- the queue of audit lines, written to the one audit file by the supervisor.

The ceiling and the buckets are guarded by ``ProcessLock``s, which the
kernel frees when their holder dies: a worker killed mid-update cannot leave
the others waiting. A daemon of one process uses the same classes over private memory
(``ServerShare.create`` without a context), so there is one code path.
"""

from __future__ import annotations

import ctypes
import dataclasses
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ._config import ServerConfig
from ._metrics import Layout
from ._process_lock import ProcessLock
from ._rate_limit import BucketTable

__all__ = ["ServerShare", "Slots"]


class Slots:
    """The concurrency ceiling over every worker: admitted, unfinished executions
    counted per worker in ``counts`` (shared), this worker's at ``index``."""

    def __init__(self, counts: Any, lock: Any, index: int, ceiling: int) -> None:
        self._counts = counts
        self._lock = lock
        self._index = index
        self.ceiling = ceiling

    def take(self) -> bool:
        """Take a slot for this worker; False when the server has ``ceiling`` in flight."""
        with self._lock:
            if sum(self._counts) >= self.ceiling:
                return False
            self._counts[self._index] += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._counts[self._index] -= 1

    @property
    def mine(self) -> int:
        """This worker's executions in flight."""
        return int(self._counts[self._index])

    @property
    def total(self) -> int:
        """The server's executions in flight."""
        return int(sum(self._counts))


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerShare:
    """One daemon's shared state, as seen by worker ``index`` of ``workers``.

    Picklable to a worker process while it is being started (``multiprocessing``
    passes shared memory, locks and queues that way); ``worker`` gives each its view.
    """

    workers: int
    index: int
    lock: Any
    """Guards ``in_flight`` (admission)."""
    in_flight: Any
    """Executions admitted and not finished, per worker."""
    pool_ready: Any
    """Interpreters ready in each worker's warm pool, as each last wrote it."""
    counts: Any
    """The metrics: one row of ``Layout(tool_names).width`` counts per worker."""
    execution_buckets: BucketTable | None
    tool_buckets: BucketTable | None
    started: Any
    """Set by each worker once its app has started (its sandbox is ready)."""
    restarts: Any
    """[worker processes that died and were replaced]."""
    audit: Any
    """A ``multiprocessing`` queue of audit records for the supervisor's writer;
    None in a one-process daemon (it writes its audit file itself) or without an audit log."""

    @classmethod
    def create(
        cls, config: ServerConfig, tool_names: Collection[str], context: Any = None, lock_file: str = ""
    ) -> ServerShare:
        """The state of a daemon with ``config.workers`` workers serving ``tool_names``:
        in shared memory from the ``multiprocessing`` ``context``, its locks on
        ``lock_file`` (``ProcessLock``), else private (one worker)."""
        width = Layout(tool_names).width
        if context is not None and not lock_file:
            raise ValueError("a shared state needs a lock file")
        buckets = [
            BucketTable.allocate(context=context, lock=ProcessLock(lock_file, 1 + i) if context else None)
            if rate is not None
            else None
            for i, rate in enumerate((config.execution_rate, config.tool_call_rate))
        ]
        if context is None:
            return cls(
                workers=1,
                index=0,
                lock=threading.Lock(),
                in_flight=(ctypes.c_int64 * 1)(),
                pool_ready=(ctypes.c_int64 * 1)(),
                counts=(ctypes.c_double * width)(),
                execution_buckets=buckets[0],
                tool_buckets=buckets[1],
                started=(ctypes.c_int8 * 1)(),
                restarts=(ctypes.c_int64 * 1)(),
                audit=None,
            )
        workers = config.workers
        return cls(
            workers=workers,
            index=0,
            lock=ProcessLock(lock_file),
            in_flight=context.RawArray("q", workers),
            pool_ready=context.RawArray("q", workers),
            counts=context.RawArray("d", workers * width),
            execution_buckets=buckets[0],
            tool_buckets=buckets[1],
            started=context.RawArray("b", workers),
            restarts=context.RawArray("q", 1),
            audit=context.Queue() if config.audit_log is not None else None,
        )

    def worker(self, index: int) -> ServerShare:
        """Worker ``index``'s view."""
        if not 0 <= index < self.workers:
            raise ValueError(f"worker {index} of {self.workers}")
        return dataclasses.replace(self, index=index)

    def slots(self, ceiling: int) -> Slots:
        return Slots(self.in_flight, self.lock, self.index, ceiling)

    def forget_worker(self, index: int) -> None:
        """A worker process died (and is replaced): its executions are no longer
        in flight, its pool is gone. Its metrics' row stays: counted work happened."""
        with self.lock:
            self.in_flight[index] = 0
            self.pool_ready[index] = 0
            self.started[index] = 0
            self.restarts[0] += 1
