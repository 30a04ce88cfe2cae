"""The scripts and tools of the peer comparison: every peer runs exactly these.

The compute workloads are ``test_compute.py``'s six kinds (loop, recursion,
json, regex, sort, strings) at about a tenth of the size, so that the
slowest peer (an AST-walking evaluator, ~200x native) still finishes a round
in about two seconds; each prints one number, which must match native.
"""

from __future__ import annotations

import asyncio
import json

from compute_workloads import SMALL, scripts

__all__ = [
    "COMPUTE",
    "CONCURRENCY",
    "CONCURRENT",
    "FRESH",
    "MEMORY",
    "MEMORY_OUTPUT",
    "N_CALLS",
    "SEQUENTIAL",
    "SESSION",
    "SESSION_SETUP",
    "echo",
    "sleepy",
]

FRESH = "print(1+1)"
SESSION_SETUP = "x = 0"
SESSION = "x = x + 1\nx"
"""Run repeatedly in one session: its value counts the runs, which proves the state is kept."""

N_CALLS = 1000
CONCURRENCY = 100
"""Async tool calls in flight at once (otc-runtime: ``Limits.max_concurrent_tool_calls``; others: a semaphore)."""
SEQUENTIAL = f"total = 0\nfor i in range({N_CALLS}):\n    total += echo(i)\ntotal"
CONCURRENT = (
    "import asyncio\n"
    f"results = await asyncio.gather(*[sleepy(i) for i in range({N_CALLS})])\n"
    f"results == list(range({N_CALLS}))"
)

MEMORY = "import json\nrows = [{'i': i, 'sq': i * i} for i in range(100)]\nprint(len(json.dumps(rows)))\n"
MEMORY_OUTPUT = f"{len(json.dumps([{'i': i, 'sq': i * i} for i in range(100)]))}\n"


def echo(x: int) -> int:
    """Return ``x`` (a trivial tool: the cost measured is the round trip)."""
    return x


async def sleepy(i: int) -> int:
    """Sleep 10 ms, then return ``i`` (an I/O-bound tool)."""
    await asyncio.sleep(0.01)
    return i


COMPUTE = scripts(SMALL)
"""``test_compute.py``'s six scripts at about a tenth of the size."""
