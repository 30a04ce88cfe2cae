"""Resource exhaustion: CPU, memory, recursion, nesting, output, exceptions, tool calls.

Each limit is breached on purpose; the run must report the typed error
(``TimeoutExceeded``, ``MemoryLimitExceeded``...) and the host must not
grow. The corpus limits are small (``_arena.LIMITS``).
"""

from __future__ import annotations

from runtime import (
    GuestException,
    LimitExceeded,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RecursionLimitExceeded,
    TimeoutExceeded,
)

from ._arena import LIMITS, ROOMY
from ._attack import family

__all__ = ["ATTACKS"]

A = family("exhaustion", "exhaust")

MAX_TOOL_CALLS = LIMITS.max_tool_calls

ATTACKS = [
    A("cpu-busy-loop", "spin forever", "while True:\n    pass", expect=TimeoutExceeded),
    A(
        "cpu-swallowing-loop",
        "spin forever, catching every exception the runtime might raise to stop it",
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
        expect=TimeoutExceeded,
    ),
    A(
        "cpu-regex",
        "catastrophic regex backtracking",
        "import re\nre.match(r'(a+)+$$', 'a' * 40 + 'b')",
        expect=TimeoutExceeded,
    ),
    A("cpu-huge-power", "compute an astronomically large integer", "x = 7 ** (7 ** 12)\nx > 0", expect=LimitExceeded),
    A("memory-one-allocation", "allocate 1 GB at once", "x = bytearray(10**9)", expect=MemoryLimitExceeded),
    A(
        "memory-gradual",
        "allocate 1 MiB chunks until something gives",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))",
        expect=MemoryLimitExceeded,
    ),
    A(
        "memory-doubling",
        "double a string until it breaks",
        "s = 'x'\nwhile True:\n    s += s",
        expect=MemoryLimitExceeded,
    ),
    A(
        "memory-small-objects",
        "millions of small objects with the garbage collector off",
        "import gc\ngc.disable()\nx = [{'i': i} for i in range(10**8)]",
        expect=MemoryLimitExceeded,
    ),
    A(
        "memory-swallow-and-retry",
        "catch MemoryError and keep allocating",
        "keep = []\nwhile True:\n    try:\n        keep.append(bytearray(4 << 20))\n    except MemoryError:\n"
        "        keep = keep[:-1]",
        expect=(MemoryLimitExceeded, TimeoutExceeded),
    ),
    A(
        "memory-compile",
        "compile a gigantic generated program",
        "src = 'x = [' + '1,' * 20_000_000 + ']'\nexec(compile(src, 'big', 'exec'))",
        expect=MemoryLimitExceeded,
    ),
    A(
        "recursion-python",
        "unbounded Python recursion",
        "def f(n):\n    return f(n + 1)\nf(0)",
        expect=RecursionLimitExceeded,
    ),
    A(
        "recursion-raised-limit",
        "raise the recursion limit to a million, then recurse (the native stack)",
        "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)",
        expect=RecursionLimitExceeded,
    ),
    A(
        "recursion-in-repr",
        "a self-referential __repr__ in the final value",
        "class R:\n    def __repr__(self):\n        return repr(self)\nR()",
        expect=RecursionLimitExceeded,
    ),
    A(
        "nesting-json",
        "parse JSON nested 100,000 deep",
        "import json\njson.loads('[' * 100_000 + ']' * 100_000)",
        expect=RecursionLimitExceeded,
    ),
    A(
        "nesting-parser",
        "compile an expression nested 50,000 parentheses deep",
        "eval('(' * 50_000 + '1' + ')' * 50_000)",
        expect=(RecursionLimitExceeded, MemoryLimitExceeded, GuestException),
    ),
    A(
        "nesting-final-value",
        "return a list nested 100,000 deep as the final value",
        "x = []\nfor _ in range(100_000):\n    x = [x]\nx",
    ),
    A("output-print-flood", "print without end", "while True:\n    print('x' * 100)", expect=OutputLimitExceeded),
    A(
        "output-fd-flood",
        "write to descriptors 1 and 2 directly, ignoring errors",
        "import os\nwhile True:\n    for fd in (1, 2):\n        try:\n            os.write(fd, b'w' * 4096)\n"
        "        except OSError:\n            pass",
        expect=OutputLimitExceeded,
    ),
    A(
        "output-huge-value",
        "a final value of 10 MB",
        "'v' * 10_000_000",
        expect=OutputLimitExceeded,
    ),
    A(
        "exception-giant-message",
        "an exception with a 10 MB message",
        "raise ValueError('m' * 10_000_000)",
        expect=GuestException,
    ),
    A(
        "exception-long-chain",
        "an exception chained 10,000 deep (raise ... from ...)",
        "e = None\nfor i in range(10_000):\n    try:\n        raise ValueError(i) from e\n"
        "    except ValueError as x:\n        e = x\nraise e",
        # Describing it takes the guest seconds: the timeout usually ends it first.
        expect=(GuestException, RecursionLimitExceeded, TimeoutExceeded),
    ),
    A(
        "exception-group-wide",
        "an ExceptionGroup of 20,000 exceptions with notes",
        "errors = [ValueError('v' * 100) for _ in range(20_000)]\nfor e in errors[:100]:\n    e.add_note('n' * 1000)\n"
        "raise ExceptionGroup('g', errors)",
        expect=(GuestException, MemoryLimitExceeded, TimeoutExceeded),
    ),
    A(
        "tool-call-flood",
        "blocking tool calls until refused",
        "n = 0\nwhile True:\n    try:\n        echo(n)\n    except ToolError:\n        break\n    n += 1\nn",
        returns=MAX_TOOL_CALLS,
        limits=ROOMY,
    ),
    A(
        "tool-call-flood-gathered",
        "5,000 tool calls gathered at once",
        "import asyncio\nrs = await asyncio.gather(*[echo_async(i) for i in range(5_000)], return_exceptions=True)\n"
        "[sum(isinstance(r, int) for r in rs), sorted({type(r).__name__ for r in rs})]",
        returns=[MAX_TOOL_CALLS, ["ToolError", "int"]],
        limits=ROOMY,
    ),
    A(
        "tool-call-flood-raw",
        "one raw batch of 10,000 calls",
        "import json\nfrom wit_world.imports import host\n"
        "acks = json.loads(host.submit_tools(json.dumps(['echo', '{\"value\": 1}'] * 10_000)))\n"
        "sum(type(a) is int for a in acks)",
        returns=MAX_TOOL_CALLS,
        limits=ROOMY,
    ),
    A(
        "tool-result-flood",
        "ask for results far over max_tool_result_bytes, repeatedly",
        "kinds = []\nfor _ in range(5):\n    try:\n        blob(5_000_000)\n    except ToolError as e:\n"
        "        kinds.append(e.kind)\nkinds",
        returns=["result"] * 5,
    ),
]
