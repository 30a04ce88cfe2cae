"""The daemon's tools: Python sources, HTTP backends and tools given in code, in one ``ToolSet``.

A Python source is ``module:attribute`` (dotted attributes allowed): a
``ToolSet``, a ``Tool``, or a callable taking no arguments that returns one.
Every tool is then wrapped (``rate_limited``) so that each call is charged to
the caller's tool-call bucket before it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from host_functions import Tool, ToolContext, ToolDefinitionError, ToolError, ToolSet

from ._auth import Identity
from ._errors import ConfigError
from ._http_tools import HttpTool, HttpToolClient
from ._rate_limit import RateLimiter

__all__ = ["load_tools", "rate_limited"]

# The wrapper's context parameter: tool parameters may not start with "_",
# so this name cannot collide with one.
_CONTEXT = "_otc_context"


def _import(source: str) -> ToolSet | Tool:
    module_name, _, attribute = source.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"tool source {source!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"tool source {source!r}: {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(value, (ToolSet, Tool)) and callable(value):
        try:
            value = value()
        except Exception as exc:
            raise ConfigError(f"tool source {source!r}: calling it failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, (ToolSet, Tool)):
        raise ConfigError(f"tool source {source!r} is a {type(value).__name__}, not a ToolSet or a Tool")
    return value


def load_tools(
    sources: Iterable[str], http_tools: Iterable[HttpTool], client: HttpToolClient, given: ToolSet | None = None
) -> ToolSet:
    """Every configured tool, and the ``given`` ones (``create_app(tools=...)``).
    Raises ``ConfigError`` for a source that cannot be loaded, or two tools with
    one name (naming both sources)."""
    origins: dict[str, str] = {}
    tools: list[Tool] = []
    items: list[tuple[str, Iterable[Tool]]] = [("create_app(tools=...)", list(given or ()))]
    items += [(source, _members(_import(source))) for source in sources]
    items += [(f"http_tools[{spec.name!r}]", [spec.to_tool(client)]) for spec in http_tools]
    for origin, members in items:
        for tool in members:
            if tool.name in origins:
                raise ConfigError(f"two tools are named {tool.name!r}: from {origins[tool.name]} and from {origin}")
            origins[tool.name] = origin
            tools.append(tool)
    try:
        return ToolSet(tools)
    except ToolDefinitionError as exc:  # e.g. "crm" and "crm.get" cannot both be names
        raise ConfigError(f"the configured tools conflict: {exc}") from None


def _members(value: ToolSet | Tool) -> list[Tool]:
    return [value] if isinstance(value, Tool) else list(value)


def rate_limited(tool: Tool, limiter: RateLimiter, on_refused: Callable[[], object] = lambda: None) -> Tool:
    """``tool``, charging each call to the caller's bucket in ``limiter`` first.

    A refused call raises ``ToolError`` (the script can catch it and retry
    later); the tool itself is not called. The run's context must be an
    ``Identity`` (the daemon passes the caller's).
    """
    inner_context = tool.schema.context_parameter
    inner = tool.function

    def admit(context: ToolContext[Any]) -> None:
        identity = context.deps
        key = identity.name if isinstance(identity, Identity) else ""
        wait = limiter.acquire(key)
        if wait:
            on_refused()
            raise ToolError(
                f"tool-call rate limit reached ({limiter.limit.per_second:g}/s, burst {limiter.limit.burst}): "
                f"retry in {wait:.2f} s"
            )

    def arguments(keywords: dict[str, Any]) -> dict[str, Any]:
        context = keywords.pop(_CONTEXT)
        admit(context)
        if inner_context is not None:
            keywords[inner_context] = context
        return keywords

    function: Callable[..., Any]
    if tool.is_async:

        async def function(*positional: Any, **keywords: Any) -> Any:
            return await inner(*positional, **arguments(keywords))

    else:

        def function(*positional: Any, **keywords: Any) -> Any:
            return inner(*positional, **arguments(keywords))

    schema = dataclasses.replace(tool.schema, context_parameter=_CONTEXT)
    return dataclasses.replace(tool, function=function, schema=schema)
