"""``ToolSet``: the tools granted to a sandbox, by unique name."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runtime._errors import ToolDefinitionError

from ._tool import Tool, check_tool_name

__all__ = ["ToolSet"]


class ToolSet:
    """An immutable collection of tools with unique names.

    Usage::

        crm = ToolSet([list_candidates, tag_candidate], namespace="crm")
        everything = ToolSet([crm, ToolSet([send_email])])   # sets nest
        sandbox = Sandbox(tools=everything)

    Items may be ``Tool`` objects, plain functions (described with
    ``Tool.from_function``) or other ToolSets. ``namespace`` prefixes every
    name (``crm.list_candidates``); in the guest it becomes an object
    (``crm.list_candidates(...)``). Two tools with one name raise
    ``ToolDefinitionError`` naming both.
    """

    def __init__(
        self, tools: Iterable[Tool | ToolSet | Callable[..., Any]] = (), *, namespace: str | None = None
    ) -> None:
        if namespace is not None:
            check_tool_name(namespace)
        self.namespace = namespace
        self._tools: dict[str, Tool] = {}
        for item in tools:
            members = (
                item if isinstance(item, ToolSet) else [item if isinstance(item, Tool) else Tool.from_function(item)]
            )
            for member in members:
                named = member if namespace is None else member.renamed(f"{namespace}.{member.name}")
                self._add(named)

    def _add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            first = self._tools[tool.name].function
            raise ToolDefinitionError(
                f"two tools are named {tool.name!r}: {getattr(first, '__qualname__', first)!s} and "
                f"{getattr(tool.function, '__qualname__', tool.function)!s}; rename one or use a namespace"
            )
        for existing in self._tools:
            if existing.startswith(tool.name + ".") or tool.name.startswith(existing + "."):
                raise ToolDefinitionError(f"tool {tool.name!r} clashes with {existing!r}: a name cannot be both")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def close_matches(self, name: str, limit: int = 3) -> list[str]:
        """Tool names that look like ``name`` (for error messages)."""
        return difflib.get_close_matches(name, list(self._tools), n=limit, cutoff=0.6)

    @property
    def names(self) -> list[str]:
        """Every tool name, in the order tools were added."""
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def guest_json(self) -> str:
        """The JSON list the guest builds its tool functions from: names,
        docstrings (with parameter docs) and signatures. Nothing else about a
        tool (its callable, its context) ever reaches the guest."""
        specs = []
        for tool in self._tools.values():
            doc = tool.description
            documented = [(n, p.get("description")) for n, p in tool.parameters.get("properties", {}).items()]
            lines = [f"    {name}: {text}" for name, text in documented if text]
            if lines:
                doc = (doc + "\n\nArgs:\n" + "\n".join(lines)).strip()
            specs.append({"name": tool.name, "doc": doc, "signature": tool.schema.guest_signature})
        return json.dumps(specs, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"ToolSet({self.names!r})"
