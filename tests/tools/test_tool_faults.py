"""Tools that misbehave: each fault is contained in its call.

The script gets a clear guest exception it can catch (its ``type`` and
``kind`` are checked, not its wording), the run goes on and finishes fast,
the host stays alive, the next run is correct, and runs in flight at the
same time (a healthy CRM run in another thread) are unaffected.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from host_functions import ExampleCRM, ToolError, ToolSet, tool
from runtime import ExecutionResult, Limits, Sandbox

SECRET = "sk-live-7f3a9c-DO-NOT-LEAK"
HANG_CANCELLED = threading.Event()


@tool
def fails_cleanly() -> None:
    raise ToolError("out of stock: item 42")


@tool
def leaks() -> None:
    raise ValueError(f"connection failed: password={SECRET}")


@tool
async def hangs_async() -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        HANG_CANCELLED.set()
        raise


@tool
def hangs_sync() -> None:
    time.sleep(2)


@tool
def returns_object() -> object:
    return object()


HUGE = "x" * 50_000_000  # made once, not in each call


@tool
def returns_huge() -> str:
    return HUGE


@tool
def interrupts() -> None:
    raise KeyboardInterrupt


@tool
async def interrupts_async() -> None:
    raise KeyboardInterrupt


@tool
def exits() -> None:
    raise SystemExit(3)


@tool
async def exits_async() -> None:
    raise SystemExit(3)


@tool
async def cancels_itself() -> None:
    raise asyncio.CancelledError()


@tool
async def blocks_loop(n: int) -> int:
    time.sleep(0.05)  # a careless async tool: blocks the tool loop for a moment
    return n


@tool
def echo(n: int) -> int:
    return n


TOOLS = ToolSet([
    fails_cleanly, leaks, hangs_async, hangs_sync, returns_object, returns_huge, interrupts, interrupts_async,
    exits, exits_async, cancels_itself, blocks_loop, echo,
])  # fmt: skip

# tool -> (guest exception type, its kind, the call log's outcome)
FAULTS = {
    "fails_cleanly": ("ToolError", "error", "error"),
    "leaks": ("ToolError", "error", "error"),
    "hangs_async": ("ToolTimeoutError", "timeout", "timeout"),
    "hangs_sync": ("ToolTimeoutError", "timeout", "timeout"),
    "returns_object": ("ToolError", "result", "error"),
    "interrupts": ("ToolError", "error", "error"),
    "interrupts_async": ("ToolError", "error", "error"),
    "exits": ("ToolError", "error", "error"),
    "exits_async": ("ToolError", "error", "error"),
}


SCRIPT = """\
try:
    {name}()
    print("no error")
except ToolError as e:
    print(type(e).__name__, e.kind, e.tool, isinstance(e, ToolError))
    message = str(e)
