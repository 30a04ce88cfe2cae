"""Where tool calls run, when tools misbehave: the sync pool and the shared loop.

``test_tool_fault_isolation.py`` shows the effect on runs (a blocked loop or 64
hung calls do not disturb later ones). Here, the mechanisms' own promises: a
written-off thread is replaced, bounded and reclaimed, and past the bound a
call fails at once with a clear message; a call given up on before it
started never runs; a blocked loop's posted work moves to a fresh loop, work
that started is never run twice, and the retired loop ends once it is done.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from host_functions import ToolSet, tool
from runtime import Limits, Sandbox
from runtime import _tool_loop as tool_loop_module
from runtime._tool_loop import STUCK_AFTER, tool_loop
from runtime._tool_threads import ToolThreads

RELEASE = threading.Event()


def _pool_threads(name: str) -> int:
    return sum(thread.name.startswith(f"{name}_") for thread in threading.enumerate())


def _eventually(check: Callable[[], object], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not check() and time.monotonic() < end:
        time.sleep(0.01)
    return bool(check())


@pytest.fixture
def release() -> Iterator[threading.Event]:
    RELEASE.clear()
    yield RELEASE
    RELEASE.set()


def test_a_written_off_thread_is_replaced_then_reclaimed(release: threading.Event) -> None:
    pool = ToolThreads(1, max_written_off=1, name="otc-test-reclaim")
    hung = pool.submit(release.wait, 10)
    assert hung is not None and _eventually(lambda: _pool_threads("otc-test-reclaim") == 1)
    done = threading.Event()
    assert pool.submit(done.set) is not None  # waits: the only worker is busy
    assert not done.wait(0.2)
    hung.write_off()
    assert done.wait(2)  # a new thread took it
    assert (pool.written_off, _pool_threads("otc-test-reclaim")) == (1, 2)
    release.set()
    assert _eventually(lambda: pool.written_off == 0 and _pool_threads("otc-test-reclaim") == 1)


def test_a_call_given_up_on_before_it_started_never_runs(release: threading.Event) -> None:
    pool = ToolThreads(1, max_written_off=1, name="otc-test-drop")
    ran: list[int] = []
    assert pool.submit(release.wait, 10) is not None
    queued = pool.submit(ran.append, 1)
    assert queued is not None
    queued.write_off()
    release.set()
    assert pool.submit(ran.append, 2) is not None
    assert _eventually(lambda: ran == [2])
    time.sleep(0.05)
    assert ran == [2]


@tool
def stuck() -> None:
    RELEASE.wait(10)


@tool
def ping() -> str:
    return "pong"


def test_past_the_budget_a_call_fails_at_once(monkeypatch: pytest.MonkeyPatch, release: threading.Event) -> None:
    monkeypatch.setattr(tool_loop_module, "_threads", ToolThreads(1, max_written_off=1, name="otc-test-budget"))
    limits = Limits(timeout=5.0, tool_timeout=0.2)
    code = "try:\n    stuck()\nexcept ToolError as e:\n    kind = e.kind\nkind"
    with Sandbox(tools=ToolSet([stuck, ping]), limits=limits, pool_size=1) as sb:
        assert sb.run(code).value == "timeout"  # written off: the budget is spent
        assert sb.run(code).value == "timeout"  # holds the only worker: nothing left to write off
        started = time.monotonic()
        refused = sb.run("try:\n    ping()\nexcept ToolError as e:\n    found = (e.kind, str(e))\nfound")
        assert time.monotonic() - started < 0.15  # not a wait for tool_timeout
        assert refused.error is None
        kind, message = refused.value
        assert kind == "limit" and "exhausted by hung calls" in message
        assert [c.outcome for c in refused.tool_calls] == ["rejected"]
        release.set()
        assert _eventually(lambda: sb.run("ping()").value == "pong")
    assert _eventually(lambda: _pool_threads("otc-test-budget") == 1)


def test_a_blocked_loop_hands_work_that_never_started_to_a_fresh_loop() -> None:
    loops = tool_loop()
    blocked, ran = threading.Event(), []
    old = loops.current()

    def block() -> None:
        ran.append("block")
        blocked.set()
        time.sleep(0.5)  # what a careless async tool does to the loop

    loops.post(block)
    assert blocked.wait(2)
    started = time.monotonic()
    later = threading.Event()
    loops.post(later.set)
    assert later.wait(2)
    assert time.monotonic() - started < STUCK_AFTER + 0.3
    assert loops.current() is not old
    assert _eventually(old.is_closed)  # retired, and stopped once its work was done
    assert ran == ["block"]  # started work is never run again
    assert sum(thread.name == "otc-tools" for thread in threading.enumerate()) == 1


def test_async_tools_run_on_uvloop_where_it_is_installed() -> None:
    seen: list[str] = []

    @tool
    async def loop_kind() -> str:
        """The module of the loop this call runs on."""
        import asyncio

        seen.append(type(asyncio.get_running_loop()).__module__)
        return seen[-1]

    with Sandbox(tools=ToolSet([loop_kind]), pool_size=0) as sb:
        result = sb.run("loop_kind()")
    assert result.ok, result.error
    assert result.value == seen[0]
    expected = "asyncio" if sys.platform == "win32" else "uvloop"
    assert seen[0].partition(".")[0] == expected


def test_without_uvloop_the_tool_loop_is_asyncio_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    loop = tool_loop_module.new_event_loop()
    try:
        assert type(loop).__module__.startswith("asyncio.")
        assert loop.run_until_complete(_answer()) == 42
    finally:
        loop.close()


async def _answer() -> int:
    return 42
