"""The compute suite's six scripts (loop, recursion, json, regex, sort, strings), at two sizes.

``FULL`` is ``test_compute.py``'s (sandbox against native CPython); ``SMALL``,
about a tenth of it, is the peer comparison's, so that the slowest peer (an
AST-walking evaluator, ~200x native) still finishes a round in about two
seconds. Each script prints one number, which every harness checks against
native CPython's.
"""

from __future__ import annotations

__all__ = ["FULL", "SMALL", "scripts"]

_TEMPLATES: dict[str, str] = {
    "loop": """
def work(n):
    total = 0
    for i in range(n):
        total += i * 3 % 7
    return total
print(work({loop}))
""",
    "fib": """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
print(fib({fib}))
""",
    "json": """
import json
def work():
    doc = {{"users": [{{"id": i, "name": f"user{{i}}", "tags": ["a", "b"], "score": i * 1.5, "on": i % 2 == 0}}
                     for i in range(200)]}}
    n = 0
    for _ in range({json}):
        n += len(json.loads(json.dumps(doc))["users"])
    return n
print(work())
""",
    "regex": r"""
import re
def work():
    rows = (f"user{{i}}@example{{i % 7}}.com id={{i}} date=2024-{{i % 12 + 1:02d}}-{{i % 28 + 1:02d}}"
            for i in range(2000))
    text = " ".join(rows)
    email = re.compile(r"([a-z]+\d+)@(example\d)\.com")
    date = re.compile(r"date=(\d{{4}})-(\d{{2}})-(\d{{2}})")
    n = 0
    for _ in range({regex}):
        n += len(email.findall(text)) + sum(int(m.group(2)) for m in date.finditer(text))
    return n
print(work())
""",
    "sort": """
def work():
    seed = 12345
    data = []
    for _ in range({sort}):
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
    for i in range({strings}):
        s = f"item-{{i:05d}}"
        parts.append(s.upper().replace("ITEM", "x").split("-")[1])
    joined = ",".join(parts)
    return len(joined) + joined.count("7") + len(joined.lower().split(","))
print(work())
""",
}

FULL = {"loop": 300_000, "fib": 24, "json": 25, "regex": 5, "sort": 10_000, "strings": 20_000}
"""Sizes for ``test_compute.py``: each takes tens of milliseconds in native CPython."""
SMALL = {"loop": 30_000, "fib": 19, "json": 5, "regex": 1, "sort": 2_000, "strings": 4_000}
"""Sizes for the peer comparison (``peers/peer_workloads.py``)."""


def scripts(sizes: dict[str, int]) -> dict[str, str]:
    """The six scripts at ``sizes`` (an iteration count or argument per script)."""
    return {name: template.format(**sizes) for name, template in _TEMPLATES.items()}
