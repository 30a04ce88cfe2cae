"""BFCL v4's public function-calling data as a tool-search test set (importable from the benchmark modules).

The data comes from the ``bfcl-eval`` wheel, installed without its
dependencies (``pip install --no-deps bfcl-eval==2026.3.23``). The package is
never imported (its ``__init__`` pulls in heavy dependencies): its JSON-lines
files are located through the distribution's metadata.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.llm._search import MAX_PATTERN_CHARS
from runtime.llm._spec import ToolSpec

__all__ = ["CATEGORIES", "INSTALL", "BfclSet", "content_words", "data_dir", "load_bfcl", "regex_for"]

CATEGORIES = ("simple_python", "multiple", "live_simple", "live_multiple")
"""The single-call categories: every entry's ground truth names one function."""
INSTALL = "pip install --no-deps bfcl-eval==2026.3.23"

_WORDS = re.compile(r"[A-Za-z]+")
_STOPWORD_TEXT = """
about after also and any are been but can could does for from give had has have her his how into its just let like may
more most much need not now one our out over please should some such than that the their them then there these they this
those through too two under use using very want was were what when where which while who why will with would you your
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Function words a model would leave out of a pattern (only words of 3+ letters are considered)."""


@dataclass(frozen=True, kw_only=True)
class BfclSet:
    """The union of the categories' function catalogues and one (query, expected tool) per usable entry."""

    catalogue: list[ToolSpec]
    """Every function of the categories, deduplicated by name (the first definition kept)."""
    queries: list[tuple[str, str]]
    """(the entry's user message text, the one function its ground truth calls)."""
    entries: int
    """Entries read, usable or not."""
    multi_function: int
    """Entries skipped: their ground truth calls more than one distinct function."""
    missing_target: int
    """Entries skipped: their ground truth function is not in the catalogue."""


def data_dir() -> Path | None:
    """``bfcl_eval/data`` of the installed wheel, or None when ``bfcl-eval`` is not installed."""
    try:
        distribution = importlib.metadata.distribution("bfcl-eval")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file("bfcl_eval/data")))
    return path if path.is_dir() else None


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _spec(function: dict[str, Any]) -> ToolSpec:
    # BFCL's schemas say "dict"/"float" where JSON Schema says "object"/"number": search reads only names and text.
    parameters = function.get("parameters")
    return ToolSpec(
        name=function["name"],
        description=function.get("description") or "",
        parameters=parameters if isinstance(parameters, dict) else {},
    )


def load_bfcl(data: Path) -> BfclSet:
    """Read the ``CATEGORIES`` under ``data`` (questions, and ground truth from ``possible_answer/``)."""
    catalogue: dict[str, ToolSpec] = {}
    pending: list[tuple[str, set[str]]] = []
    for category in CATEGORIES:
        file = f"BFCL_v4_{category}.json"
        truth = {entry["id"]: entry["ground_truth"] for entry in _read(data / "possible_answer" / file)}
        for entry in _read(data / file):
            for function in entry["function"]:
                catalogue.setdefault(function["name"], _spec(function))
            text = "\n".join(m["content"] for turn in entry["question"] for m in turn if m["role"] == "user")
            pending.append((text, {name for call in truth[entry["id"]] for name in call}))
    queries = [(text, next(iter(names))) for text, names in pending if len(names) == 1 and names <= catalogue.keys()]
    multi = sum(1 for _, names in pending if len(names) != 1)
    return BfclSet(
        catalogue=list(catalogue.values()),
        queries=queries,
        entries=len(pending),
        multi_function=multi,
        missing_target=len(pending) - multi - len(queries),
    )


def content_words(text: str) -> list[str]:
    """The request's words of 3+ letters that are not function words, lowercased, first occurrence only."""
    words = (word.lower() for word in _WORDS.findall(text) if len(word) >= 3)
    return list(dict.fromkeys(word for word in words if word not in _STOPWORDS))


def regex_for(text: str) -> str:
    """The pattern a model might write for ``text``: its content words as alternatives (``send|email|...``).

    Stands in, deterministically, for a model writing the pattern; words that
    would take it past ``MAX_PATTERN_CHARS`` are left out, as a model would
    have to. Empty when the request has no content word.
    """
    pattern = ""
    for word in content_words(text):
        longer = f"{pattern}|{re.escape(word)}" if pattern else re.escape(word)
        if len(longer) > MAX_PATTERN_CHARS:
            break
        pattern = longer
    return pattern
