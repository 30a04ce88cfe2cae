"""``Session``: one interpreter kept across runs, REPL-style."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._driver import GrantedTools, ToolGrant, arun_in_thread, granted_tools, new_state, run_on
from ._engine import guest_runtime
from ._errors import ExecutionError, SessionBroken, UsageError
from ._instance import GuestInstance
from ._limits import Limits
from ._outcome import check_code, pick_limits
from ._result import ExecutionResult
from ._run_state import RunState

if TYPE_CHECKING:
    from host_functions import ToolSet

__all__ = ["Session"]


class Session:
    """Runs scripts one after another in the same interpreter, so variables,
    functions and imports persist, without replaying earlier code::

        with Session() as s:
            s.run("x = 40")
            s.run("x + 2").value  # 42

    A run that ends in an exception keeps the session usable. A run that the
    host had to kill (timeout, fuel, cancellation, a crash) discards the
    interpreter: the next ``run`` raises ``SessionBroken``.

    Runs are serialised: concurrent calls wait their turn.
    """

    def __init__(
        self,
        *,
        tools: ToolSet | Iterable[Any] | GrantedTools | None = None,
        limits: Limits | None = None,
        _instance: GuestInstance | None = None,
        _executor: Executor | None = None,
    ) -> None:
        self.limits = pick_limits(limits, Limits())
        # A sandbox hands over its already-described tools: no second guest_json().
        self._granted = tools if isinstance(tools, GrantedTools) else granted_tools(tools)
        self.tools = self._granted.tools if self._granted is not None else None
        if _instance is None:
            _instance = GuestInstance(guest_runtime(fuel=self.limits.fuel is not None))
            _instance.keep()
        self._instance = _instance
        self._owned_executor = _executor is None
        self._executor = _executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="otc-session")
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._broken_by: ExecutionError | None = None

    def run(
        self,
        code: str,
        *,
        limits: Limits | None = None,
        context: Any = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in this session's interpreter (``context`` and
        ``on_output`` as in ``Sandbox.run``).

        Raises ``InvalidCode`` for bad input, ``SessionBroken`` once an
        earlier run killed the interpreter (or after ``close``), and
        ``UsageError`` in a process forked from the one that made the session.
        """
        limits = self._checked(code, limits)
        return self._run(code, limits, new_state(limits, on_output), self._grant(context, None))

    async def arun(
        self,
        code: str,
        *,
        limits: Limits | None = None,
        context: Any = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """``run`` for asyncio; cancelling the task stops the guest (and, since
        the interpreter is discarded, breaks the session)."""
        limits = self._checked(code, limits)
        state = new_state(limits, on_output)
        grant = self._grant(context, asyncio.get_running_loop())
        return await arun_in_thread(self._executor, state, lambda: (self._run(code, limits, state, grant), None))

    def _grant(self, context: Any, loop: asyncio.AbstractEventLoop | None) -> ToolGrant | None:
        return None if self._granted is None else self._granted.grant(context, loop)

    def _checked(self, code: str, limits: Limits | None) -> Limits:
        if os.getpid() != self._pid:  # its thread did not survive the fork (see Sandbox)
            raise UsageError(
                f"this Session was made in process {self._pid} and is used in process {os.getpid()}, "
                "a fork of it; make a new Session in each process, after forking"
            )
        limits = pick_limits(limits, self.limits)
        if (limits.fuel is None) != (self.limits.fuel is None):
            raise ValueError("a session cannot switch fuel metering on or off between runs")
        check_code(code, limits)
        return limits

    def _run(self, code: str, limits: Limits, state: RunState, grant: ToolGrant | None) -> ExecutionResult:
        with self._lock:
            if self._broken_by is not None:
                raise SessionBroken(self._broken_by)
            result = run_on(self._instance, code, limits, state, fresh=False, grant=grant)
            # A trap, or a reply the host could not trust: the interpreter goes.
            if not self._instance.alive or (result.error is not None and result.error.fatal):
                assert result.error is not None
                self._broken_by = result.error
                self._instance.close()
            return result

    def close(self) -> None:
        """Discard the interpreter; later runs raise ``SessionBroken``."""
        with self._lock:
            if self._broken_by is None:
                self._broken_by = ExecutionError("the session was closed")
                self._instance.close()
        if self._owned_executor:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
