"""Find the few tools that fit a query among thousands: BM25 over words, or a regex.

``ToolIndex(specs)`` indexes the tools once; ``search(query, mode=..., k=...)``
returns the best ``k`` as ``SearchHit``s. Each tool has two fields, searched by
both modes: its name, and a body of at most ``MAX_BODY_CHARS``: the
description, then one line per parameter (its name, description and enum
values), walking nested ``properties``, ``items``, ``anyOf``/``oneOf``/``allOf``
and ``$defs`` up to ``MAX_DEPTH`` levels.

The name weighs ``NAME_WEIGHT`` times the body, in both modes: a name is a few
words picked to say what the tool does, so a query word there is stronger
evidence than the same word in a parameter's description.

* ``bm25``: Okapi BM25 (``K1``, ``B``) over tokens. The tokenizer lowercases,
  splits on non-alphanumerics and identifier boundaries (``snake_case``,
  ``camelCase``, ``crm.dotted``, digits), drops a short stopword list and
  stems lightly (``_stem``); queries and tools go through the same one. Name
  tokens count ``NAME_WEIGHT`` times in a tool's term frequencies and length.
  Each posting stores its whole contribution (idf x saturated tf with the
  length norm), so a query only adds up the postings of its own terms.
* ``regex``: the query is a Python regex, case-insensitive, matched in the
  name and in the body separately (``^``/``$`` anchor a whole field, ``.``
  stays within a line); score = ``NAME_WEIGHT`` x matches in the name +
  matches in the body (empty matches do not count). The pattern is untrusted
  (a model writes it) and ``re`` has no timeout, so ``plan_regex``
  (``_regex_plan``) first refuses any pattern that could backtrack
  catastrophically, and a search still running after ``REGEX_SECONDS``
  stops. The plan also says which tools can match (the index keeps each
  tool's words, casefolded alphanumeric runs, for that) and how to count
  matches quickly: ``str.find`` for a few literals (``send|email``), a
  case-sensitive pattern on lowercased ASCII text when that counts the same.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from runtime.llm._regex_plan import MAX_PATTERN_CHARS, WORD, plan_regex
from runtime.llm._spec import ToolSpec

__all__ = ["MAX_BODY_CHARS", "MAX_K", "MAX_PATTERN_CHARS", "NAME_WEIGHT", "SearchHit", "ToolIndex"]

NAME_WEIGHT = 2
"""How many times the name counts against the body (BM25 term frequency, regex matches)."""
K1 = 1.2
B = 0.75
MAX_K = 100
MAX_BODY_CHARS = 4000
MAX_DEPTH = 6
MAX_ENUM_VALUES = 20
PREFILTER_CLAUSES = 3
REGEX_SECONDS = 1.0
"""A regex search still running after this long stops with ``ValueError`` (``plan_regex`` bounds each match)."""

_RUN = re.compile(r"[^\W_]+")
_HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SPACE = re.compile(r"\s+")
_STOPWORD_TEXT = """
a an and any are as at be by can could do does for from how i if in into is it its me my of on or our please s should
so t than that the their them then there these this those to us was we were what when where which who will with would
you your
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchHit:
    """One tool found by ``ToolIndex.search``."""

    name: str
    """The tool's name (``ToolSpec.name``)."""
    score: float
    """How well it fits, always > 0: the BM25 score, or the weighted match count in regex mode."""


