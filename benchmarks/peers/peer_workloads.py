"""The scripts and tools of the peer comparison: every peer runs exactly these.

The compute workloads are ``test_compute.py``'s six kinds (loop, recursion,
json, regex, sort, strings) at about a tenth of the size, so that the
slowest peer (an AST-walking evaluator, ~200x native) still finishes a round
in about two seconds; each prints one number, which must match native.
"""

from __future__ import annotations

import asyncio
import json

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


COMPUTE: dict[str, str] = {
    "loop": """
def work(n):
    total = 0
    for i in range(n):
        total += i * 3 % 7
    return total
print(work(30_000))
""",
    "fib": """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
print(fib(19))
""",
    "json": """
import json
def work():
    doc = {"users": [{"id": i, "name": f"user{i}", "tags": ["a", "b"], "score": i * 1.5, "on": i % 2 == 0}
                     for i in range(200)]}
    n = 0
    for _ in range(5):
        n += len(json.loads(json.dumps(doc))["users"])
    return n
print(work())
""",
    "regex": r"""
import re
def work():
    rows = [f"user{i}@example{i % 7}.com id={i} date=2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}" for i in range(1000)]
    text = " ".join(rows)
    email = re.compile(r"([a-z]+\d+)@(example\d)\.com")
    date = re.compile(r"date=(\d{4})-(\d{2})-(\d{2})")
    return len(email.findall(text)) + sum(int(m.group(2)) for m in date.finditer(text))
print(work())
""",
    "sort": """
def work():
    seed = 12345
    data = []
    for _ in range(2_000):
        seed = (seed * 1103515245 + 12345) % 2**31
        data.append(seed)
    words = sorted(str(x) for x in data)
    pairs = sorted(zip(data, words), key=lambda p: (p[0] % 1000, p[1]))
    return sorted(data)[len(data) // 2] + len(words[0]) + pairs[0][0]
print(work())
""",
    "strings": """
def work():
    parts = []
    for i in range(4_000):
        s = f"item-{i:05d}"
        parts.append(s.upper().replace("ITEM", "x").split("-")[1])
    joined = ",".join(parts)
    return len(joined) + joined.count("7") + len(joined.lower().split(","))
print(work())
""",
}
