"""Model Context Protocol (server side): ``tools/list`` and ``tools/call``.

MCP is not a chat format (the client runs the model), so this is not a
``ProviderFormat``: it builds the results a server returns and reads the
requests it receives. MCP tool names may contain dots, so names go out and
come back canonical, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._spec import ToolRequest, ToolResponse, ToolSpec
from ._base import expect_object, expect_str

__all__ = ["MCPFormat", "mcp"]


class MCPFormat:
    """The JSON of MCP's tool methods (see the module docstring)."""

    name = "mcp"

    def list_tools_result(self, specs: Sequence[ToolSpec]) -> dict[str, Any]:
        """The result of ``tools/list``. A spec's ``returns`` becomes the tool's
        ``outputSchema`` only when it describes an object, as MCP requires."""
        tools = []
        for s in specs:
            tool: dict[str, Any] = {"name": s.name, "description": s.description, "inputSchema": s.parameters}
            if s.returns is not None and s.returns.get("type") == "object":
                tool["outputSchema"] = s.returns
            tools.append(tool)
        return {"tools": tools}

    def tool_request(self, params: Mapping[str, Any], id: str | int) -> ToolRequest:
        """The call in the params of a ``tools/call`` request with JSON-RPC ``id``.
        Raises ``ValueError`` when ``name`` is not a string or ``arguments`` is
        neither absent nor an object."""
        params = expect_object(params, "tools/call params")
        arguments = params.get("arguments")
        return ToolRequest(
            id=str(id),
            name=expect_str(params.get("name"), "tools/call params.name"),
            arguments=json.dumps(
                {} if arguments is None else dict(expect_object(arguments, "tools/call params.arguments")),
                ensure_ascii=False,
            ),
        )

    def call_tool_result(self, response: ToolResponse) -> dict[str, Any]:
        """The result of ``tools/call``: the text as one text block, the error
        flag, and ``structuredContent`` when the structured result is an object."""
        result: dict[str, Any] = {"content": [{"type": "text", "text": response.content}], "isError": response.is_error}
        if isinstance(response.data, dict):
            result["structuredContent"] = response.data
        return result

    def __repr__(self) -> str:
        return "<MCPFormat mcp>"


mcp = MCPFormat()
"""MCP's tool methods; see ``MCPFormat``."""