def _stem(word: str) -> str:
    """Light suffix stripping: plurals, then ``-ied``/``-ing``/``-ed``, then a final consonant ``y`` or ``e``.

    Conservative on purpose: a stem keeps 3 letters and a vowel (``string``,
    ``need`` stay), a doubled final consonant is undone (``tagging`` -> ``tag``),
    and words of 3 letters or fewer are left alone. Related forms meet on one
    stem (``tag``/``tags``/``tagged``; ``create``/``creates``/``creating`` ->
    ``creat``; ``query``/``queries`` -> ``queri``) that need not be a word.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith(("ies", "sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ied"):
        word = word[:-2]
    else:
        for suffix in ("ing", "ed"):
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and len(stem) >= 3 and not _VOWELS.isdisjoint(stem):
                last = stem[-1]
                double = len(stem) > 3 and last == stem[-2] and last not in _VOWELS and last not in "lsz"
                word = stem[:-1] if double else stem
                break
    if len(word) > 3 and word[-1] == "y" and word[-2] not in _VOWELS:
        word = word[:-1] + "i"
    elif len(word) > 3 and word[-1] == "e" and word[-2] != "e":
        word = word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    """The search terms of ``text`` (see ``_stem``), in order, repeats included."""
    return [term for run in _RUN.findall(text) for term in _run_terms(run)]


@functools.lru_cache(maxsize=1 << 16)  # catalogues repeat their words: building 10,000 tools is ~3x faster
def _run_terms(run: str) -> tuple[str, ...]:
    """The terms of one alphanumeric run: its camelCase humps and digit groups, lowercased, stemmed."""
    words = (part.lower() for part in (_HUMP.findall(run) if run.isascii() else (run,)))
    return tuple(_stem(word) for word in words if word not in _STOPWORDS)


def _schema_lines(schema: Any, lines: list[str], depth: int = 0) -> None:
    """Append one line per property of ``schema`` (name, description, enum values), recursively."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return
    properties = schema.get("properties")
    for name, sub in properties.items() if isinstance(properties, dict) else ():
        parts = [str(name)]
        if isinstance(sub, dict):
            if isinstance(sub.get("description"), str):
                parts.append(sub["description"])
            if isinstance(sub.get("enum"), list):
                parts.append("(" + ", ".join(str(v)[:50] for v in sub["enum"][:MAX_ENUM_VALUES]) + ")")
        lines.append(": ".join(parts))
        _schema_lines(sub, lines, depth + 1)
    for key in ("items", "additionalProperties"):
        _schema_lines(schema.get(key), lines, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        for sub in subs if isinstance(subs, list) else ():
            _schema_lines(sub, lines, depth + 1)
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        for name, sub in defs.items() if isinstance(defs, dict) else ():
            description = sub.get("description") if isinstance(sub, dict) else None
            lines.append(f"{name}: {description}" if isinstance(description, str) else str(name))
            _schema_lines(sub, lines, depth + 1)


def _body(spec: ToolSpec) -> str:
    """The tool's searchable text besides its name: description and parameter lines, bounded."""
    lines = [spec.description]
    _schema_lines(spec.parameters, lines)
    return "\n".join(_SPACE.sub(" ", line).strip() for line in lines)[:MAX_BODY_CHARS]


def _count_literals(text: str, literals: list[str]) -> int:
    """``len(re.findall("|".join(map(re.escape, literals)), text))``, without the (slow) regex engine.

    Like the regex engine: the leftmost occurrence wins, at one position the
    earlier alternative, and the search resumes after the match.
    """
    hits = []
    for order, literal in enumerate(literals):
        at = text.find(literal)
        while at != -1:
            hits.append((at, order, at + len(literal)))
            at = text.find(literal, at + 1)
    if len(hits) < 2:
        return len(hits)
    hits.sort()
    count = end = 0
    for at, _, stop in hits:
        if at >= end:
            count, end = count + 1, stop
    return count


class ToolIndex:
    """A search index over tool specs, built once (see the module docstring)."""

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        """Index ``specs``; raises ``ValueError`` when two share a name."""
        self._specs: dict[str, ToolSpec] = {}
        self._names: list[str] = []
        self._bodies: list[str] = []
        self._folded: list[tuple[str, str] | None] = []  # (name, body) lowercased, for ASCII text only
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"duplicate tool name {spec.name!r}: every tool in a ToolIndex needs its own name")
            self._specs[spec.name] = spec
            self._names.append(spec.name)
            self._bodies.append(_body(spec))
            ascii_text = spec.name.isascii() and self._bodies[-1].isascii()
            self._folded.append((spec.name.lower(), self._bodies[-1].lower()) if ascii_text else None)
        self._build_bm25()
        self._build_words()

    def _build_bm25(self) -> None:
        counts: list[Counter[str]] = []
        for name, body in zip(self._names, self._bodies, strict=True):
            tf = Counter(_tokens(body))
            for term in _tokens(name):
                tf[term] += NAME_WEIGHT
            counts.append(tf)
        lengths = [sum(tf.values()) for tf in counts]
        average = sum(lengths) / len(lengths) if lengths and sum(lengths) else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc, tf in enumerate(counts):
            for term, n in tf.items():
                postings.setdefault(term, []).append((doc, n))
        n_docs = len(counts)
        self._postings: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {}
        for term, docs in postings.items():
            idf = math.log(1.0 + (n_docs - len(docs) + 0.5) / (len(docs) + 0.5))  # > 0 even for common terms
            impacts = tuple(idf * n * (K1 + 1) / (n + K1 * (1 - B + B * lengths[doc] / average)) for doc, n in docs)
            self._postings[term] = (tuple(doc for doc, _ in docs), impacts)

    def _build_words(self) -> None:
        """The regex prefilter: every word (casefolded alphanumeric run), the tools holding it, one text of all."""
        word_docs: dict[str, list[int]] = {}
        for doc, (name, body) in enumerate(zip(self._names, self._bodies, strict=True)):
            for word in set(WORD.findall(f"{name}\n{body}".casefold())):
                word_docs.setdefault(word, []).append(doc)
        self._word_docs = list(word_docs.values())
        self._vocabulary = "\n".join(word_docs)
        self._word_starts = [0]
        for word in word_docs:
            self._word_starts.append(self._word_starts[-1] + len(word) + 1)  # the last one is a sentinel

    def __len__(self) -> int:
        return len(self._names)

    def spec(self, name: str) -> ToolSpec | None:
        """The indexed spec called ``name``, or None."""
        return self._specs.get(name)

    def search(self, query: str, *, mode: Literal["bm25", "regex"] = "bm25", k: int = 5) -> list[SearchHit]:
        """The best ``k`` tools for ``query``, best first (ties in indexing order); only tools that score > 0.

        Raises ``ValueError`` for an empty query, ``k`` outside 1..``MAX_K``,
        an unknown ``mode``, and in regex mode a pattern that does not compile,
        is longer than ``MAX_PATTERN_CHARS`` or could backtrack catastrophically
        (``plan_regex``), or a search that runs over ``REGEX_SECONDS``; the
        message says how to fix the query.
        """
        if mode not in ("bm25", "regex"):
            raise ValueError(f"unknown search mode {mode!r}: use 'bm25' (words) or 'regex' (a Python regex)")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k={k!r} is out of range: ask for 1 to {MAX_K} tools")
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"empty query {query!r}: describe the tool you need (words, or a regex in regex mode)")
        scores = self._bm25(query) if mode == "bm25" else self._regex(query)
        if len(scores) > k:  # keep the k best scores and whatever ties the last of them
            cut = heapq.nlargest(k, scores.values())[-1]
            scores = {doc: score for doc, score in scores.items() if score >= cut}
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [SearchHit(name=self._names[doc], score=score) for doc, score in best]

    def _bm25(self, query: str) -> dict[int, float]:
        # Each query term once, in query order: the same sums, to the last bit, on every run.
        found = [self._postings[term] for term in dict.fromkeys(_tokens(query)) if term in self._postings]
        if not found:
            return {}
        found.sort(key=lambda postings: len(postings[0]), reverse=True)
        scores = dict(zip(*found[0], strict=True))  # the longest postings list at C speed
        get = scores.get
        for docs, impacts in found[1:]:
            for doc, impact in zip(docs, impacts, strict=True):
                scores[doc] = get(doc, 0.0) + impact
        return scores

    def _regex(self, query: str) -> dict[int, float]:
        plan = plan_regex(query)
        if plan.literals is not None:
            return self._literal_scores(plan.literals, plan.count)
        return self._scores(self._candidates(plan.clauses), plan.fast_count, plan.count)

    def _literal_scores(self, literals: tuple[str, ...], slow: Callable[[str], int]) -> dict[int, float]:
        """``_scores`` for a pattern that is a few literals (``send|email``, what models mostly write).

        Each tool is searched only for the literals its words can hold, with
        ``str.count``/``str.find``: the regex engine is slow on alternations.
        """
        present: dict[int, list[str]] = {}
        for literal in literals:
            runs = WORD.findall(literal)
            docs = self._docs_with(frozenset([max(runs, key=len)])) if runs else range(len(self._names))
            for doc in docs or ():
                present.setdefault(doc, []).append(literal)
        scores: dict[int, float] = {}
        for doc in sorted(present):
            folded, held = self._folded[doc], present[doc]
            if folded is None:
                score = NAME_WEIGHT * slow(self._names[doc]) + slow(self._bodies[doc])
            elif len(held) == 1:  # str.count: the same non-overlapping, left-to-right count
                score = NAME_WEIGHT * folded[0].count(held[0]) + folded[1].count(held[0])
            else:
                score = NAME_WEIGHT * _count_literals(folded[0], held) + _count_literals(folded[1], held)
            if score:
                scores[doc] = float(score)
        return scores

    def _scores(
        self, docs: Iterable[int], fast: Callable[[str], int] | None, slow: Callable[[str], int]
    ) -> dict[int, float]:
        """Weighted match counts in ``docs``: ``fast`` counts in lowercased ASCII text, ``slow`` in the text.

        Raises ``ValueError`` after ``REGEX_SECONDS``: the guard keeps each
        match quadratic at worst, which thousands of long bodies still add up.
        """
        scores: dict[int, float] = {}
        stop = time.perf_counter() + REGEX_SECONDS
        for doc in docs:
            if time.perf_counter() > stop:
                raise ValueError(
                    f"regex search stopped after {REGEX_SECONDS:g} s, too slow over {len(self)} tools: search for "
                    "the words themselves, e.g. 'send|email', or start the pattern with a word, e.g. 'refund.*order'"
                )
            folded = self._folded[doc]
            if fast is not None and folded is not None:
                score = NAME_WEIGHT * fast(folded[0]) + fast(folded[1])
            else:
                score = NAME_WEIGHT * slow(self._names[doc]) + slow(self._bodies[doc])
            if score:
                scores[doc] = float(score)
        return scores

    def _candidates(self, clauses: Sequence[frozenset[str]]) -> Sequence[int]:
        """The tools (ascending) that can match: those with a word containing a string of each clause.

        Only the first ``PREFILTER_CLAUSES`` clauses (the plan puts the most
        selective first) are used, and a clause that leaves more than half of
        the tools is dropped (it costs more than it saves).
        """
        found: set[int] | None = None
        for clause in clauses[:PREFILTER_CLAUSES]:
            docs = self._docs_with(clause, limit=len(self._names) // 2)
            if docs is not None:
                found = docs if found is None else found & docs
        return range(len(self._names)) if found is None else sorted(found)

    def _docs_with(self, clause: frozenset[str], *, limit: int | None = None) -> set[int] | None:
        """The tools with a word containing one of ``clause``'s strings; None when there are more than ``limit``."""
        found: set[int] = set()
        text, starts = self._vocabulary, self._word_starts
        for fragment in clause:
            at = text.find(fragment)
            while at != -1:
                word = bisect_right(starts, at) - 1
                found.update(self._word_docs[word])
                if limit is not None and len(found) > limit:
                    return None
                at = text.find(fragment, starts[word + 1])
        return found
