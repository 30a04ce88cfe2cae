"""MCP's tool methods (server side: names sent as they are), checked against
the MCP SDK's own models."""

from __future__ import annotations

from typing import Any

import mcp.types
import pytest
from mcp.shared.tool_name_validation import validate_tool_name
from test_providers import SPECS

from runtime.llm._spec import ToolRequest, ToolResponse
from runtime.llm.providers import mcp as mcp_format


def test_mcp_list_tools_result_is_valid_mcp() -> None:
    result = mcp_format.list_tools_result(SPECS)
    parsed = mcp.types.ListToolsResult.model_validate(result)
    assert [t.name for t in parsed.tools] == ["crm.find_candidates", "crm.get_candidate", "ping"]
    assert all(validate_tool_name(t.name).is_valid for t in parsed.tools)
    assert [t.input_schema for t in parsed.tools] == [s.parameters for s in SPECS]
    # outputSchema only for an object result: get_candidate's, not find_candidates' list nor ping's string.
    assert [t.output_schema for t in parsed.tools] == [None, SPECS[1].returns, None]
    assert SPECS[1].returns is not None and SPECS[1].returns["type"] == "object"
    assert "outputSchema" not in result["tools"][0]


def test_mcp_tool_request_from_call_params() -> None:
    request = mcp.types.CallToolRequest.model_validate(
        {"method": "tools/call", "params": {"name": "crm.get_candidate", "arguments": {"id": 7}}}
    )
    params = request.params.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert mcp_format.tool_request(params, 12) == ToolRequest(id="12", name="crm.get_candidate", arguments='{"id": 7}')
    no_arguments = mcp.types.CallToolRequestParams(name="ping").model_dump(by_alias=True, exclude_none=True)
    assert mcp_format.tool_request(no_arguments, "r-1") == ToolRequest(id="r-1", name="ping", arguments="{}")
    with pytest.raises(ValueError, match=r"params\.arguments: expected a JSON object, got list"):
        mcp_format.tool_request({"name": "ping", "arguments": [1]}, 1)


@pytest.mark.parametrize(
    ("response", "structured"),
    [
        (ToolResponse(id="1", name="crm.get_candidate", content='{"id": 7}', data={"id": 7}), {"id": 7}),
        (ToolResponse(id="2", name="crm.find_candidates", content="[]", data=[]), None),
        (ToolResponse(id="3", name="ping", content="CRM down", is_error=True), None),
    ],
    ids=["object-data", "list-data", "error"],
)
def test_mcp_call_tool_result_is_valid_mcp(response: ToolResponse, structured: Any) -> None:
    result = mcp_format.call_tool_result(response)
    parsed = mcp.types.CallToolResult.model_validate(result)
    assert [(c.type, c.text) for c in parsed.content if isinstance(c, mcp.types.TextContent)] == [
        ("text", response.content)
    ]
    assert parsed.is_error is response.is_error
    assert parsed.structured_content == structured
    assert ("structuredContent" in result) is (structured is not None)
