"""Tools the guest can call: host functions the embedding application grants.

A ``Tool`` is data (name, description, JSON Schemas, the callable); ``@tool``
builds one from a function's signature and docstring; a ``ToolSet`` grants
several to a ``runtime.Sandbox``. Calls are validated on the host, run
concurrently (async tools on an event loop, sync tools on a thread pool) and
logged in ``ExecutionResult.tool_calls``.
"""

from runtime._errors import ToolDefinitionError, ToolError

from ._context import ToolContext
from ._example_crm import Candidate, ExampleCRM, Status
from ._tool import Tool, ToolArgumentError, tool
from ._toolset import ToolSet

__all__ = [
    "Candidate",
    "ExampleCRM",
    "Status",
    "Tool",
    "ToolArgumentError",
    "ToolContext",
    "ToolDefinitionError",
    "ToolError",
    "ToolSet",
    "tool",
]
