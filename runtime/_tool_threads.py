"""The threads sync tools run on: a bounded pool that writes off hung calls.

A sync tool cannot be stopped: when its call passes ``Limits.tool_timeout``
the run gives up on it, but its thread stays busy for as long as the tool
hangs, maybe forever. In a plain ``ThreadPoolExecutor`` such threads keep
their slots, and enough of them make every later sync call in the process
time out. Here the dispatcher writes off a call it gave up on (``write_off``):
its thread no longer counts against the pool's ``size``, and a new thread
serves new calls.

Written-off threads are bounded (``max_written_off``). With that budget spent
and no worker free, ``submit`` refuses a call at once (the dispatcher fails it
with a clear message) instead of queueing it to time out in its turn. A
written-off thread whose tool finally returns is reclaimed: it serves again if
the pool is short of workers, else it ends. When no call is given up on, this
is a plain pool that grows on demand to ``size`` threads and keeps them.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ToolJob", "ToolThreads"]

log = logging.getLogger("otc.tools")

_QUEUED, _RUNNING, _DONE, _DROPPED = range(4)


class ToolJob:
    """One submitted call."""

    __slots__ = ("_pool", "args", "fn", "state", "written_off")

    def __init__(self, pool: ToolThreads, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._pool = pool
        self.fn = fn
        self.args = args
        self.state = _QUEUED
        self.written_off = False

    def write_off(self) -> None:
        """Give up on this call (see ``ToolThreads.write_off``)."""
        self._pool.write_off(self)


class ToolThreads:
    """A pool of at most ``size`` working threads, plus at most
    ``max_written_off`` threads still running calls that were given up on."""

    def __init__(self, size: int, *, max_written_off: int, name: str) -> None:
        self.size = size
        self.max_written_off = max_written_off
        self._name = name
        self._numbers = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self._jobs: collections.deque[ToolJob] = collections.deque()  # dropped ones are skipped
        self._queued = 0  # jobs in _jobs not dropped
        self._workers = 0  # threads counted against size: idle, or running a call not written off
        self._idle = 0  # workers waiting for a job
        self.written_off = 0
        """Threads running a call that was given up on (at most ``max_written_off``)."""

    def submit(self, fn: Callable[..., object], *args: Any) -> ToolJob | None:
        """Queue ``fn(*args)`` for a thread. None, and nothing queued, when it would
        wait although the written-off budget is spent: the pool's threads are
        held by hung calls."""
        with self._cond:
            must_wait = self._queued >= self._idle
            if must_wait and self._workers >= self.size and self.written_off >= self.max_written_off:
                return None
            job = ToolJob(self, fn, args)
            self._jobs.append(job)
            self._queued += 1
            if must_wait and self._workers < self.size:
                self._start_worker()
            else:
                self._cond.notify()
            return job

    def write_off(self, job: ToolJob) -> None:
        """Give up on ``job``: dropped if no thread has started it (it never
        runs), else, while the budget lasts, its thread stops counting against
        ``size`` and a job left waiting gets a new thread."""
        with self._cond:
            if job.state == _QUEUED:
                job.state = _DROPPED
                self._queued -= 1
            elif job.state == _RUNNING and not job.written_off and self.written_off < self.max_written_off:
                job.written_off = True
                self.written_off += 1
                self._workers -= 1
                if self._queued > self._idle:
                    self._start_worker()

    def _start_worker(self) -> None:
        """Add a worker (under the lock)."""
        self._workers += 1
        name = f"{self._name}_{next(self._numbers)}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        cond = self._cond
        with cond:
            while True:
                while not self._jobs:
                    self._idle += 1
                    cond.wait()
                    self._idle -= 1
                job = self._jobs.popleft()
                if job.state == _DROPPED:
                    continue
                self._queued -= 1
                job.state = _RUNNING
                cond.release()
                try:
                    job.fn(*job.args)
                except BaseException:  # a job must not end its thread
                    log.exception("a sync tool job failed")
                finally:
                    cond.acquire()
                job.state = _DONE
                if job.written_off:
                    self.written_off -= 1
                    if self._workers >= self.size:
                        return  # replaced meanwhile: this thread is not needed
                    self._workers += 1  # reclaimed
