"""The ``otc-runtime`` peer: this project, the reference every ratio is taken against.

Fresh runs come from a ``Sandbox`` with a warm pool (``prepare`` waits until
it is full, untimed, as ``test_fresh.py`` does); tools are the functions
described with ``Tool.from_function`` (sync ones on the host's tool thread
pool, the default; async ones on its event loop); sessions come from a
``Sandbox.session()``.
"""

from __future__ import annotations

import importlib.metadata

from bench_support import memory_breakdown, rss_bytes
from peers.peer_base import MemorySample, Outcome, Tools

from host_functions import Tool, ToolSet
from runtime import ExecutionResult, Limits, Sandbox, Session

__all__ = ["OtcPeer"]

POOL_SIZE = 4
MIB = 1 << 20


def _limits(concurrency: int) -> Limits:
    return Limits(timeout=60.0, max_concurrent_tool_calls=concurrency, max_tool_calls=100_000)


def _outcome(result: ExecutionResult) -> Outcome:
    if result.error is not None:
        raise RuntimeError(f"the script failed: {result.error.type}: {result.error.message}")
    return Outcome(result.stdout, result.value)


class _Runner:
    def __init__(self, tools: Tools, concurrency: int) -> None:
        toolset = ToolSet([Tool.from_function(fn, name=name) for name, fn in tools.items()]) if tools else None
        self.sandbox = Sandbox(tools=toolset, limits=_limits(concurrency), pool_size=POOL_SIZE)

    def prepare(self) -> None:
        assert self.sandbox.wait_ready(timeout=60.0), "the warm pool did not fill"

    def run(self, code: str) -> Outcome:
        return _outcome(self.sandbox.run(code))

    def close(self) -> None:
        self.sandbox.close()


class _Session:
    def __init__(self, session: Session) -> None:
        self.session = session

    def run(self, code: str) -> Outcome:
        return _outcome(self.session.run(code))

    def close(self) -> None:
        self.session.close()


class OtcPeer:
    name = "otc-runtime"
    isolates = (
        "the script's memory, files, network, environment and the host's objects: CPython 3.14 compiled to wasm, "
        "in-process, with time, memory and output limits; granted tools are the only way out"
    )
    does_not_isolate = (
        "the process itself: a bug in wasmtime or in a host function is a bug in your process; "
        "the script's CPU time is the host's (limits stop a runaway script)"
    )

    def __init__(self) -> None:
        self.sandbox: Sandbox | None = None

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        return importlib.metadata.version("otc-runtime")

    def start(self) -> None:
        self.sandbox = Sandbox(limits=_limits(1), pool_size=1)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def runner(self, tools: Tools, *, concurrency: int) -> _Runner:
        return _Runner(tools, concurrency)

    def session(self) -> _Session:
        assert self.sandbox is not None
        return _Session(self.sandbox.session())

    def live_sandboxes(self, n: int, code: str, expected: str) -> MemorySample:
        with Sandbox(limits=_limits(1), pool_size=0) as warm, warm.session() as first:
            assert first.run(code).stdout == expected  # engine and component loaded before measuring
        before, before_detail = rss_bytes(), memory_breakdown()
        with Sandbox(limits=_limits(1), pool_size=0) as sandbox:
            sessions = [_Session(sandbox.session()) for _ in range(n)]
        try:
            for session in sessions:
                assert session.run(code).stdout == expected
            per = (rss_bytes() - before) / n / MIB
            after = memory_breakdown()
        finally:
            for session in sessions:
                session.close()
        private = (after["Private_Dirty"] - before_detail.get("Private_Dirty", 0)) / n / MIB
        pss = (after["Pss"] - before_detail.get("Pss", 0)) / n / MIB
        detail = f"N={n} sessions in this process; RSS delta / N; per sandbox Pss {pss:.2f} MiB"
        return MemorySample(per, private, detail)
