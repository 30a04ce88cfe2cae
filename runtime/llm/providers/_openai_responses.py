"""OpenAI Responses (``POST /v1/responses``) tool calling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._spec import ToolRequest, ToolResponse, ToolSpec, canonical_name, wire_name
from ._base import ProviderFormat, call_name, expect_list, expect_object, expect_str, stable_id, trailing, without_none

__all__ = ["OpenAIResponses"]


class OpenAIResponses(ProviderFormat):
    """Responses: flat ``{"type": "function", ...}`` tools, calls as
    ``function_call`` output items (their ``call_id`` is the id a result
    echoes) and results as ``function_call_output`` input items (no error
    flag: the result's text says what went wrong)."""

    name = "openai_responses"

    def tools(self, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        # The API makes tools strict unless told otherwise, and strict mode
        # needs every property required, which our schemas are not.
        return [
            {
                "type": "function",
                "name": wire_name(s.name),
                "description": s.description,
                "parameters": s.parameters,
                "strict": False,
            }
            for s in specs
        ]

    def _output(self, response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        output = expect_list(expect_object(response, "openai_responses response").get("output"), "response.output")
        return [expect_object(item, f"response.output[{i}]") for i, item in enumerate(output)]

    def tool_requests(self, response: Mapping[str, Any]) -> list[ToolRequest]:
        requests = []
        for i, item in enumerate(self._output(response)):
            if item.get("type") != "function_call":
                continue  # messages, reasoning and server-side tools' items
            where = f"response.output[{i}]"
            requests.append(
                ToolRequest(
                    id=expect_str(item.get("call_id"), f"{where}.call_id"),
                    name=canonical_name(expect_str(item.get("name"), f"{where}.name")),
                    arguments=expect_str(item.get("arguments"), f"{where}.arguments"),
                )
            )
        return requests

    def assistant_message(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        # Every output item goes back as input: reasoning items must precede
        # the function calls they led to.
        return [without_none(item) for item in self._output(response)]

    def tool_results(self, responses: Sequence[ToolResponse]) -> list[dict[str, Any]]:
        return [{"type": "function_call_output", "call_id": r.id, "output": r.content} for r in responses]

    def read_tool_results(self, messages: Sequence[Mapping[str, Any]]) -> list[ToolResponse]:
        earlier, results = trailing(messages, lambda m: m.get("type") == "function_call_output")
        names = {r.id: r.name for r in self.tool_requests({"output": earlier})}
        responses = []
        for i, item in enumerate(results):
            call_id = expect_str(item.get("call_id"), f"function_call_output {i}: call_id")
            output = expect_str(item.get("output"), f"function_call_output {i}: output")
            responses.append(ToolResponse(id=call_id, name=call_name(names, call_id, self.name), content=output))
        return responses

    def user_message(self, text: str) -> list[dict[str, Any]]:
        return [{"type": "message", "role": "user", "content": text}]

    def text(self, response: Mapping[str, Any]) -> str:
        parts = []
        for i, item in enumerate(self._output(response)):
            if item.get("type") != "message":
                continue
            for j, value in enumerate(expect_list(item.get("content") or [], f"response.output[{i}].content")):
                part = expect_object(value, f"response.output[{i}].content[{j}]")
                if part.get("type") == "output_text":
                    parts.append(expect_str(part.get("text"), f"response.output[{i}].content[{j}].text"))
        return "".join(parts)

    def response(self, *, text: str | None = None, calls: Sequence[ToolRequest] = ()) -> dict[str, Any]:
        key = (text, [(c.id, c.name, c.arguments) for c in calls])
        output: list[dict[str, Any]] = []
        if text is not None:
            output.append(
                {
                    "type": "message",
                    "id": stable_id("msg_", key),
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            )
        output += [
            {
                "type": "function_call",
                "id": stable_id("fc_", key, i),
                "call_id": c.id,
                "name": wire_name(c.name),
                "arguments": c.arguments,
                "status": "completed",
            }
            for i, c in enumerate(calls)
        ]
        return {
            "id": stable_id("resp_", key),
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": "scripted",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 0,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 0,
            },
        }
