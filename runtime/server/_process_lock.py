"""``ProcessLock``: a lock for the threads of several processes, freed when its holder dies."""

from __future__ import annotations

import fcntl
import os
import threading
from types import TracebackType
from typing import Any

__all__ = ["ProcessLock"]


class ProcessLock:
    """Mutual exclusion over threads of every process that has it.

    A ``multiprocessing`` lock held by a process that is killed stays held,
    and every other worker would then wait forever (on its event loop's
    thread). This one is a POSIX record lock on one byte (``offset``) of the
    file at ``path`` (``fcntl.lockf``), which the kernel releases when its
    holder dies; a thread lock orders the threads of one process, which
    record locks do not. Picklable: each process opens the file for itself.
    """

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._threads = threading.Lock()
        self._fd = -1
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "offset": self.offset}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["offset"])  # type: ignore[misc]

    def _file(self) -> int:
        if self._pid != os.getpid():  # a process of its own (spawned or forked) opens it anew
            self._fd = os.open(self.path, os.O_RDWR)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> ProcessLock:
        self._threads.acquire()
        try:
            fcntl.lockf(self._file(), fcntl.LOCK_EX, 1, self.offset)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self.offset)
        finally:
            self._threads.release()
