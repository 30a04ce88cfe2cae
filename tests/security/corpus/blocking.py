"""Timing and blocking: sleeps, waits, and busy waits inside host calls.

No script may hold the host past its timeout, and a hung or spinning tool
may hold only its own call (``tool_timeout``), never the run or the host.
"""

from __future__ import annotations

from runtime import GuestCrashed, TimeoutExceeded

from ._arena import ROOMY
from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("blocking", "block")

ATTACKS = [
    A("sleep-long", "sleep far past the timeout", "import time\ntime.sleep(1000)", expect=TimeoutExceeded),
    A(
        "sleep-swallowing",
        "sleep, catching whatever interrupts it, and sleep again",
        "import time\nwhile True:\n    try:\n        time.sleep(1000)\n    except BaseException:\n        pass",
        expect=TimeoutExceeded,
    ),
    A(
        "sleep-tiny-many",
        "a million zero-length sleeps (a host crossing each)",
        "import time\nfor _ in range(10**6):\n    time.sleep(0)",
        expect=TimeoutExceeded,
    ),
    A(
        "clock-tamper",
        "fool deadline-aware code by replacing the clocks, then sleep",
        "import time\ntime.monotonic = lambda: 0.0\ntime.time = lambda: 0.0\ntime.perf_counter = lambda: 0.0\n"
        "time.sleep(1000)",
        expect=TimeoutExceeded,
    ),
    A(
        "host-sleep-infinite",
        "the raw host sleep with an infinite duration",
        "from wit_world.imports import host\nhost.sleep(float('inf'))",
        expect=TimeoutExceeded,
    ),
    A(
        "asyncio-sleep",
        "an asyncio sleep far past the timeout",
        "import asyncio\nawait asyncio.sleep(1000)",
        expect=TimeoutExceeded,
    ),
    A(
        "await-forever",
        "await an event nobody will set",
        "import asyncio\nawait asyncio.Event().wait()",
        expect=TimeoutExceeded,
    ),
    A(
        "loop-run-forever",
        "run a new event loop forever",
        "import asyncio\nasyncio.new_event_loop().run_forever()",
        expect=TimeoutExceeded,
    ),
    A(
        "select",
        "a blocking select() on no descriptors",
        "import select\nselect.select([], [], [], 1000)",
        expect=GuestCrashed,
    ),
    A("poll", "a blocking poll()", "import select\nselect.poll().poll(1_000_000)", expect=GuestCrashed),
    A(
        "wasi-clock-wait",
        "the interpreter's original time.sleep (a blocking WASI clock wait)",
        "import _imp\nspec = type('Spec', (), {'name': 'time', 'origin': None})()\n"
        "_imp.create_builtin(spec).sleep(1000)",
        expect=GuestCrashed,
    ),
    A("stdin", "block reading stdin", "import sys\n[sys.stdin.read(), input()]", expect=Expect.FAILS),
    A(
        "sleep-in-final-repr",
        "block inside __repr__ of the final value, after the script's last line",
        "import time\nclass Slow:\n    def __repr__(self):\n        time.sleep(1000)\n        return 'x'\nSlow()",
        expect=TimeoutExceeded,
    ),
    A(
        "sleep-in-error-report",
        "block inside __str__ of the uncaught exception, while the runner describes it",
        "import time\nclass E(Exception):\n    def __str__(self):\n        time.sleep(1000)\n        return 'e'\n"
        "raise E()",
        expect=TimeoutExceeded,
    ),
    A(
        "sleep-while-unwinding",
        "block in a cleanup callback while an exception unwinds",
        "import contextlib, time\nwith contextlib.ExitStack() as stack:\n    stack.callback(time.sleep, 1000)\n"
        "    raise ValueError",
        expect=TimeoutExceeded,
    ),
    A(
        "hung-sync-tool",
        "block in a hung sync tool",
        "try:\n    slow(1000)\nexcept ToolTimeoutError as e:\n    result = e.kind\nresult",
        returns="timeout",
        limits=ROOMY,
    ),
    A(
        "hung-sync-tool-loop",
        "call a hung sync tool again and again, swallowing its timeouts",
        "while True:\n    try:\n        slow(1000)\n    except ToolError:\n        pass",
        expect=TimeoutExceeded,
    ),
    A(
        "hung-async-tools-gathered",
        "gather hung async tool calls (fewer than the concurrency cap: one wave)",
        "import asyncio\nrs = await asyncio.gather(*[slow_async(1000) for _ in range(12)], return_exceptions=True)\n"
        "sorted({getattr(r, 'kind', None) for r in rs})",
        returns=["timeout"],
        limits=ROOMY,
    ),
    A(
        "busy-wait-in-host",
        "make the host spin inside sync tool calls (host CPU)",
        "import asyncio\nrs = await asyncio.gather(*[spin(1000) for _ in range(4)], return_exceptions=True)\n"
        "sorted({getattr(r, 'kind', 'ok') for r in rs})",
        returns=["timeout"],
        limits=ROOMY,
    ),
    A(
        "raw-wait-forever",
        "wait on the raw host import with a hung call in flight, again and again",
        "from wit_world.imports import host\nhost.submit_tool('slow_async', '{\"seconds\": 1000}')\n"
        "[host.wait_tools(-1.0) for _ in range(5)]",
    ),
]
