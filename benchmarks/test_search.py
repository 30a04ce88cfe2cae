"""Tool search (``runtime.llm._search.ToolIndex``): latency at 10,000 tools, recall on BFCL's functions.

Goals:

* a BM25 or regex ``search`` over 10,000 tools takes <= 5 ms per query (the
  catalogue is synthetic and deterministic: ``synthetic_catalogue``);
* for context: recall@1 and recall@5 of both modes on the union of the
  function catalogues of four BFCL v4 categories (``bench_bfcl``; needs the
  ``bfcl-eval`` wheel, skipped with the reason when it is missing).

Results are checked (the tool a query was written from comes back; every
regex hit matches); timings are never asserted.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import pytest
from bench_bfcl import INSTALL, BfclSet, data_dir, load_bfcl, regex_for
from bench_support import Record, median_of, quick
from pytest_benchmark.fixture import BenchmarkFixture

from runtime.llm._search import SearchHit, ToolIndex
from runtime.llm._spec import ToolSpec

T = TypeVar("T")

N_TOOLS = 10_000
ROUNDS = 5 if quick() else 20
"""Timed rounds per latency benchmark (each runs every query once)."""

LATENCY = f"tool search, {N_TOOLS:,} synthetic tools (k=5)"
RECALL = "tool search recall on BFCL v4 (simple_python, multiple, live_simple, live_multiple)"

_WORD_LISTS = """
crm billing mail calendar storage inventory shipping support hr analytics auth chat docs payments marketing search
devops finance legal travel
---
list get create update delete search send tag archive export import approve cancel schedule assign merge sync validate
refund notify count summarize restore share lock
---
candidate invoice email meeting file order shipment ticket employee report user message document payment campaign index
deployment account contract booking customer product note comment task project team event subscription coupon label
folder webhook token alert dashboard vendor budget
"""
DOMAINS, VERBS, NOUNS = (part.split() for part in _WORD_LISTS.split("---"))
QUALIFIERS = ["", "batch", "by_id", "by_email", "v2", "draft", "bulk", "history", "summary", "status", "details"]
FILLER = [
    "Requires the caller to hold the matching permission.",
    "Results are paginated; pass the returned cursor to continue.",
    "Safe to retry: repeating the call has no further effect.",
    "Changes are recorded in the audit log.",
    "Times are in UTC.",
    "Returns an error when the record does not exist.",
]
PARAMETERS: dict[str, dict[str, object]] = {
    "id": {"type": "string", "description": "Identifier of the {noun}."},
    "limit": {"type": "integer", "description": "Maximum number of {noun}s to return."},
    "status": {"type": "string", "enum": ["open", "pending", "closed"], "description": "Only {noun}s in this state."},
    "query": {"type": "string", "description": "Free-text filter on the {noun}'s fields."},
    "since": {"type": "string", "description": "ISO 8601 date; only {noun}s changed after it."},
    "owner_email": {"type": "string", "description": "Address of the person who owns the {noun}."},
    "dry_run": {"type": "boolean", "description": "Check the request without changing anything."},
    "format": {"type": "string", "enum": ["json", "csv", "pdf"], "description": "Output format of the {noun}."},
    "note": {"type": "string", "description": "Free text kept with the change."},
}


def _fill(schema: dict[str, object], noun: str) -> dict[str, object]:
    return {key: value.format(noun=noun) if isinstance(value, str) else value for key, value in schema.items()}


def synthetic_catalogue(n: int = N_TOOLS) -> list[ToolSpec]:
    """``n`` distinct tools, the same every time: domain x verb x noun x qualifier, seeded ``random.Random(0)``.

    About one name in ten is camelCase (``crm.tagCandidateBatch``), the rest
    snake_case; each tool has a two-sentence description and 1-4 parameters.
    """
    rng = random.Random(0)
    sizes = (len(DOMAINS), len(VERBS), len(NOUNS), len(QUALIFIERS))
    specs = []
    for index in rng.sample(range(sizes[0] * sizes[1] * sizes[2] * sizes[3]), n):
        index, q = divmod(index, sizes[3])
        index, o = divmod(index, sizes[2])
        d, v = divmod(index, sizes[1])
        domain, verb, noun, qualifier = DOMAINS[d], VERBS[v], NOUNS[o], QUALIFIERS[q]
        words = [verb, noun, *qualifier.split("_")] if qualifier else [verb, noun]
        camel = rng.random() < 0.1
        name = words[0] + "".join(word.capitalize() for word in words[1:]) if camel else "_".join(words)
        how = f" ({qualifier.replace('_', ' ')})" if qualifier else ""
        description = f"{verb.capitalize()} a {noun}{how} in the {domain} service. {rng.choice(FILLER)}"
        chosen = rng.sample(sorted(PARAMETERS), rng.randint(1, 4))
        properties = {key: _fill(PARAMETERS[key], noun) for key in chosen}
        parameters = {"type": "object", "properties": properties, "required": chosen[:1]}
        specs.append(ToolSpec(name=f"{domain}.{name}", description=description, parameters=parameters))
    return specs


def _bm25_queries(specs: list[ToolSpec]) -> list[tuple[str, str]]:
    """(query, the tool it was written from): natural-language requests for 8 tools picked with a fixed seed."""
    rng = random.Random(1)
    queries = []
    for spec in rng.sample(specs, 8):
        domain, _, _ = spec.name.partition(".")
        words = spec.description.split(" in the ")[0].lower().replace("(", "").replace(")", "")
        queries.append((f"please {words} in {domain}", spec.name))
    return queries


REGEX_QUERIES = [
    r"refund",
    r"send.*email",
    r"(create|update)_invoice",
    r"^billing\.",
    r"webhook|token",
    r"tag\w*label",
    r"list|search|find",
]
"""Patterns as a model might write them (the last one is broad: every list and search tool matches)."""


@pytest.fixture(scope="module")
def catalogue() -> list[ToolSpec]:
    return synthetic_catalogue()


@pytest.fixture(scope="module")
def index(catalogue: list[ToolSpec]) -> ToolIndex:
    return ToolIndex(catalogue)


def _timed(benchmark: BenchmarkFixture, run: Callable[[], T], rounds: int) -> tuple[T, float, int]:
    """``run``'s last result, its median wall time (s) and the number of timed runs (one when benchmarks are off)."""
    walls: list[float] = []

    def one() -> T:
        start = time.perf_counter()
        out = run()
        walls.append(time.perf_counter() - start)
        return out

    result = benchmark.pedantic(one, rounds=rounds, warmup_rounds=1)
    timed = walls[-rounds:]
    return result, median_of(benchmark) or statistics.median(timed), len(timed)


