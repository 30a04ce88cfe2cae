"""Running one script on one instance, synchronously or from asyncio.

The sync path runs on the caller's thread. The async path runs the same sync
function on a worker thread, which hands the result to the event loop first
and then does what is left (restoring the instance for the pool); if the
awaiting task is cancelled, the run is stopped by the epoch check (within
one tick) and the worker is awaited, so no thread is ever left running a
guest nobody waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._dispatch import ToolDispatcher
from ._errors import ToolDefinitionError
from ._instance import GuestInstance
from ._limits import Limits
from ._outcome import build_result, run_options
from ._result import ExecutionResult
from ._run_state import OutputCapture, RunState

if TYPE_CHECKING:
    from host_functions import ToolSet

__all__ = ["GrantedTools", "ToolGrant", "Work", "arun_in_thread", "granted_tools", "new_state", "run_on"]

_MAX_SUBSETS = 64
"""Narrowed grants remembered per sandbox (each holds its guest description)."""


def new_state(limits: Limits, on_output: Callable[[str, str], object] | None = None) -> RunState:
    """A run state whose clock starts when the run does (see ``run_on``)."""
    return RunState(deadline=math.inf, capture=OutputCapture(limits.max_output_bytes, on_output))


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolGrant:
    """The tools one run may call, and where and with what they run."""

    granted: GrantedTools
    """The tools, with their guest description made once."""
    deps: Any
    """The application's per-run context (``ToolContext.deps``)."""
    loop: asyncio.AbstractEventLoop | None
    """The event loop async tools run on; None for the process-wide tool loop."""


@dataclass(frozen=True, slots=True)
class GrantedTools:
    """The tools a sandbox or session grants, with their guest description made once."""

    tools: ToolSet
    guest_json: str
    _subsets: dict[frozenset[str], GrantedTools] = field(default_factory=dict, compare=False, repr=False)
    names: tuple[str, ...] = field(init=False)
    """``tools.names``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.tools.names))  # frozen: set once, here

    def grant(self, deps: Any, loop: asyncio.AbstractEventLoop | None) -> ToolGrant:
        """The grant for one run (async tools on ``loop``, else the process-wide tool loop)."""
        return ToolGrant(granted=self, deps=deps, loop=loop)

    def narrowed(self, names: Iterable[str]) -> GrantedTools:
        """Only the tools called ``names`` (described once per distinct subset).
        Raises ``ToolDefinitionError`` for a name that was never granted."""
        if isinstance(names, str):
            raise TypeError("only_tools must be a collection of tool names, not a single string")
        key = frozenset(names)
        subset = self._subsets.get(key)
        if subset is None:
            unknown = sorted(key.difference(self.tools.names))
            if unknown:
                raise ToolDefinitionError(
                    f"only_tools names {unknown!r}, which this sandbox was not granted; "
                    f"granted: {', '.join(self.tools.names)}"
                )
            from host_functions import ToolSet

            tools = ToolSet(tool for tool in self.tools if tool.name in key)
            subset = GrantedTools(tools, tools.guest_json())
            if len(self._subsets) >= _MAX_SUBSETS:
                self._subsets.clear()  # no iteration: other threads may be adding
            self._subsets[key] = subset
        return subset


def granted_tools(tools: object) -> GrantedTools | None:
    """Check ``tools=``: a ToolSet, or any iterable of tools and functions
    (made into one). Raises ``TypeError`` for anything else."""
    if tools is None:
        return None
    from host_functions import ToolSet

    if not isinstance(tools, ToolSet):
        if isinstance(tools, (str, bytes)) or not hasattr(tools, "__iter__"):
            raise TypeError(
                f"tools must be a host_functions.ToolSet or an iterable of tools, got {type(tools).__name__}"
            )
        tools = ToolSet(tools)
    return GrantedTools(tools, tools.guest_json()) if len(tools) else None


def run_on(
    instance: GuestInstance, code: str, limits: Limits, state: RunState, *, fresh: bool, grant: ToolGrant | None = None
) -> ExecutionResult:
    """Run checked ``code`` on ``instance`` and build its result."""
    started = time.monotonic()
    state.attach(instance.wake, limits.timeout)
    granted = grant.granted if grant is not None else None
    if grant is not None:
        state.make_dispatcher = lambda: ToolDispatcher(
            grant.granted.tools, limits, grant.deps, grant.loop, state, t0=started
        )
    options = run_options(
        limits.recursion_limit,
        fresh=fresh,
        tools=granted.guest_json if granted else "",
        names=granted.names if granted else (),
        max_output_bytes=limits.max_output_bytes,
    )
    try:
        reply, trap, fuel = instance.execute(
            code, options, state, memory_bytes=limits.memory_mb << 20, fuel=limits.fuel
        )
    finally:
        calls = state.dispatcher.close() if state.dispatcher is not None else ()
    return build_result(
        reply, trap, state.capture, limits, duration=time.monotonic() - started, fuel_consumed=fuel, tool_calls=calls
    )


Work = Callable[[], tuple[ExecutionResult, Callable[[], object] | None]]
"""A run for ``arun_in_thread``: its result, and what to do on its thread once
the caller has that result (hand the instance back, say), or None."""


async def arun_in_thread(executor: Executor, state: RunState, work: Work) -> ExecutionResult:
    """Await ``work()`` run on ``executor``; cancelling the caller cancels the run."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[ExecutionResult] = loop.create_future()

    def job() -> None:
        after = None
        try:
            result, after = work()
        except BaseException as exc:
            _settle(loop, outcome, exc)
        else:
            _settle(loop, outcome, result)
        if after is not None:
            after()

    executor.submit(job)
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        state.cancel()
        # Wait for the guest to stop: it does within an epoch tick.
        while not outcome.done():
            try:
                await asyncio.shield(outcome)
            except asyncio.CancelledError:
                continue
            except BaseException:
                break
        raise


def _settle(
    loop: asyncio.AbstractEventLoop, outcome: asyncio.Future[ExecutionResult], value: ExecutionResult | BaseException
) -> None:
    """Hand ``value`` (a result or an exception) to ``outcome``, from another thread."""

    def settle() -> None:
        if outcome.done():
            return
        if isinstance(value, BaseException):
            outcome.set_exception(value)
        else:
            outcome.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to hand it to
        loop.call_soon_threadsafe(settle)
