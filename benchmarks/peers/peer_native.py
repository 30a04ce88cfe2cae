"""The ``native`` peer: ``exec`` in the benchmark's own process, with no isolation at all (the speed limit)."""

from __future__ import annotations

import functools
import io
import platform
from types import CodeType
from typing import Any

from bench_support import memory_breakdown, rss_bytes
from peers.peer_base import MemorySample, Outcome, Tools, limit_concurrency
from peers.peer_worker import compile_repl, run_repl

__all__ = ["NativePeer"]

MIB = 1 << 20


def _namespace(out: io.StringIO, tools: dict[str, Any]) -> dict[str, Any]:
    # print bound to the run's own buffer: redirect_stdout is process-wide, wrong with two threads.
    return {"__name__": "__main__", "print": functools.partial(print, file=out), **tools}


class _Runner:
    def __init__(self, tools: Tools, concurrency: int) -> None:
        self.tools, self.concurrency = tools, concurrency

    def prepare(self) -> None:
        pass

    def run(self, code: str) -> Outcome:
        out = io.StringIO()
        value = run_repl(compile_repl(code), _namespace(out, limit_concurrency(self.tools, self.concurrency)))
        return Outcome(out.getvalue(), value)

    def close(self) -> None:
        pass


class _Session:
    def __init__(self) -> None:
        self.out = io.StringIO()
        self.namespace = _namespace(self.out, {})
        self.compiled: dict[str, CodeType] = {}  # by source, as otc-runtime's guest caches it

    def run(self, code: str) -> Outcome:
        compiled = self.compiled.get(code)
        if compiled is None:
            compiled = self.compiled[code] = compile_repl(code)
        self.out.seek(0)
        self.out.truncate()
        value = run_repl(compiled, self.namespace)
        return Outcome(self.out.getvalue(), value)

    def close(self) -> None:
        self.namespace.clear()


class NativePeer:
    name = "native exec"
    isolates = "nothing"
    does_not_isolate = (
        "everything: the script runs in the host process with its memory, files, network and environment, "
        "with no time or memory limit (the speed limit, not a sandbox)"
    )

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        return f"CPython {platform.python_version()}"

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def runner(self, tools: Tools, *, concurrency: int) -> _Runner:
        return _Runner(tools, concurrency)

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
        return MemorySample(per, private, f"N={n} namespaces in this process; RSS and Private_Dirty deltas / N")