def _slowest(run: Callable[[str], object], queries: list[str]) -> tuple[float, str]:
    """(best of 5 wall times, query) of the slowest query."""
    times = []
    for query in queries:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            run(query)
            best = min(best, time.perf_counter() - start)
        times.append((best, query))
    return max(times)


def test_build(benchmark: BenchmarkFixture, catalogue: list[ToolSpec], figure: Record) -> None:
    """Context: building the index of 10,000 tools (tokenizing, postings, the regex prefilter's words)."""
    built, wall, runs = _timed(benchmark, lambda: ToolIndex(catalogue), rounds=3)
    assert len(built) == N_TOOLS
    assert built.spec(catalogue[0].name) is catalogue[0]
    figure(LATENCY, "index build, 10,000 tools", wall, "s", detail=f"median of {runs}")


def test_bm25_latency(benchmark: BenchmarkFixture, catalogue: list[ToolSpec], index: ToolIndex, figure: Record) -> None:
    """Goal: BM25 search <= 5 ms per query at 10,000 tools; the tool each query was written from is in the top 5."""
    cases = _bm25_queries(catalogue)
    queries = [query for query, _ in cases]
    results, wall, runs = _timed(benchmark, lambda: [index.search(query) for query in queries], rounds=ROUNDS)
    for (query, target), hits in zip(cases, results, strict=True):
        assert target in [hit.name for hit in hits], (query, hits)
    slowest, _ = _slowest(index.search, queries)
    n = len(queries)
    detail = f"per query: median of {runs} rounds of {n} queries, / {n}; slowest {slowest * 1e3:.2f} ms"
    figure(LATENCY, "BM25 search, 10,000 tools", wall / n, "s", goal="≤ 5 ms", detail=detail)


