"""Tool faults that ``test_tool_faults.py`` does not cover, and every fault under concurrency.

``test_tool_faults.py`` covers a tool raising (``ToolError``, an unexpected
exception holding a secret), hanging (sync and async), returning an object
or 50 MB, raising ``KeyboardInterrupt``/``SystemExit``, an async tool
cancelling itself and a brief event-loop block, plus healthy CRM runs
alongside. Here: more non-JSON results (a set of objects, generators, a
cycle, bytes that are not UTF-8, a model whose serialiser raises),
``GeneratorExit`` and a custom ``BaseException`` subclass, a 10 MB error
message, a long event-loop block, each as a sync and as an async tool; then
all of them at once in runs on other threads next to healthy runs that must
get exactly their own results; a blocked shared loop and hung sync calls
next to later runs (``test_tool_runners.py`` tests the mechanisms).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest

from host_functions import Tool, ToolError, ToolSet, tool
from runtime import ExecutionResult, Limits, Sandbox
from runtime._tool_loop import SYNC_TOOL_THREADS

HANG = 1.0
"""Seconds a hung sync tool really blocks (past every tool_timeout here, short enough to settle)."""
HUGE = "x" * 50_000_000  # made once, not per call
LIMITS = Limits(timeout=10.0, tool_timeout=0.5)
ROOMY = Limits(timeout=30.0, tool_timeout=20.0)
"""For the 50 MB result: serialising it takes a busy machine a moment."""
_active_hangs = 0
_hang_lock = threading.Lock()


class Abort(BaseException):
    """A custom ``BaseException`` subclass, as a framework might raise to unwind."""


class Exploding(pydantic.BaseModel):
    """A result whose serialisation raises a ``BaseException``."""

    x: int

    @pydantic.field_serializer("x")
    def _explode(self, value: int) -> int:
        raise Abort("while serialising")


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def _cyclic() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


def _raise(exc: BaseException) -> Callable[[], Any]:
    def behave() -> Any:
        raise exc

    return behave


def _hang() -> None:
    global _active_hangs
    with _hang_lock:
        _active_hangs += 1
    try:
        time.sleep(HANG)
    finally:
        with _hang_lock:
            _active_hangs -= 1


@dataclass(frozen=True)
class Fault:
    behave: Callable[[], Any]
    kind: str
    """``ToolError.kind`` the script sees."""
    outcome: str = "error"
    """The call log's outcome."""
    limits: Limits = LIMITS


FAULTS = {
    "set_of_objects": Fault(lambda: {object(), object()}, "result"),
    "generator_of_objects": Fault(lambda: (object() for _ in range(3)), "result"),
    "cyclic_list": Fault(_cyclic, "result"),
    "bytes_not_utf8": Fault(lambda: b"\xff\xfe\xfd", "result"),
    "serializer_raises": Fault(lambda: Exploding(x=1), "result"),
    "fifty_megabytes": Fault(lambda: HUGE, "result", limits=ROOMY),
    "generator_exit": Fault(_raise(GeneratorExit()), "error"),
    "custom_base_exception": Fault(_raise(Abort("unwinding")), "error"),
    "huge_message": Fault(_raise(ToolError("m" * 10_000_000)), "error"),
    "hangs": Fault(_hang, "timeout", outcome="timeout"),
}
CASES = [(name, variant) for name in FAULTS for variant in ("sync", "async")]


def _tools(name: str, fault: Fault) -> list[Tool]:
    def sync_tool() -> Any:
        return fault.behave()

    async def async_tool() -> Any:
        if name == "hangs":
            await asyncio.sleep(HANG)  # hung on the loop (a blocked loop is its own case below)
        return fault.behave()

    return [
        Tool.from_function(sync_tool, name=name, description=f"Fault: {name}."),
        Tool.from_function(async_tool, name=f"{name}_async", description=f"Fault: {name}, async."),
    ]


@tool
def echo(value: str) -> str:
    return value


@tool
async def aecho(value: str) -> str:
    await asyncio.sleep(0)
    return value


LOOP_BLOCKED = threading.Event()


@tool
async def blocks_loop(seconds: float) -> float:
    LOOP_BLOCKED.set()
    time.sleep(seconds)  # a careless async tool: blocks the shared tool loop
    return seconds


