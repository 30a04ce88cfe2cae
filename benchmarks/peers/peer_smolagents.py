"""The ``smolagents`` peer (optional: ``pip install smolagents``): its ``LocalPythonExecutor``.

An AST-walking evaluator running in the host process: imports outside an
allow-list and dunder access are refused, operations are counted, and a
timeout runs the evaluation on a helper thread. Its own docstring says it
"is not a security sandbox". A fresh run is a new executor; a session is one
executor reused (its state dict persists). Tools are plain callables given
with ``send_tools``; what it prints comes back as ``logs``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

from bench_support import memory_breakdown, rss_bytes
from peers.peer_base import MemorySample, NotSupported, Outcome, Tools

__all__ = ["SmolagentsPeer"]

IMPORTS = ["json", "re"]
"""Added to its default allow-list (collections, datetime, itertools, math, random, re, statistics, time, ...)."""
MIB = 1 << 20


def _executor(tools: Tools) -> Any:
    from smolagents.local_python_executor import LocalPythonExecutor

    executor = LocalPythonExecutor(additional_authorized_imports=IMPORTS)
    executor.send_tools(dict(tools))
    return executor


def _run(executor: Any, code: str) -> Outcome:
    output = executor(code)
    return Outcome(output.logs, output.output)


class _Runner:
    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    def prepare(self) -> None:
        pass

    def run(self, code: str) -> Outcome:
        return _run(_executor(self.tools), code)

    def close(self) -> None:
        pass


class _Session:
    def __init__(self) -> None:
        self.executor = _executor({})

    def run(self, code: str) -> Outcome:
        return _run(self.executor, code)

    def close(self) -> None:
        self.executor = None


class SmolagentsPeer:
    name = "smolagents"
    isolates = "imports outside an allow-list, dunder attributes and runaway loops (an operation count)"
    does_not_isolate = (
        "the host process: an AST interpreter over your process's objects and memory; "
        "by its own documentation not a security sandbox"
    )

    def available(self) -> str | None:
        try:
            from smolagents.local_python_executor import LocalPythonExecutor  # noqa: F401
        except ImportError as exc:
            return f"not installed ({exc}); pip install smolagents"
        return None

    def version(self) -> str:
        try:
            return importlib.metadata.version("smolagents")
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def runner(self, tools: Tools, *, concurrency: int) -> _Runner:
        if any(inspect.iscoroutinefunction(fn) for fn in tools.values()):
            try:  # ask the executor itself rather than assume
                _executor({})("async def probe():\n    return 1\n")
            except Exception as exc:
                raise NotSupported(f"no async tools: LocalPythonExecutor says {str(exc).split(': ')[-1]!r}") from None
        return _Runner(tools)

    def session(self) -> _Session:
        return _Session()

    def live_sandboxes(self, n: int, code: str, expected: str) -> MemorySample:
        before, private_before = rss_bytes(), memory_breakdown()["Private_Dirty"]
        sessions = [_Session() for _ in range(n)]
        for session in sessions:
            assert session.run(code).stdout == expected
        per = (rss_bytes() - before) / n / MIB
        private = (memory_breakdown()["Private_Dirty"] - private_before) / n / MIB
        for session in sessions:
            session.close()
        return MemorySample(per, private, f"N={n} executors in this process; RSS and Private_Dirty deltas / N")
