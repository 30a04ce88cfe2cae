"""Gathered tool calls really run at the same time, and ``arun`` uses the caller's loop.

Bounds are on wall time against what serial execution would take; the
call log's timestamps must overlap too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from host_functions import ToolSet, tool
from runtime import Limits, Sandbox

LOOPS: list[asyncio.AbstractEventLoop] = []
THREADS: list[str] = []


@tool
async def nap(i: int) -> int:
    """Sleep 100 ms on the event loop."""
    await asyncio.sleep(0.1)
    return i


@tool
def nap_sync(i: int) -> int:
    """Sleep 100 ms on a thread."""
    time.sleep(0.1)
    return i


@tool
async def which_loop() -> bool:
    """Record the loop this call runs on."""
    LOOPS.append(asyncio.get_running_loop())
    return True


@tool(inline=True)
def inline_thread() -> bool:
    THREADS.append(threading.current_thread().name)
    return True


@tool
def pooled_thread() -> bool:
    THREADS.append(threading.current_thread().name)
    return True


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    tools = ToolSet([nap, nap_sync, which_loop, inline_thread, pooled_thread])
    with Sandbox(tools=tools, limits=Limits(timeout=10.0), pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


@pytest.mark.parametrize(
    ("tool_name", "count", "bound"),
    [("nap", 50, 2.5), ("nap_sync", 30, 1.5)],
    ids=["50-async-tools", "30-sync-tools"],
)
def test_gathered_calls_overlap(sb: Sandbox, tool_name: str, count: int, bound: float) -> None:
    code = f"import asyncio\nawait asyncio.gather(*[{tool_name}(i) for i in range({count})])"
    start = time.monotonic()
    r = sb.run(code)
    elapsed = time.monotonic() - start
    assert (r.error, r.value) == (None, list(range(count)))
    assert elapsed < bound < count * 0.1  # serial: count * 100 ms
    calls = r.tool_calls
    assert len(calls) == count and {c.outcome for c in calls} == {"ok"}
    assert all(c.duration >= 0.09 for c in calls)
    # All were in flight together: the last started before the first finished.
    assert max(c.started for c in calls) < min(c.started + c.duration for c in calls)


def test_plain_calls_run_one_after_another(sb: Sandbox) -> None:
    start = time.monotonic()
    r = sb.run("[nap(i) for i in range(3)]")
    assert (r.error, r.value) == (None, [0, 1, 2])
    assert time.monotonic() - start >= 0.3
    first, second, third = r.tool_calls
    assert first.started + first.duration <= second.started and second.started + second.duration <= third.started


def test_mixed_async_and_sync_tools_gather_together(sb: Sandbox) -> None:
    code = "import asyncio\nawait asyncio.gather(*[nap(i) for i in range(20)], *[nap_sync(i) for i in range(20)])"
    start = time.monotonic()
    r = sb.run(code)
    assert (r.error, r.value) == (None, list(range(20)) * 2)
    assert time.monotonic() - start < 1.5  # serial: 4 s


def test_concurrent_runs_each_get_their_own_results(sb: Sandbox) -> None:
    def one(k: int) -> object:
        return sb.run(f"import asyncio\nawait asyncio.gather(*[nap(i * {k}) for i in range(10)])").value

    threads_results: dict[int, object] = {}
    workers = [threading.Thread(target=lambda k=k: threads_results.__setitem__(k, one(k))) for k in range(1, 7)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert time.monotonic() - start < 3.0  # serial: 6 s
    assert threads_results == {k: [i * k for i in range(10)] for k in range(1, 7)}


def test_arun_runs_async_tools_on_the_callers_loop(sb: Sandbox) -> None:
    LOOPS.clear()

    async def main() -> tuple[asyncio.AbstractEventLoop, object]:
        r = await sb.arun("import asyncio\nawait asyncio.gather(which_loop(), which_loop())\nwhich_loop()")
        return asyncio.get_running_loop(), r.value

    loop, value = asyncio.run(main())
    assert value is True
    assert len(LOOPS) == 3 and all(seen is loop for seen in LOOPS)


def test_run_uses_a_loop_of_its_own(sb: Sandbox) -> None:
    LOOPS.clear()

    async def main() -> asyncio.AbstractEventLoop:
        # A blocking run() inside a coroutine: its tools cannot use this (blocked) loop.
        assert sb.run("which_loop()").value is True
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert len(LOOPS) == 1 and LOOPS[0] is not loop


def test_concurrent_aruns_on_one_loop_overlap(sb: Sandbox) -> None:
    async def main() -> list[object]:
        code = "import asyncio\nawait asyncio.gather(*[nap(i) for i in range(10)])"
        results = await asyncio.gather(*(sb.arun(code) for _ in range(4)))
        return [r.value for r in results]

    start = time.monotonic()
    assert asyncio.run(main()) == [list(range(10))] * 4
    assert time.monotonic() - start < 2.0  # serial: 4 s


def test_inline_tools_run_on_the_runs_thread_others_on_the_pool(sb: Sandbox) -> None:
    THREADS.clear()
    r = sb.run("inline_thread() and pooled_thread()")
    assert (r.error, r.value) == (None, True)
    inline, pooled = THREADS
    assert inline == threading.current_thread().name
    assert pooled != inline and pooled.startswith("otc-tool")
