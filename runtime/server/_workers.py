"""Serving with several worker processes (``ServerConfig.workers`` > 1): the supervisor.

``serve`` binds the socket, then the supervisor makes the state the workers
share (``ServerShare``) and the one audit file, and starts the workers
(``spawn``: nothing of this process's threads or locks is copied into them).
Each serves an app of its own on the shared socket; the kernel hands every
new connection to one of them. Then the supervisor waits:

- a worker that exits before its app has started fails the start: the others
  are stopped and ``serve`` returns False;
- a worker that dies later (killed, crashed) is replaced, and its executions
  no longer count as in flight;
- on SIGINT or SIGTERM each worker gets one SIGTERM and shuts down as a
  one-process daemon does (its executions finish, up to ``shutdown_timeout``);
  the audit file is closed after the last has exited.

Workers run in a process group of their own, so a terminal's Ctrl-C reaches
only the supervisor, which forwards it once: uvicorn takes a second signal as
"exit now, unfinished or not".
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Collection
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import httpx
import uvicorn

from host_functions import ToolSet

from ._audit import AuditFile
from ._auth import TokenVerifier
from ._config import ServerConfig
from ._errors import ConfigError
from ._shared import ServerShare

__all__ = ["announce", "serve_workers"]

log = logging.getLogger("otc.server")
announce = logging.getLogger("uvicorn.error").info
"""Where the server says it has started: uvicorn's log, beside its own start-up lines."""

_POLL = 0.5
"""Seconds between the supervisor's checks for a stop request (signals only set a flag)."""
_KILL_AFTER = 15.0
"""Seconds past ``shutdown_timeout`` a worker has to exit before it is killed."""


def serve_workers(
    config: ServerConfig,
    sock: socket.socket,
    *,
    url: str,
    tool_names: Collection[str],
    verifier: TokenVerifier | None,
    transport: httpx.AsyncBaseTransport | None,
    tools: ToolSet | None,
    log_level: str,
    access_log: bool,
) -> bool:
    """Serve on ``sock`` with ``config.workers`` processes until SIGINT or
    SIGTERM (see the module docstring); False if they could not all start.

    Raises ``ConfigError`` when the audit file cannot be opened, or
    ``verifier``, ``transport`` or ``tools`` cannot be sent to a worker
    process (they must be picklable). After a graceful
    shutdown the signal that asked for it is raised again (as uvicorn does):
    SIGINT as ``KeyboardInterrupt``, SIGTERM ends the process."""
    context = multiprocessing.get_context("spawn")
    handle, lock_file = tempfile.mkstemp(prefix="otc-serve-", suffix=".lock")
    os.close(handle)
    try:
        share = ServerShare.create(config, tool_names, context, lock_file)
        arguments = (config, sock, verifier, transport, tools, log_level, access_log)
        started, stop_signal = _supervise(context, share, config, arguments, url)
        del share, arguments
    finally:
        os.unlink(lock_file)
    # The supervisor's state is garbage now: collected here, its queue's semaphores are
    # unlinked at once rather than left to the resource tracker (with a warning).
    gc.collect()
    if stop_signal is not None:
        # As uvicorn does: the signal again, to its previous handler (SIGINT:
        # KeyboardInterrupt; SIGTERM: exit), so the exit status says why it stopped.
        signal.raise_signal(stop_signal)
    return started


def _supervise(
    context: Any, share: ServerShare, config: ServerConfig, arguments: tuple[Any, ...], url: str
) -> tuple[bool, int | None]:
    """Run the workers (``arguments``: ``_worker``'s after its index and share) serving
    ``url`` until they stop; (whether they all started, the signal that stopped them)."""
    audit = None
    if share.audit is not None and config.audit_log is not None:
        try:
            audit = AuditFile(
                config.audit_log, max_bytes=config.audit_max_bytes, backups=config.audit_backups, queue=share.audit
            )
        except OSError as exc:
            raise ConfigError(f"cannot open the audit log {config.audit_log}: {exc.strerror or exc}") from exc
    supervisor = _Supervisor(context, share, arguments, config.shutdown_timeout, url)
    try:
        return supervisor.run(), supervisor.stop_signal
    finally:
        if audit is not None:
            audit.close()


