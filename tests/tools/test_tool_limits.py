"""Tool limits, judged by what the tools themselves observed.

``max_tool_calls``, ``max_concurrent_tool_calls`` (peak in-flight count seen
by the tool), ``max_tool_payload_bytes``, ``max_tool_result_bytes``, the run's
own timeout while a tool is pending, and cancellation of ``arun``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from host_functions import Tool, ToolSet
from runtime import Limits, Sandbox, TimeoutExceeded


class Probe:
    """Tools that count what reaches them: calls, in-flight peak, cancellations."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.calls = self.in_flight = self.peak = self.waiting = self.cancelled = 0
        self.hold_until = 0  # calls hold on until this many are in flight (or 2 s pass)

    def reset(self) -> None:
        with self.lock:
            self.calls = self.in_flight = self.peak = self.waiting = self.cancelled = self.hold_until = 0

    def _enter(self) -> None:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.lock.notify_all()

    def _held(self) -> bool:
        """Whether the expected concurrency was reached (always, when none is set)."""
        with self.lock:
            return self.peak >= self.hold_until

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    async def track(self, i: int) -> int:
        """Stay in flight 20 ms, and until ``hold_until`` calls were in flight at once (2 s at most)."""
        self._enter()
        try:
            await asyncio.sleep(0.02)
            for _ in range(200):
                if self._held():
                    break
                await asyncio.sleep(0.01)
        finally:
            self._leave()
        return i

    def track_sync(self, i: int) -> int:
        """The same on a thread."""
        self._enter()
        try:
            time.sleep(0.02)
            with self.lock:
                self.lock.wait_for(lambda: self.peak >= self.hold_until, timeout=2.0)
        finally:
            self._leave()
        return i

    def text(self, text: str) -> str:
        """Echo ``text`` back."""
        self._enter()
        self._leave()
        return text

    async def wait_forever(self) -> None:
        """Never finish; count the start and the cancellation."""
        with self.lock:
            self.waiting += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            with self.lock:
                self.cancelled += 1
            raise


PROBE = Probe()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    tools = ToolSet([Tool.from_function(f) for f in (PROBE.track, PROBE.track_sync, PROBE.text, PROBE.wait_forever)])
    with Sandbox(tools=tools, limits=Limits(timeout=5.0), pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


@pytest.fixture(autouse=True)
def _fresh_probe() -> None:
    PROBE.reset()


def _wait_until(predicate, timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def _waiting_script(pending: int) -> str:
    if pending == 1:
        return "wait_forever()"
    return f"import asyncio\nawait asyncio.gather(*[wait_forever() for _ in range({pending})])"


CALL_STYLES = {
    "sequential": "out = []\nfor i in range(7):\n    try:\n        out.append(track(i))\n"
    "    except ToolError as e:\n        out.append(e.kind)\nout",
    "gathered": "import asyncio\nrs = await asyncio.gather(*[track(i) for i in range(7)], return_exceptions=True)\n"
    "[r if isinstance(r, int) else r.kind for r in rs]",
}


@pytest.mark.parametrize("style", list(CALL_STYLES), ids=list(CALL_STYLES))
def test_max_tool_calls(sb: Sandbox, style: str) -> None:
    r = sb.run(CALL_STYLES[style], limits=Limits(max_tool_calls=5))
    assert r.error is None, r.error
    assert r.value == [0, 1, 2, 3, 4, "limit", "limit"]
    assert PROBE.calls == 5
    assert [c.outcome for c in r.tool_calls] == ["ok"] * 5 + ["rejected"] * 2


@pytest.mark.parametrize(("limit", "calls"), [(1, 6), (4, 24), (16, 40), (64, 40)], ids=["1", "4", "16", "above-n"])
@pytest.mark.parametrize("tool", ["track", "track_sync"], ids=["async", "sync"])
def test_max_concurrent_tool_calls_seen_by_the_tool(sb: Sandbox, tool: str, limit: int, calls: int) -> None:
    # Calls hold on until the expected concurrency is reached, so the peak does
    # not depend on how fast threads start; a dispatcher that throttled below
    # it would leave the peak short (after a 2 s hold), one that let more
    # through would push it over.
    PROBE.hold_until = min(limit, calls)
    code = f"import asyncio\nawait asyncio.gather(*[{tool}(i) for i in range({calls})])"
    r = sb.run(code, limits=Limits(max_concurrent_tool_calls=limit))
    assert (r.error, r.value) == (None, list(range(calls)))
    assert PROBE.calls == calls
    assert PROBE.peak == min(limit, calls)
    assert {c.outcome for c in r.tool_calls} == {"ok"}


@pytest.mark.parametrize(("size", "kind"), [(900, None), (2000, "limit")], ids=["under", "over"])
def test_max_tool_payload_bytes(sb: Sandbox, size: int, kind: str | None) -> None:
    code = f"try:\n    r = len(text('x' * {size}))\nexcept ToolError as e:\n    r = e.kind\nr"
    r = sb.run(code, limits=Limits(max_tool_payload_bytes=1000))
    assert r.error is None, r.error
    assert r.value == (kind or size)
    assert PROBE.calls == (0 if kind else 1)
    (call,) = r.tool_calls
    assert call.outcome == ("rejected" if kind else "ok") and call.arguments_bytes == size + len('{"text": ""}')


@pytest.mark.parametrize(("size", "kind"), [(900, None), (2000, "result")], ids=["under", "over"])
def test_max_tool_result_bytes(sb: Sandbox, size: int, kind: str | None) -> None:
    code = f"try:\n    r = len(text('x' * {size}))\nexcept ToolError as e:\n    r = e.kind\nprint('goes on')\nr"
    r = sb.run(code, limits=Limits(max_tool_result_bytes=1000))
    assert (r.error, r.stdout, r.value) == (None, "goes on\n", kind or size)
    assert PROBE.calls == 1  # the tool ran; its result was refused
    assert r.tool_calls[0].outcome == ("error" if kind else "ok")


@pytest.mark.parametrize("pending", [1, 5], ids=["one-call", "gathered-calls"])
def test_run_timeout_while_waiting_on_a_tool(sb: Sandbox, pending: int) -> None:
    code = _waiting_script(pending)
    start = time.monotonic()
    r = sb.run(code, limits=Limits(timeout=0.5))
    assert time.monotonic() - start < 2.0
    assert isinstance(r.error, TimeoutExceeded)
    assert [c.outcome for c in r.tool_calls] == ["cancelled"] * pending
    assert _wait_until(lambda: PROBE.cancelled == pending)
    assert sb.run("1 + 1").value == 2


@pytest.mark.parametrize("pending", [1, 5], ids=["one-call", "gathered-calls"])
def test_cancelling_arun_cancels_pending_async_tool_calls(sb: Sandbox, pending: int) -> None:
    code = _waiting_script(pending)

    async def main() -> int:
        task = asyncio.create_task(sb.arun(code, limits=Limits(timeout=30.0)))
        while PROBE.waiting < pending:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(200):  # the tools run on this loop: let their cancellation land
            if PROBE.cancelled == pending:
                break
            await asyncio.sleep(0.01)
        return PROBE.cancelled

    start = time.monotonic()
    assert asyncio.run(asyncio.wait_for(main(), 10)) == pending
    assert time.monotonic() - start < 5.0
    assert sb.run("1 + 1").value == 2
