"""A hostile guest calling the host's imports directly, bypassing its wrapper.

``from wit_world.imports import host`` hands the script the raw imports. Every
call below feeds them something the well-behaved wrapper never would. By
effect: the host process stays alive, the run ends in a clean value or a
clean ``ExecutionError``, the output kept never exceeds the cap, and the next
normal run is correct.
"""

from __future__ import annotations

import time

import pytest

from runtime import ExecutionError, ExecutionResult, Limits

CAP = 10_000
LIMITS = Limits(timeout=1.0, max_output_bytes=CAP)
BIG = Limits(timeout=10.0, max_output_bytes=CAP, memory_mb=512)

PREFIX = "from wit_world.imports import host\n"

CALLS = {
    # emit
    "emit-unknown-stream": "host.emit('stdin', 'x')",
    "emit-empty-stream": "host.emit('', 'x')",
    "emit-huge-stream-name": "host.emit('s' * 5_000_000, 'x')",
    "emit-surrogate": "host.emit('stdout', '\\ud800')",
    "emit-wrong-types": "host.emit(1, b'x')",
    "emit-ignoring-false": "while True:\n    host.emit('stdout', 'x' * 4096)",
    "emit-after-cap": "host.emit('stdout', 'a' * 20_000)\nhost.emit('stderr', 'b')",
    "emit-multibyte-at-cap": "host.emit('stdout', 'a' * 9_999)\nhost.emit('stdout', '\\u20ac' * 100)",
    "emit-then-print": "host.emit('stdout', 'a' * 20_000)\nprint('b' * 100_000)",
    "emit-many-tiny": "for i in range(50_000):\n    host.emit('stderr', 'x')",
    # sleep
    "sleep-negative": "host.sleep(-1.0)",
    "sleep-negative-zero": "host.sleep(-0.0)",
    "sleep-nan": "host.sleep(float('nan'))",
    "sleep-minus-inf": "host.sleep(float('-inf'))",
    "sleep-huge": "host.sleep(1e300)",
    "sleep-wrong-type": "host.sleep('forever')",
    "sleep-many-zero": "for i in range(20_000):\n    host.sleep(0.0)",
    # tools (none are granted)
    "call-tool-garbage": "host.call_tool('\\x00\\uffff' * 1000, '{{{{not json')",
    "call-tool-huge": "host.call_tool('t' * 1_000_000, 'a' * 5_000_000)",
    "call-tool-in-loop": "for i in range(10_000):\n    host.call_tool('x', '{}')",
    "submit-tool-garbage": "host.submit_tool('', '\\x00')",
    "wait-tools-negative": "host.wait_tools(-5.0)",
    "wait-tools-nan": "host.wait_tools(float('nan'))",
    "wait-tools-huge": "host.wait_tools(1e300)",
}


def assert_clean(result: ExecutionResult, cap: int = CAP) -> None:
    """A well-formed result: bounded output, and no error but a structured one."""
    assert isinstance(result, ExecutionResult)
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= cap
    error = result.error
    if error is not None:
        assert isinstance(error, ExecutionError)
        assert isinstance(error.message, str) and len(error.message) <= 20_000
        assert isinstance(error.type, str) and len(error.type) <= 200
        assert error.traceback is None or len(error.traceback) <= 70_000


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
def test_raw_host_call(call, sandbox, check_healthy):
    started = time.monotonic()
    result = sandbox.run(PREFIX + call, limits=LIMITS)
    assert time.monotonic() - started < 10
    assert_clean(result)
    check_healthy(sandbox)


def test_emit_fifty_megabytes(sandbox, check_healthy):
    result = sandbox.run(PREFIX + "host.emit('stderr', 'x' * 50_000_000)\nNone", limits=BIG)
    assert_clean(result)
    assert len(result.stderr) == CAP  # exactly the first CAP bytes, nothing more
    check_healthy(sandbox)


def test_output_cap_holds_across_every_channel(sandbox, check_healthy):
    # Raw emit, print, sys.__stdout__ and os.write all feed the same host-side budget.
    code = (
        PREFIX + "import os, sys\n"
        "for attempt in range(5):\n"
        "    for write in (lambda: host.emit('stdout', 'a' * 3000), lambda: print('b' * 3000),\n"
        "                  lambda: sys.__stdout__.write('c' * 3000), lambda: os.write(2, b'd' * 3000)):\n"
        "        try:\n            write()\n        except BaseException:\n            pass\n"
    )
    result = sandbox.run(code, limits=LIMITS)
    assert_clean(result)
    assert not result.ok
    check_healthy(sandbox)


def test_sleep_cannot_outlast_the_timeout(sandbox):
    started = time.monotonic()
    result = sandbox.run(PREFIX + "while True:\n    host.sleep(1e9)", limits=Limits(timeout=0.3))
    assert time.monotonic() - started < 5
    assert not result.ok


def test_tool_calls_are_denied_without_side_effects(sandbox):
    result = sandbox.run(
        PREFIX + "[host.call_tool('anything', '{}'), host.submit_tool('x', '{}'), host.wait_tools(0.0)]"
    )
    assert result.error is None
    denied, submitted, finished = result.value
    assert "error" in denied and "error" in submitted
    assert finished == "[]"


def test_raw_calls_in_a_session_keep_host_usable(sandbox, check_healthy):
    with sandbox.session(limits=LIMITS) as session:
        for call in ("host.call_tool('x', 'y')", "host.wait_tools(-1.0)", "host.emit('stdout', 'z' * 50_000)"):
            assert_clean(session.run(PREFIX + call))
    check_healthy(sandbox)