class _Supervisor:
    def __init__(
        self, context: Any, share: ServerShare, arguments: tuple[Any, ...], shutdown_timeout: float, url: str
    ) -> None:
        self._context = context
        self._url = url
        self._share = share
        self._arguments = arguments
        self._shutdown_timeout = shutdown_timeout
        self._processes: list[BaseProcess | None] = [None] * share.workers
        self.stop_signal: int | None = None
        """The signal that stopped the workers, if one did."""
        self._forced = False

    def run(self) -> bool:
        handlers = {number: signal.signal(number, self._on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            started = self._start_all()
            if started:
                pids = ", ".join(str(process.pid) for process in self._processes if process is not None)
                announce(
                    "otc serve: serving on %s from %d worker processes (pids %s; press Ctrl-C to stop)",
                    self._url,
                    len(self._processes),
                    pids,
                )
            while started and self.stop_signal is None:
                started = self._replace_dead()
                if started:
                    wait([process.sentinel for process in self._processes if process is not None], timeout=_POLL)
            self._stop_all()
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        return started

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = number
        else:
            self._forced = True  # asked twice: stop waiting for executions to finish

    def _start(self, index: int) -> None:
        process = self._context.Process(
            target=_worker,
            args=(index, self._share.worker(index), *self._arguments),
            name=f"otc-worker-{index}",
            daemon=True,  # should the supervisor itself fail, multiprocessing stops them at exit
        )
        try:
            process.start()
        except Exception as exc:  # pickling the arguments: any type's error
            self._stop_all()
            raise ConfigError(
                f"cannot start worker process {index}: its verifier, transport and tools are sent to it "
                f"and must be picklable ({type(exc).__name__}: {exc}); or use workers=1"
            ) from exc
        self._processes[index] = process

    def _start_all(self) -> bool:
        """Start every worker and wait until each has started its app: False if one exits first."""
        for index in range(self._share.workers):
            self._start(index)
        while self.stop_signal is None and not all(self._share.started):
            for index, process in enumerate(self._processes):
                if process is not None and process.exitcode is not None and not self._share.started[index]:
                    log.error("worker process %d exited (%s) before it started serving", index, process.exitcode)
                    return False
            wait([process.sentinel for process in self._processes if process is not None], timeout=0.1)
        return all(self._share.started)

    def _replace_dead(self) -> bool:
        """Replace each worker that has exited; False if one of them had not started yet."""
        for index, process in enumerate(self._processes):
            if process is None or process.exitcode is None:
                continue
            if not self._share.started[index]:
                log.error("worker process %d exited (%s) before it started serving", index, process.exitcode)
                return False
            log.error("worker process %d (pid %s) exited (%s); starting another", index, process.pid, process.exitcode)
            process.close()
            self._share.forget_worker(index)
            self._start(index)
        return True

    def _stop_all(self) -> None:
        """SIGTERM each live worker once, wait for them, and release them. One
        that outstays its shutdown by ``_KILL_AFTER`` is killed; so is every one
        left when a second signal comes."""
        live = [process for process in self._processes if process is not None and process.exitcode is None]
        for process in live:
            process.terminate()  # SIGTERM
        deadline = time.monotonic() + self._shutdown_timeout + _KILL_AFTER
        while not self._forced and time.monotonic() < deadline:
            running = [process.sentinel for process in live if process.exitcode is None]
            if not running:
                break
            wait(running, timeout=_POLL)
        for process in live:
            if process.exitcode is None:
                reason = "a second signal came" if self._forced else "it did not shut down in time"
                log.error("killing worker process pid %s: %s", process.pid, reason)
                process.kill()
                process.join()
        for index, stopped in enumerate(self._processes):
            if stopped is not None:
                stopped.close()
                self._processes[index] = None


def _worker(
    index: int,
    share: ServerShare,
    config: ServerConfig,
    sock: socket.socket,
    verifier: TokenVerifier | None,
    transport: httpx.AsyncBaseTransport | None,
    tools: ToolSet | None,
    log_level: str,
    access_log: bool,
) -> None:
    """A worker process: serve an app of its own on ``sock`` until SIGTERM."""
    os.setpgid(0, 0)  # signals come from the supervisor (see the module docstring)
    from ._app import build_app
    from ._serve import uvicorn_config

    app = build_app(config, verifier=verifier, transport=transport, tools=tools, share=share)
    server = uvicorn.Server(uvicorn_config(config, app, log_level=log_level, access_log=access_log))
    gc.freeze()  # as in ``serve``: the cyclic GC need not rescan what startup built
    server.run(sockets=[sock])
    sys.exit(0 if server.started else 3)
