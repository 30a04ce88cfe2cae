"""The ``subprocess`` peer: each run in its own ``python -I -S`` process (``peer_worker.py``).

Process isolation: the script has its own address space, so a crash or a
memory blow-up stays out of the host. Runs take a worker started in the
untimed ``prepare`` (as otc-runtime takes a pre-instantiated interpreter
from its pool), or spawn one when none is ready (throughput). Tool calls
cross the worker's pipes as JSON lines.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import platform
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from bench_support import rss_bytes
from peers.peer_base import MemorySample, Outcome, Tools, background_loop, limit_concurrency, process_memory

__all__ = ["SubprocessPeer"]

WORKER = Path(__file__).with_name("peer_worker.py")
MIB = 1 << 20


class _Worker:
    """One worker process; ``run`` serves its tool calls until it answers."""

    def __init__(self, *, once: bool) -> None:
        command = [sys.executable, "-I", "-S", str(WORKER), *(["--once"] if once else [])]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={}, bufsize=1
        )
        self._write_lock = threading.Lock()
        self._ready = False

    def wait_ready(self) -> None:
        """Block until the worker has started (its first line)."""
        if not self._ready:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            if json.loads(line or "{}") != {"ready": True}:
                raise RuntimeError(f"the worker did not start: {line!r}")
            self._ready = True

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()

    def _reply_later(self, number: int, future: Future[Any]) -> None:
        try:
            self._send({"id": number, "ok": future.result()})
        except Exception as exc:
            self._send({"id": number, "error": f"{type(exc).__name__}: {exc}"})

    def run(self, code: str, tools: Tools) -> Outcome:
        assert self.process.stdout is not None
        self.wait_ready()
        kinds = {name: "async" if inspect.iscoroutinefunction(fn) else "sync" for name, fn in tools.items()}
        self._send({"code": code, "tools": kinds})
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the worker exited with status {self.process.wait()}")
            message = json.loads(line)
            if "call" not in message:
                if message["error"] is not None:
                    raise RuntimeError(f"the script failed: {message['error']}")
                return Outcome(message["stdout"], message["value"])
            function, number = tools[message["call"]], message["id"]
            if kinds[message["call"]] == "async":
                future = asyncio.run_coroutine_threadsafe(function(*message["args"]), background_loop())
                future.add_done_callback(functools.partial(self._reply_later, number))
            else:
                try:
                    self._send({"id": number, "ok": function(*message["args"])})
                except Exception as exc:
                    self._send({"id": number, "error": f"{type(exc).__name__}: {exc}"})

    def hang_up(self) -> None:
        """Close its stdin: a worker exits when it reads end-of-file (or after one run with ``--once``)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def close(self) -> None:
        self.hang_up()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


class _Runner:
    def __init__(self, tools: Tools, concurrency: int) -> None:
        # Async tools run on the shared background loop: one gate for all of this runner's runs.
        self.tools = limit_concurrency(tools, concurrency)
        self.ready: list[_Worker] = []
        self.finished: list[_Worker] = []
        self.lock = threading.Lock()

    def _reap(self, *, wait: bool) -> None:
        with self.lock:
            done = [w for w in self.finished if wait or w.process.poll() is not None]
            self.finished = [w for w in self.finished if w not in done]
        for worker in done:
            worker.close()

    def prepare(self) -> None:
        self._reap(wait=True)  # the exit of the last run's worker is not part of the next timed run
        with self.lock:
            if not self.ready:
                worker = _Worker(once=True)
                worker.wait_ready()
                self.ready.append(worker)

    def run(self, code: str) -> Outcome:
        with self.lock:
            worker = self.ready.pop() if self.ready else None
        if worker is None:  # nothing prepared (throughput): spawn, and reap the workers that have exited
            self._reap(wait=False)
            worker = _Worker(once=True)
        try:
            return worker.run(code, self.tools)
        finally:
            worker.hang_up()
            with self.lock:
                self.finished.append(worker)

    def close(self) -> None:
        with self.lock:
            self.finished.extend(self.ready)
            self.ready.clear()
        self._reap(wait=True)


class _Session:
    def __init__(self) -> None:
        self.worker = _Worker(once=False)

    def run(self, code: str) -> Outcome:
        return self.worker.run(code, {})

    def close(self) -> None:
        self.worker.close()


class SubprocessPeer:
    name = "subprocess"
    isolates = "memory and crashes: each run in its own `python -I -S` process with an empty environment"
    does_not_isolate = (
        "files, network and other processes (same user, same filesystem); "
        "no CPU or memory limit unless you add rlimits, seccomp or namespaces"
    )

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        return f"CPython {platform.python_version()} (python -I -S)"

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def runner(self, tools: Tools, *, concurrency: int) -> _Runner:
        return _Runner(tools, concurrency)

    def session(self) -> _Session:
        return _Session()

    def live_sandboxes(self, n: int, code: str, expected: str) -> MemorySample:
        before = rss_bytes()
        sessions = [_Session() for _ in range(n)]
        try:
            for session in sessions:
                assert session.run(code).stdout == expected
            workers = [process_memory(session.worker.process.pid) for session in sessions]
            host = max(0, rss_bytes() - before)
        finally:
            for session in sessions:
                session.close()
        rss = (sum(w["Rss"] for w in workers) + host) / n / MIB
        pss = sum(w["Pss"] for w in workers) / n / MIB
        private = sum(w["Private_Dirty"] for w in workers) / n / MIB
        detail = f"N={n} worker processes; their RSS (+ the host's growth) / N; per worker Pss {pss:.2f} MiB"
        return MemorySample(rss, private, detail)
