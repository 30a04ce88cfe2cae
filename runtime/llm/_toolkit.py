"""``Toolkit``: an application's tools, exposed to a model through the meta-tools.

Each ToolSet is exposed one of three ways, and the ways compose:

- ``direct``: each tool is in the model's tool list; it can also be called
  from the code tool and the batch tool;
- ``deferred``: not listed; the model finds them with the tool-search tool,
  after which the code tool and the batch tool can call them;
- ``code_only``: callable only from scripts (listed as stubs in the code
  tool's description).

A ``Toolkit`` is shared (it owns the sandbox and the search index); each
agent conversation gets its own ``Conversation`` from it, which remembers
what that conversation has found with search.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from host_functions import Tool, ToolSet
from runtime._errors import ToolDefinitionError
from runtime._limits import Limits
from runtime._sandbox import Sandbox

from ._search import ToolIndex
from ._spec import ToolSpec, wire_name

if TYPE_CHECKING:
    from ._conversation import Conversation

__all__ = ["Toolkit"]

ToolsLike = ToolSet | Iterable[Any] | None


def _toolset(tools: ToolsLike) -> ToolSet:
    if tools is None:
        return ToolSet()
    return tools if isinstance(tools, ToolSet) else ToolSet(tools)


class Toolkit:
    """The tools a model may use, and how each reaches it.

    Usage::

        kit = Toolkit(direct=ToolSet([get_weather]), deferred=big_catalogue)
        chat = kit.conversation()
        request_tools = providers.anthropic.tools(chat.specs())
        ...
        results = chat.handle_all(providers.anthropic.tool_requests(response))

    ``limits`` apply to every code action and batch (a batch's calls share
    ``limits.timeout``); ``output_budget`` is the most characters of output
    one meta-tool call returns to the model (more is cut, with a marker).
    ``code_action`` and ``batch`` switch those meta-tools off; the search tool
    is offered exactly when there are deferred tools.
    Raises ``ToolDefinitionError`` when two tools share a name, a tool takes a
    meta-tool's name, or a name cannot be sent to a model.
    """

    code_tool = "execute_code"
    """The code-action tool's name."""
    batch_tool = "batch"
    """The batch tool's name."""
    search_tool = "tool_search"
    """The tool-search tool's name."""

    def __init__(
        self,
        *,
        direct: ToolsLike = None,
        deferred: ToolsLike = None,
        code_only: ToolsLike = None,
        limits: Limits | None = None,
        output_budget: int = 20_000,
        code_action: bool = True,
        batch: bool = True,
        pool_size: int = 2,
    ) -> None:
        if isinstance(output_budget, bool) or not isinstance(output_budget, int) or output_budget < 1000:
            raise ValueError(f"output_budget={output_budget!r}: expected an int of at least 1000 characters")
        self.direct, self.deferred, self.code_only = _toolset(direct), _toolset(deferred), _toolset(code_only)
        self.tools = ToolSet([self.direct, self.deferred, self.code_only])  # raises on a name used twice
        meta = {self.code_tool, self.batch_tool, self.search_tool}
        for tool in self.tools:
            try:
                wire_name(tool.name)
            except ValueError as exc:
                raise ToolDefinitionError(str(exc)) from None
            if tool.name in meta:
                raise ToolDefinitionError(f"tool {tool.name!r} has the name of a meta-tool; rename it")
        self.limits = limits if limits is not None else Limits()
        self.output_budget = output_budget
        self.code_action = code_action
        self.batch = batch and bool(len(self.direct) or len(self.deferred))
        self.index = ToolIndex(ToolSpec.from_tool(tool) for tool in self.deferred) if len(self.deferred) else None
        self.sandbox = (
            Sandbox(tools=self.tools if len(self.tools) else None, limits=self.limits, pool_size=pool_size)
            if code_action
            else None
        )
        if not code_action and not self.batch and not len(self.direct):
            raise ValueError("this toolkit offers the model nothing: enable the code action, or add direct tools")

    def conversation(self) -> Conversation:
        """Tool state for one agent conversation (what its searches have found)."""
        from ._conversation import Conversation

        return Conversation(self)

    def tool(self, name: str) -> Tool | None:
        """The application tool called ``name`` (any exposure), or None."""
        return self.tools.get(name)

    def close(self) -> None:
        """Free the sandbox's warm interpreters."""
        if self.sandbox is not None:
            self.sandbox.close()

    def __enter__(self) -> Toolkit:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Toolkit(direct={self.direct.names}, deferred={len(self.deferred)} tools, "
            f"code_only={self.code_only.names})"
        )
