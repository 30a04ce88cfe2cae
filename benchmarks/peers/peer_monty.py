"""The ``pydantic-monty`` peer (optional: ``pip install pydantic-monty``).

Monty is a Python-subset interpreter written in Rust that runs in a pool of
worker subprocesses (``Monty()``); ``pool.checkout()`` is a fresh REPL
session on a pooled worker, ``session.feed_run(code, external_lookup=...)``
runs code and serves its calls of host functions (each an IPC round trip).
Async host functions need ``AsyncMonty``, which this adapter drives on a
background event loop.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
from typing import TYPE_CHECKING, Any

from bench_support import rss_bytes
from peers.peer_base import MemorySample, Outcome, Tools, background_loop, limit_concurrency, process_memory

if TYPE_CHECKING:
    from pydantic_monty import ResourceLimits

__all__ = ["MontyPeer"]

LIMITS: ResourceLimits = {"max_suspensions": 1_000_000}
"""Its default (1000 host calls, futures included, per checkout) is too few for 1000 tool calls."""
MIB = 1 << 20


class _Runner:
    def __init__(self, pool: Any, tools: Tools) -> None:
        self.pool, self.tools = pool, dict(tools)

    def prepare(self) -> None:
        pass

    def run(self, code: str) -> Outcome:
        import pydantic_monty

        out = pydantic_monty.CollectString()
        with self.pool.checkout(limits=LIMITS) as session:
            value = session.feed_run(code, external_lookup=self.tools or None, print_callback=out)
        return Outcome(out.output, value)

    def close(self) -> None:
        pass


class _AsyncRunner:
    """Runs on the shared background loop, where the async tools run too."""

    def __init__(self, tools: Tools, concurrency: int) -> None:
        import pydantic_monty

        self.loop = background_loop()
        self.tools = limit_concurrency(tools, concurrency)
        self.pool = pydantic_monty.AsyncMonty()

        async def enter() -> None:  # its __aenter__ needs the running loop when it is called
            await self.pool.__aenter__()

        asyncio.run_coroutine_threadsafe(enter(), self.loop).result()

    def prepare(self) -> None:
        pass

    async def _run(self, code: str) -> Outcome:
        import pydantic_monty

        out = pydantic_monty.CollectString()
        async with self.pool.checkout(limits=LIMITS) as session:
            value = await session.feed_run(code, external_lookup=self.tools, print_callback=out)
        return Outcome(out.output, value)

    def run(self, code: str) -> Outcome:
        return asyncio.run_coroutine_threadsafe(self._run(code), self.loop).result()

    def close(self) -> None:
        async def leave() -> None:
            await self.pool.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(leave(), self.loop).result()


class _Session:
    def __init__(self, pool: Any) -> None:
        self.session = pool.checkout(limits=LIMITS)
        self.session.__enter__()

    def run(self, code: str) -> Outcome:
        import pydantic_monty

        out = pydantic_monty.CollectString()
        value = self.session.feed_run(code, print_callback=out)
        return Outcome(out.output, value)

    def close(self) -> None:
        self.session.__exit__(None, None, None)


class MontyPeer:
    name = "pydantic-monty"
    isolates = (
        "memory, files, network and environment: a Python-subset interpreter written in Rust, in pooled worker "
        "processes, with resource limits; the host is reached only through the functions passed in"
    )
    does_not_isolate = (
        "successive runs at the process level (a worker serves many checkouts in turn); "
        "and it is not full Python: a subset of the language and standard library"
    )

    def __init__(self) -> None:
        self.pool: Any = None

    def available(self) -> str | None:
        try:
            import pydantic_monty
        except ImportError as exc:
            return f"not installed ({exc}); pip install pydantic-monty"
        if not hasattr(pydantic_monty.Monty, "checkout"):
            return f"pydantic-monty {self.version()} has no Monty().checkout() pool API (needs >= 1.0)"
        return None

    def version(self) -> str:
        try:
            return importlib.metadata.version("pydantic-monty")
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def start(self) -> None:
        import pydantic_monty

        self.pool = pydantic_monty.Monty()
        self.pool.__enter__()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.__exit__(None, None, None)
            self.pool = None

    def runner(self, tools: Tools, *, concurrency: int) -> _Runner | _AsyncRunner:
        if any(inspect.iscoroutinefunction(fn) for fn in tools.values()):
            return _AsyncRunner(tools, concurrency)
        return _Runner(self.pool, tools)

    def session(self) -> _Session:
        return _Session(self.pool)

    def live_sandboxes(self, n: int, code: str, expected: str) -> MemorySample:
        import pydantic_monty

        before = rss_bytes()
        with pydantic_monty.Monty(min_processes=1, max_processes=n) as pool:
            sessions = [_Session(pool) for _ in range(n)]  # a checked-out session holds its own worker
            try:
                for session in sessions:
                    assert session.run(code).stdout == expected
                pids = {session.session.worker_pid for session in sessions}
                assert None not in pids and len(pids) == n, pids
                workers = [process_memory(pid) for pid in pids]
                host = max(0, rss_bytes() - before)
            finally:
                for session in sessions:
                    session.close()
        rss = (sum(w["Rss"] for w in workers) + host) / n / MIB
        pss = sum(w["Pss"] for w in workers) / n / MIB
        private = sum(w["Private_Dirty"] for w in workers) / n / MIB
        detail = f"N={n} sessions, a worker each; their RSS (+ the host's growth) / N; per worker Pss {pss:.2f} MiB"
        return MemorySample(rss, private, detail)