def test_regex_latency(benchmark: BenchmarkFixture, index: ToolIndex, figure: Record) -> None:
    """Goal: regex search <= 5 ms per query at 10,000 tools; every hit matches the pattern."""

    def run(query: str) -> list[SearchHit]:
        return index.search(query, mode="regex")

    results, wall, runs = _timed(benchmark, lambda: [run(query) for query in REGEX_QUERIES], rounds=ROUNDS)
    for query, hits in zip(REGEX_QUERIES, results, strict=True):
        assert len(hits) == 5, (query, hits)
        assert re.search(query, hits[0].name, re.IGNORECASE), (query, hits[0])
    slowest, which = _slowest(run, REGEX_QUERIES)
    n = len(REGEX_QUERIES)
    detail = f"per query: median of {runs} rounds of {n} patterns, / {n}; slowest {slowest * 1e3:.2f} ms, {which!r}"
    figure(LATENCY, "regex search, 10,000 tools", wall / n, "s", goal="≤ 5 ms", detail=detail)


@pytest.fixture(scope="module")
def bfcl() -> BfclSet:
    data = data_dir()
    if data is None:
        pytest.skip(f"bfcl-eval not installed (only its data files are read): {INSTALL}")
    return load_bfcl(data)


@pytest.fixture(scope="module")
def bfcl_index(bfcl: BfclSet) -> ToolIndex:
    return ToolIndex(bfcl.catalogue)


@pytest.mark.parametrize("mode", ["bm25", "regex"])
def test_bfcl_recall(
    benchmark: BenchmarkFixture, bfcl: BfclSet, bfcl_index: ToolIndex, figure: Record, mode: Literal["bm25", "regex"]
) -> None:
    """Context: recall@1 and recall@5 on BFCL: is the function the ground truth calls among the top 1 / 5 hits?

    The query is the entry's user message (``bm25``), or the pattern a model
    might write for it (``regex``: ``bench_bfcl.regex_for``, its content
    words as alternatives); a request without a content word is a miss.
    """
    queries = [(regex_for(text) if mode == "regex" else text, target) for text, target in bfcl.queries]

    def evaluate() -> list[list[str]]:
        return [[hit.name for hit in bfcl_index.search(query, mode=mode)] if query else [] for query, _ in queries]

    ranked, wall, _ = _timed(benchmark, evaluate, rounds=1)
    top1 = sum(names[:1] == [target] for names, (_, target) in zip(ranked, queries, strict=True)) / len(queries)
    top5 = sum(target in names for names, (_, target) in zip(ranked, queries, strict=True)) / len(queries)
    assert top1 <= top5 and top5 > 0.5, (top1, top5)  # far above chance (5 in 1,000+), on fixed data
    detail = (
        f"{len(bfcl.catalogue):,} tools, {len(queries):,} queries; skipped {bfcl.multi_function} multi-function "
        f"and {bfcl.missing_target} with the target missing"
    )
    empty = sum(not query for query, _ in queries)
    timing = f"{wall / len(queries) * 1e3:.2f} ms per query" + (f"; {empty} without a content word" if empty else "")
    label = "BM25" if mode == "bm25" else "regex"
    figure(RECALL, f"{label} recall@1", 100 * top1, "%", detail=detail)
    figure(RECALL, f"{label} recall@5", 100 * top5, "%", detail=timing)
