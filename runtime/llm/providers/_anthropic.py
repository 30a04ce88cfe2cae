"""Anthropic Messages (``POST /v1/messages``) tool use."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._spec import ToolRequest, ToolResponse, ToolSpec, canonical_name, wire_name
from ._base import (
    ProviderFormat,
    arguments_object,
    call_name,
    expect_list,
    expect_object,
    expect_str,
    stable_id,
    trailing,
    without_none,
)

__all__ = ["Anthropic"]


class Anthropic(ProviderFormat):
    """Messages: tools with an ``input_schema``, calls as ``tool_use`` content
    blocks with object ``input``, and all results of a turn in one user
    message of ``tool_result`` blocks (``is_error`` marks a failed call)."""

    name = "anthropic"

    def tools(self, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        return [{"name": wire_name(s.name), "description": s.description, "input_schema": s.parameters} for s in specs]

    def _content(self, response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        content = expect_list(expect_object(response, "anthropic response").get("content"), "response.content")
        return [expect_object(block, f"response.content[{i}]") for i, block in enumerate(content)]

    def tool_requests(self, response: Mapping[str, Any]) -> list[ToolRequest]:
        requests = []
        for i, block in enumerate(self._content(response)):
            if block.get("type") != "tool_use":
                continue  # text, thinking and server-side tools' blocks
            where = f"response.content[{i}]"
            requests.append(
                ToolRequest(
                    id=expect_str(block.get("id"), f"{where}.id"),
                    name=canonical_name(expect_str(block.get("name"), f"{where}.name")),
                    arguments=json.dumps(expect_object(block.get("input"), f"{where}.input"), ensure_ascii=False),
                )
            )
        return requests

    def assistant_message(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        # All blocks go back unchanged: thinking blocks (with their signatures)
        # must precede the tool_use blocks they led to.
        return [{"role": "assistant", "content": [without_none(block) for block in self._content(response)]}]

    def tool_results(self, responses: Sequence[ToolResponse]) -> list[dict[str, Any]]:
        if not responses:
            return []
        blocks: list[dict[str, Any]] = []
        for r in responses:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.id, "content": r.content}
            if r.is_error:
                block["is_error"] = True
            blocks.append(block)
        return [{"role": "user", "content": blocks}]

    def read_tool_results(self, messages: Sequence[Mapping[str, Any]]) -> list[ToolResponse]:
        def result_blocks(m: Mapping[str, Any]) -> list[Mapping[str, Any]]:
            content = m.get("content") if m.get("role") == "user" else None
            blocks = content if isinstance(content, list) else []
            return [b for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"]

        earlier, results = trailing(messages, lambda m: bool(result_blocks(m)))
        names = {
            r.id: r.name
            for m in earlier
            if m.get("role") == "assistant" and isinstance(m.get("content"), list)
            for r in self.tool_requests(m)
        }
        responses = []
        for block in (b for m in results for b in result_blocks(m)):
            call_id = expect_str(block.get("tool_use_id"), "tool_result.tool_use_id")
            content = block.get("content", "")
            # Content may also be a list of blocks; a scripted reader wants the text.
            text = (
                content
                if isinstance(content, str)
                else "".join(
                    b.get("text", "") for b in expect_list(content, "tool_result.content") if isinstance(b, Mapping)
                )
            )
            responses.append(
                ToolResponse(
                    id=call_id,
                    name=call_name(names, call_id, self.name),
                    content=text,
                    is_error=bool(block.get("is_error")),
                )
            )
        return responses

    def user_message(self, text: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": text}]

    def text(self, response: Mapping[str, Any]) -> str:
        return "".join(
            expect_str(block.get("text"), f"response.content[{i}].text")
            for i, block in enumerate(self._content(response))
            if block.get("type") == "text"
        )

    def response(self, *, text: str | None = None, calls: Sequence[ToolRequest] = ()) -> dict[str, Any]:
        content: list[dict[str, Any]] = [] if text is None else [{"type": "text", "text": text}]
        content += [
            {"type": "tool_use", "id": c.id, "name": wire_name(c.name), "input": arguments_object(c, self.name)}
            for c in calls
        ]
        return {
            "id": stable_id("msg_", text, [(c.id, c.name, c.arguments) for c in calls]),
            "type": "message",
            "role": "assistant",
            "model": "scripted",
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