@tool
def raises_unprintable() -> None:
    raise ValueError(Unprintable())


@tool
async def raises_unprintable_async() -> None:
    raise ValueError(Unprintable())


@tool(inline=True)
def raises_unprintable_inline() -> None:
    raise ValueError(Unprintable())


@tool
def gives_generator() -> Any:
    return (i * i for i in range(5))


@tool
async def gives_generator_async() -> Any:
    return (i * i for i in range(5))


EXTRA = [
    echo, aecho, blocks_loop, raises_unprintable, raises_unprintable_async, raises_unprintable_inline,
    gives_generator, gives_generator_async,
]  # fmt: skip


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    tools = ToolSet([*(t for name, fault in FAULTS.items() for t in _tools(name, fault)), *EXTRA])
    with Sandbox(tools=tools, limits=LIMITS, pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


def _tool_name(name: str, variant: str) -> str:
    return name if variant == "sync" else f"{name}_async"


def _fault_script(tool_name: str, token: str) -> str:
    return (
        f"try:\n    {tool_name}()\n    print('no error')\nexcept ToolError as e:\n"
        "    print(type(e).__name__, e.kind, len(str(e)) <= 4000)\n"
        f"print(echo({token!r}))"
    )


def _check_fault(result: ExecutionResult, name: str, variant: str, token: str) -> None:
    fault = FAULTS[name]
    error_class = "ToolTimeoutError" if fault.kind == "timeout" else "ToolError"
    assert result.error is None, result.error
    assert result.stdout == f"{error_class} {fault.kind} True\n{token}\n"
    assert [(c.tool, c.outcome) for c in result.tool_calls] == [
        (_tool_name(name, variant), fault.outcome),
        ("echo", "ok"),
    ]
    assert result.tool_calls[0].detail  # the host learns why


def _run_fault(sb: Sandbox, name: str, variant: str, limits: Limits | None = None) -> tuple[ExecutionResult, str]:
    token = uuid.uuid4().hex
    return sb.run(_fault_script(_tool_name(name, variant), token), limits=limits or FAULTS[name].limits), token


def _healthy_script(token: str, rounds: int = 10) -> tuple[str, list[str]]:
    code = (
        f"import asyncio\nout = []\nfor i in range({rounds}):\n"
        f"    out += await asyncio.gather(echo(f'{token}-{{i}}-s'), aecho(f'{token}-{{i}}-a'))\nout"
    )
    return code, [f"{token}-{i}-{kind}" for i in range(rounds) for kind in ("s", "a")]


def _threads() -> tuple[int, int]:
    """(OS threads of this process besides the sync-tool pool, threads of that pool). The pool
    grows on demand up to SYNC_TOOL_THREADS: bounded, so not a leak, and measured apart."""
    pool = sum(thread.name.startswith("otc-tool_") for thread in threading.enumerate())
    return len(os.listdir("/proc/self/task")) - pool, pool


def _settle_hangs(timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while _active_hangs and time.monotonic() < end:
        time.sleep(0.02)


@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{name}-{variant}" for name, variant in CASES])
def test_fault_is_contained_and_reported(
    sb: Sandbox, name: str, variant: str, check_healthy: Callable[[Sandbox], None]
) -> None:
    started = time.monotonic()
    result, token = _run_fault(sb, name, variant)
    _check_fault(result, name, variant, token)
    assert time.monotonic() - started < FAULTS[name].limits.tool_timeout + 2.0
    check_healthy(sb)


@pytest.mark.parametrize("variant", ["sync", "async"])
def test_a_generator_result_arrives_as_a_list(sb: Sandbox, variant: str) -> None:
    # Not JSON, but serialisable: its items are drawn on the host and sent as a list.
    result = sb.run(_tool_name("gives_generator", variant) + "()")
    assert (result.error, result.value) == (None, [0, 1, 4, 9, 16])


def test_every_fault_at_once_next_to_healthy_runs(sb: Sandbox) -> None:
    healthy = [_healthy_script(uuid.uuid4().hex) for _ in range(6)]
    threads_after: list[tuple[int, int]] = []
    for _ in range(2):  # the second round must not need a single new host thread
        with ThreadPoolExecutor(max_workers=len(CASES) + len(healthy)) as pool:
            # 26 runs on a small machine: only the hang keeps a short tool_timeout.
            faults = {
                (name, variant): pool.submit(_run_fault, sb, name, variant, None if name == "hangs" else ROOMY)
                for name, variant in CASES
            }
            # Correct results are what counts: a machine this loaded may delay a call past 0.5 s.
            good = [(pool.submit(sb.run, code, limits=ROOMY), expected) for code, expected in healthy]
            for (name, variant), fault_run in faults.items():
                result, token = fault_run.result(timeout=60)
                _check_fault(result, name, variant, token)
            for healthy_run, expected in good:
                outcome = healthy_run.result(timeout=60)
                assert (outcome.error, outcome.value) == (None, expected)
                assert {c.outcome for c in outcome.tool_calls} == {"ok"}
        _settle_hangs()
        threads_after.append(_threads())
    assert threads_after[1][0] <= threads_after[0][0]
    assert threads_after[1][1] <= SYNC_TOOL_THREADS


def test_a_blocked_event_loop_is_reported_to_the_run_that_blocked_it(sb: Sandbox) -> None:
    # The call times out on the guest's side while the loop is still blocked; the loop recovers after.
    started = time.monotonic()
    result = sb.run("try:\n    blocks_loop(1.5)\nexcept ToolTimeoutError as e:\n    kind = e.kind\nkind")
    assert time.monotonic() - started < 1.2
    assert (result.error, result.value) == (None, "timeout")
    time.sleep(1.5)
    after = sb.run("aecho('loop is back')")
    assert (after.error, after.value) == (None, "loop is back")


def test_a_blocked_event_loop_does_not_disturb_other_runs(sb: Sandbox) -> None:
    LOOP_BLOCKED.clear()
    blocker = threading.Thread(target=sb.run, args=("blocks_loop(1.5)",), kwargs={"limits": Limits(tool_timeout=0.3)})
    blocker.start()
    try:
        assert LOOP_BLOCKED.wait(5)  # the loop is blocked from now on, for 1.5 s
        victim = sb.run("aecho('victim')", limits=Limits(tool_timeout=0.5))
        assert (victim.error, victim.value) == (None, "victim")
    finally:
        blocker.join(10)
        time.sleep(1.5)  # let the loop finish the block before the next test


def test_hung_sync_calls_do_not_starve_the_process() -> None:
    release = threading.Event()

    @tool
    def stuck() -> None:
        release.wait(30)

    @tool
    def ping() -> str:
        return "pong"

    limits = Limits(timeout=10.0, tool_timeout=0.2, max_concurrent_tool_calls=SYNC_TOOL_THREADS)
    with Sandbox(tools=ToolSet([stuck, ping]), limits=limits, pool_size=1) as sandbox:
        try:
            calls = f"[stuck() for _ in range({SYNC_TOOL_THREADS})]"
            code = f"import asyncio\nlen(await asyncio.gather(*{calls}, return_exceptions=True))"
            assert sandbox.run(code).value == SYNC_TOOL_THREADS  # each gave up at tool_timeout
            later = sandbox.run("ping()")  # another run, long after: its tool is quick
            assert (later.error, later.value) == (None, "pong")
        finally:
            release.set()
            end = time.monotonic() + 10
            while sandbox.run("ping()").error is not None and time.monotonic() < end:
                time.sleep(0.05)  # the pool drains: leave it usable for the tests after this one


@pytest.mark.parametrize("variant", ["sync", "async", "inline"])
def test_an_exception_that_cannot_be_printed_is_still_a_failure(sb: Sandbox, variant: str) -> None:
    name = "raises_unprintable" if variant == "sync" else f"raises_unprintable_{variant}"
    started = time.monotonic()
    result = sb.run(
        f"try:\n    {name}()\nexcept ToolError as e:\n    kind = e.kind\nkind", limits=Limits(tool_timeout=2.0)
    )
    assert (result.error, result.value) == (None, "error")
    assert [c.outcome for c in result.tool_calls] == ["error"]
    assert time.monotonic() - started < 1.0