print("carried on", echo(7))
"""


@pytest.fixture(scope="module")
def faulty() -> Iterator[Sandbox]:
    with Sandbox(tools=TOOLS, limits=Limits(tool_timeout=0.3, timeout=5.0), pool_size=2) as sb:
        sb.wait_ready()
        yield sb


@pytest.fixture(scope="module")
def roomy() -> Iterator[Sandbox]:
    """The same tools with time to serialise 50 MB on a busy machine."""
    with Sandbox(tools=TOOLS, limits=Limits(tool_timeout=20.0, timeout=20.0), pool_size=1) as sb:
        yield sb


def _run_fault(sb: Sandbox, name: str) -> tuple[ExecutionResult, float]:
    start = time.monotonic()
    return sb.run(SCRIPT.format(name=name)), time.monotonic() - start


def _assert_contained(name: str, r: ExecutionResult, elapsed: float) -> None:
    error_type, kind, outcome = FAULTS[name]
    assert r.error is None, r.error
    assert r.stdout == f"{error_type} {kind} {name} True\ncarried on 7\n"
    assert [(c.tool, c.outcome) for c in r.tool_calls] == [(name, outcome), ("echo", "ok")]
    assert r.tool_calls[0].detail  # the host learns why
    assert elapsed < 1.5  # a 10 s or 2 s hang is cut at tool_timeout=0.3


@pytest.mark.parametrize("name", list(FAULTS), ids=list(FAULTS))
def test_fault_is_contained(faulty: Sandbox, name: str, check_healthy: Callable[[Sandbox], None]) -> None:
    r, elapsed = _run_fault(faulty, name)
    _assert_contained(name, r, elapsed)
    check_healthy(faulty)


def test_tool_error_message_reaches_the_script(faulty: Sandbox) -> None:
    r = faulty.run(SCRIPT.format(name="fails_cleanly") + "message")
    assert r.value == "out of stock: item 42"
    assert r.tool_calls[0].detail == "out of stock: item 42"


@pytest.mark.parametrize("caught", [True, False], ids=["caught", "uncaught"])
def test_secret_in_an_unexpected_exception_stays_on_the_host(
    faulty: Sandbox, observable: Callable[[ExecutionResult], str], caught: bool
) -> None:
    code = SCRIPT.format(name="leaks") + "print(message, repr(message))\nmessage" if caught else "leaks()"
    r = faulty.run(code)
    assert SECRET not in observable(r)
    assert "password" not in observable(r)
    assert r.tool_calls[0].outcome == "error" and SECRET in (r.tool_calls[0].detail or "")
    if caught:
        assert "ValueError" in r.value and "leaks" in r.value  # the type and the tool do cross
    else:
        assert r.error is not None and r.error.type == "ToolError"


def test_hung_async_tool_is_cancelled_on_its_loop(faulty: Sandbox) -> None:
    HANG_CANCELLED.clear()
    _run_fault(faulty, "hangs_async")
    assert HANG_CANCELLED.wait(2.0)


def test_huge_result_is_refused_and_the_run_goes_on(roomy: Sandbox, check_healthy: Callable[[Sandbox], None]) -> None:
    r, _ = _run_fault(roomy, "returns_huge")
    assert r.error is None, r.error
    assert r.stdout == "ToolError result returns_huge True\ncarried on 7\n"
    assert [(c.tool, c.outcome) for c in r.tool_calls] == [("returns_huge", "error"), ("echo", "ok")]
    assert r.tool_calls[0].result_bytes > 10_000_000 and "max_tool_result_bytes" in (r.tool_calls[0].detail or "")
    check_healthy(roomy)


def test_async_tool_raising_cancelled_error_is_a_failure_not_a_timeout(faulty: Sandbox) -> None:
    r = faulty.run("try:\n    cancels_itself()\n    kind = None\nexcept ToolError as e:\n    kind = e.kind\nkind")
    # Had the call hung until tool_timeout, kind and outcome would say "timeout".
    assert r.value == "error" and r.tool_calls[0].outcome == "error"
    assert "CancelledError" in (r.tool_calls[0].detail or "")


def test_tool_blocking_the_event_loop_briefly_still_works(faulty: Sandbox) -> None:
    code = "import asyncio\nawait asyncio.gather(*[blocks_loop(i) for i in range(5)])"
    r = faulty.run(code)
    assert (r.error, r.value) == (None, [0, 1, 2, 3, 4])
    assert {c.outcome for c in r.tool_calls} == {"ok"}


def test_faults_gathered_with_good_calls(faulty: Sandbox) -> None:
    names = list(FAULTS)
    code = (
        "import asyncio\n"
        f"rs = await asyncio.gather(*[getattr(tools, n)() for n in {names!r}], echo(1), return_exceptions=True)\n"
        "[[type(x).__name__, getattr(x, 'kind', None)] for x in rs]"
    )
    start = time.monotonic()
    r = faulty.run(code)
    assert time.monotonic() - start < 1.5
    assert r.error is None, r.error
    assert r.value == [[FAULTS[n][0], FAULTS[n][1]] for n in names] + [["int", None]]


def test_faults_do_not_disturb_concurrent_healthy_runs(faulty: Sandbox, crm_sandbox: Sandbox, crm: ExampleCRM) -> None:
    healthy = (
        "import asyncio\ncands = list_candidates(status='active', page_size=200)\n"
        "await asyncio.gather(*[tag_candidate(c['id'], 'concurrent-with-faults') for c in cands])\nlen(cands)"
    )
    with ThreadPoolExecutor(max_workers=len(FAULTS) + 3) as pool:
        faults = {name: pool.submit(_run_fault, faulty, name) for name in FAULTS}
        good = [pool.submit(crm_sandbox.run, healthy) for _ in range(3)]
        for name, future in faults.items():
            _assert_contained(name, *future.result(timeout=30))
        for future in good:
            r = future.result(timeout=30)
            assert (r.error, r.value, len(r.tool_calls)) == (None, 200, 201)
            assert {c.outcome for c in r.tool_calls} == {"ok"}
    assert crm.tagged("concurrent-with-faults") == set(range(1, 201))
