"""A tool is data: a name, a description, JSON Schemas and the callable."""

from __future__ import annotations

import builtins
import inspect
import keyword
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

import pydantic
import pydantic_core

from runtime._errors import ToolDefinitionError

from ._context import ToolContext
from ._schema import FunctionSchema, function_schema

__all__ = ["Tool", "ToolArgumentError", "check_tool_name", "tool"]

# Names the guest already uses at top level: a tool there would hide them.
_RESERVED = frozenset({"tools", "asyncio", "ToolError", "ToolArgumentError", "ToolTimeoutError", *dir(builtins)})


def check_tool_name(name: str) -> str:
    """Return ``name`` if every dotted part is a public Python identifier.
    Raises ``ToolDefinitionError`` saying which part is not, and why."""
    if not isinstance(name, str):
        raise ToolDefinitionError(f"tool name {name!r} is invalid: it is a {type(name).__name__}, not a string")
    for part in name.split("."):
        if not part:
            why = "it has an empty part (a leading, trailing or doubled '.')"
        elif not part.isidentifier():
            why = f"{part!r} is not a Python identifier"
        elif keyword.iskeyword(part):
            why = f"{part!r} is a Python keyword"
        elif part.startswith("_"):
            why = f"{part!r} starts with '_'"
        else:
            continue
        raise ToolDefinitionError(
            f"tool name {name!r} is invalid: {why}; use public Python identifiers, "
            "optionally dotted for a namespace (crm.list_candidates)"
        )
    parts = name.split(".")
    if parts[0] in _RESERVED:
        raise ToolDefinitionError(
            f"tool name {name!r} is invalid: {parts[0]!r} would hide a name the guest's scripts use "
            "(a builtin or a tools name); rename it or put it in a namespace"
        )
    return name


class ToolArgumentError(Exception):
    """A call's arguments do not match the tool's schema; ``str()`` says which and why."""


def _describe_validation(name: str, exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        kind = error["type"]
        if kind == "missing":
            problems.append(f"missing required argument {where!r}")
        elif kind == "extra_forbidden":
            problems.append(f"unexpected argument {where!r}")
        else:
            got = repr(error.get("input"))
            got = got if len(got) <= 60 else got[:57] + "..."
            problems.append(f"argument {where!r}: {error['msg']} (got {got})")
    more = exc.error_count() - len(problems)
    return f"{name}(): " + "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A function the guest may call, described for the guest and for models.

    Build one with ``@tool`` or ``Tool.from_function``; a ``ToolSet`` holds many.
    """

    name: str
    """What the script calls it (``crm.list_candidates`` for a namespaced tool)."""
    description: str
    """What it does, for the model and for ``help()`` in the guest."""
    parameters: dict[str, Any]
    """JSON Schema of the arguments (an object)."""
    returns: dict[str, Any] | None
    """JSON Schema of the result, when the function's return type says."""
    function: Callable[..., Any]
    """The Python callable, sync or async."""
    is_async: bool
    """Whether ``function`` is a coroutine function (runs on an event loop)."""
    inline: bool = False
    """Run a sync tool on the sandbox's own thread instead of the tool thread
    pool: fastest, for quick functions without I/O, but ``Limits.tool_timeout``
    cannot stop it (no Python thread can be stopped)."""
    schema: FunctionSchema = field(repr=False)

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        inline: bool = False,
    ) -> Tool:
        """Describe ``function`` as a tool: schemas from its type hints (pydantic
        models, dataclasses, enums and datetimes included), description and
        per-parameter docs from its docstring. Raises ``ToolDefinitionError``."""
        if not callable(function):
            raise ToolDefinitionError(f"a tool needs a callable, got {type(function).__name__}")
        tool_name = check_tool_name(name or str(getattr(function, "__name__", "")))
        is_async = inspect.iscoroutinefunction(function)
        if inline and is_async:
            raise ToolDefinitionError(f"tool {tool_name!r}: inline=True is for sync functions")
        schema = function_schema(function, tool_name, description)
        return cls(
            name=tool_name,
            description=schema.description,
            parameters=schema.parameters,
            returns=schema.returns,
            function=function,
            is_async=is_async,
            inline=inline,
            schema=schema,
        )

    def renamed(self, name: str) -> Tool:
        """The same tool under another name (namespacing uses this)."""
        return Tool(
            name=check_tool_name(name),
            description=self.description,
            parameters=self.parameters,
            returns=self.returns,
            function=self.function,
            is_async=self.is_async,
            inline=self.inline,
            schema=self.schema,
        )

    def bind(self, arguments_json: str | bytes) -> tuple[list[Any], dict[str, Any]]:
        """Validate a JSON object of arguments; (positional, keyword) for the call.

        Raises ``ToolArgumentError`` naming the tool, the parameter and what
        was expected."""
        try:
            # The validator itself: model_validate_json's wrapper costs more than the validation.
            model = self.schema.arguments.__pydantic_validator__.validate_json(arguments_json)
        except pydantic.ValidationError as exc:
            raise ToolArgumentError(_describe_validation(self.name, exc)) from None
        values = dict(model.__dict__)  # exactly the fields (extras are forbidden)
        positional = [values.pop(name) for name in self.schema.positional_only]
        return positional, values

    def invoke(self, positional: list[Any], keywords: dict[str, Any], context: ToolContext[Any] | None) -> Any:
        """Call the function (for an async tool: create its coroutine); ``context``
        is needed only when the function declares a ``ToolContext`` parameter."""
        if self.schema.context_parameter is not None:
            keywords = {**keywords, self.schema.context_parameter: context}
        return self.function(*positional, **keywords)

    @staticmethod
    def serialize(result: Any) -> str:
        """The result as JSON text (pydantic models, dataclasses, datetimes,
        enums, UUIDs, decimals and sets included). Raises ``TypeError`` for
        anything else."""
        try:
            return pydantic_core.to_json(result, serialize_unknown=False).decode("utf-8")
        except pydantic_core.PydanticSerializationError as exc:
            raise TypeError(f"the result of type {type(result).__name__} is not JSON-serialisable") from exc


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, inline: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    inline: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a ``Tool`` from a function: ``@tool`` or ``@tool(name=..., inline=True)``.

    The decorated name is the ``Tool``; the original function stays callable
    as ``.function``.
    """
    if function is not None:
        return Tool.from_function(function)

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool.from_function(func, name=name, description=description, inline=inline)

    return decorate
