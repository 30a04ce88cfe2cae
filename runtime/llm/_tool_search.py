"""The tool-search meta-tool: find deferred tools instead of listing them all.

Deferred tools never appear in the tool list sent to the model (which stays
the same for the whole conversation, so the provider's prompt cache holds).
A search returns the best matches as Python stubs; from then on they can be
called from the code-action tool and the batch tool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._search import SearchHit, ToolIndex
from ._spec import ToolSpec
from ._stubs import python_stub

if TYPE_CHECKING:
    from host_functions import Tool

__all__ = ["SearchRequest", "SearchRequestError", "format_hits", "parse_search", "run_search", "search_spec"]

MAX_K = 20
"""The most tools one search returns."""


class SearchRequestError(ValueError):
    """The model's search request is malformed; ``str()`` says how to fix it."""


SearchRequest = tuple[str, Literal["bm25", "regex"], int]


def search_spec(name: str, *, hidden: int, callers: Sequence[str]) -> ToolSpec:
    """The search tool's spec; ``hidden`` is how many tools it can find and
    ``callers`` the meta-tools that can call what it finds."""
    where = " and ".join(callers) or "the code tool"
    description = (
        f"Search {hidden} more tools that are not listed, by what they do, and load the best matches: every tool "
        f"returned can be called from {where} from then on (its Python signature is shown). "
        'mode "bm25" (default) ranks by the words of the query, e.g. "refund an order"; mode "regex" '
        'matches a Python regular expression against names, descriptions and parameters, e.g. "refund|chargeback".'
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Words describing the task, or a regex in regex mode."},
            "mode": {"type": "string", "enum": ["bm25", "regex"], "default": "bm25"},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5, "description": "How many tools."},
        },
        "required": ["query"],
    }
    return ToolSpec(name=name, description=description, parameters=parameters)


def parse_search(arguments: str) -> SearchRequest:
    """(query, mode, k) of a search request. Raises ``SearchRequestError``."""
    try:
        request = json.loads(arguments)
    except (ValueError, RecursionError):
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        raise SearchRequestError('expected {"query": "<words or regex>", "mode": "bm25" | "regex", "k": 5}')
    mode = request.get("mode", "bm25")
    if mode not in ("bm25", "regex"):
        raise SearchRequestError(f'mode must be "bm25" or "regex", got {json.dumps(mode)[:50]}')
    k = request.get("k", 5)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise SearchRequestError(f"k must be an integer from 1 to {MAX_K}, got {json.dumps(k)[:50]}")
    return request["query"], mode, k


def run_search(index: ToolIndex, request: SearchRequest) -> list[SearchHit]:
    """The hits for ``request``. Raises ``SearchRequestError`` for a query the
    index rejects: empty; a regex that is invalid, too long, or refused as
    able to backtrack catastrophically; or a regex search over its time cap."""
    query, mode, k = request
    try:
        return index.search(query, mode=mode, k=k)
    except ValueError as exc:
        raise SearchRequestError(str(exc)) from None


def format_hits(request: SearchRequest, hits: Sequence[Tool]) -> str:
    """What the model reads: the tools found, as stubs it can call."""
    query, mode, _ = request
    if not hits:
        other = "regex" if mode == "bm25" else "bm25"
        return f"No tool matches {query!r} ({mode}). Try other words, or mode {other!r}."
    names = ", ".join(tool.name for tool in hits)
    stubs = "\n\n".join(python_stub(tool) if "." not in tool.name else _qualified(tool) for tool in hits)
    return f"Found {len(hits)} tools for {query!r} ({mode}): {names}. They can be called now.\n\n{stubs}"


def _qualified(tool: Tool) -> str:
    # A namespaced tool reads best with its full name in the stub.
    stub = python_stub(tool)
    return stub.replace(f"def {tool.name.rsplit('.', 1)[-1]}(", f"def {tool.name}(", 1)
