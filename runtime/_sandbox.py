"""``Sandbox``: run untrusted Python, each run in a fresh guest interpreter."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._driver import ToolGrant, arun_in_thread, granted_tools, new_state, run_on
from ._errors import ToolDefinitionError, UsageError
from ._limits import Limits
from ._outcome import check_code, pick_limits
from ._pool import InstancePool
from ._result import ExecutionResult
from ._run_state import RunState
from ._session import Session

if TYPE_CHECKING:
    from host_functions import ToolSet

__all__ = ["Sandbox"]


def _close_pools(pools: list[InstancePool]) -> None:
    for pool in pools:
        pool.close()


class Sandbox:
    """Runs scripts in fresh, isolated CPython interpreters compiled to wasm.

    Each ``run`` gets its own interpreter, taken from a warm pool that is
    refilled in the background. Afterwards the interpreter is freed, or,
    after a short run, its memory is put back exactly as it was before the
    run (after its trusted warm-up, or at instantiation) and it returns to
    the pool: nothing a script does is visible to the next one. The script
    can compute and print; it has no files, network, environment,
    subprocesses or threads.

    Usage::

        with Sandbox(limits=Limits(timeout=2.0)) as sb:
            result = sb.run("sum(range(10))")
            result.value  # 45

    ``tools`` are the host functions scripts may call (the default is none);
    ``limits`` are the defaults for every run (``run`` can override them);
    ``pool_size`` is how many warm interpreters to keep ready per engine
    flavour (0 disables the pool: each run instantiates on the spot).
    ``workers`` is how many ``arun`` scripts run at once (more wait their
    turn); the default, one per core and at least two, suits scripts that
    compute. Raise it when scripts mostly wait on slow tools: a waiting
    script holds its thread but no core.
    The guest component is built and compiled on first use, then cached.
    A sandbox belongs to the process that made it: used in a forked child,
    every method raises ``UsageError`` (make a new one after forking).
    """

    def __init__(
        self,
        *,
        tools: ToolSet | Iterable[Any] | None = None,
        limits: Limits | None = None,
        pool_size: int = 2,
        workers: int | None = None,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
        self._workers = workers or max(2, os.cpu_count() or 2)
        self.limits = pick_limits(limits, Limits())
        self._granted = granted_tools(tools)
        self.tools = self._granted.tools if self._granted is not None else None
        granted = self._granted
        tools_json, names = (granted.guest_json, granted.names) if granted is not None else ("", ())
        self._pools = {
            fuel: InstancePool(fuel=fuel, size=pool_size, tools_json=tools_json, tool_names=names, limits=self.limits)
            for fuel in (False, True)
        }
        # A sandbox dropped without close() must not leave its warm instances
        # (and refill threads) behind: the pools do not refer back to it.
        self._release_pools = weakref.finalize(self, _close_pools, list(self._pools.values()))
        self._pools[self.limits.fuel is not None].start()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _pool(self, limits: Limits) -> InstancePool:
        self._check_process()
        return self._pools[limits.fuel is not None]

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            # Threads do not survive fork: the child has this sandbox's warm
            # interpreters but no thread to refill them or run its async runs.
            raise UsageError(
                f"this Sandbox was made in process {self._pid} and is used in process {os.getpid()}, "
                "a fork of it; make a new Sandbox in each process, after forking"
            )

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the warm pool (for the default limits) is full; useful
        before measuring. Raises ``GuestBuildError`` if the guest cannot be built
        or instantiated (runs still try, instantiating on the spot)."""
        return self._pool(self.limits).wait_ready(timeout)

    @property
    def ready_interpreters(self) -> int:
        """Interpreters in the warm pool (for the default limits) ready to run now."""
        return self._pool(self.limits).ready

    def run(
        self,
        code: str,
        *,
        limits: Limits | None = None,
        context: Any = None,
        only_tools: Collection[str] | None = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in a fresh interpreter and return what happened.

        ``context`` reaches tools as ``ToolContext.deps`` and never the guest.
        ``only_tools`` narrows this run's grant to some of the sandbox's tools
        (by name); the others do not exist for the script. ``on_output`` is
        called with ``(stream, text)`` as the script prints (line by line, on
        the run's thread; keep it quick, a listener that raises is dropped).
        Failures of the script (exceptions, limits, crashes) are reported in
        ``ExecutionResult.error``. Raises ``InvalidCode`` when ``code`` is not
        text or is too large, and ``ToolDefinitionError`` when ``only_tools``
        names a tool the sandbox was not granted, before anything reaches the guest.
        """
        limits = pick_limits(limits, self.limits)
        check_code(code, limits)
        grant = self._grant(context, None, only_tools)
        result, hand_back = self._run(code, limits, new_state(limits, on_output), grant)
        hand_back()  # the refill thread restores it: the caller has its result sooner
        return result

    async def arun(
        self,
        code: str,
        *,
        limits: Limits | None = None,
        context: Any = None,
        only_tools: Collection[str] | None = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """``run`` for asyncio: the guest runs on a worker thread and async tools
        on the caller's event loop. Cancelling the awaiting task stops the guest
        and cancels its tool calls."""
        self._check_process()
        limits = pick_limits(limits, self.limits)
        check_code(code, limits)
        state = new_state(limits, on_output)
        grant = self._grant(context, asyncio.get_running_loop(), only_tools)

        def work() -> tuple[ExecutionResult, Callable[[], object]]:
            result, hand_back = self._run(code, limits, state, grant)
            # The worker restores the instance once the caller has the result: no refill thread to wake.
            return result, functools.partial(hand_back, restore_here=True)

        return await arun_in_thread(self._worker(), state, work)

    def session(self, *, limits: Limits | None = None) -> Session:
        """A ``Session`` with this sandbox's tools, its interpreter from the pool."""
        limits = pick_limits(limits, self.limits)
        instance = self._pool(limits).acquire(keep=True)
        return Session(tools=self._granted, limits=limits, _instance=instance, _executor=self._worker())

    def _grant(
        self, context: Any, loop: asyncio.AbstractEventLoop | None, only_tools: Collection[str] | None
    ) -> ToolGrant | None:
        granted = self._granted
        if only_tools is not None:
            if granted is None:
                if isinstance(only_tools, str) or any(True for _ in only_tools):
                    raise ToolDefinitionError(f"only_tools={only_tools!r}, but this sandbox was granted no tools")
                return None
            granted = granted.narrowed(only_tools) if only_tools else None
        return None if granted is None else granted.grant(context, loop)

    def _run(
        self, code: str, limits: Limits, state: RunState, grant: ToolGrant | None
    ) -> tuple[ExecutionResult, Callable[..., None]]:
        """Run on a pooled instance: the result, and ``pool.release`` for the
        instance (to call, with its keywords, once the result is on its way)."""
        pool = self._pool(limits)
        if grant is not None and grant.granted is not self._granted:
            pool.note_grant(grant.granted.names)
        instance = pool.acquire()
        try:
            result = run_on(instance, code, limits, state, fresh=True, grant=grant)
        except BaseException:
            pool.release(instance)
            raise
        return result, functools.partial(pool.release, instance)

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="otc-run")
            return self._executor

    def close(self) -> None:
        """Free the warm interpreters and worker threads. Runs in progress finish first."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._release_pools()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
