"""OpenAI Chat Completions (``POST /v1/chat/completions``) tool calling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._spec import ToolRequest, ToolResponse, ToolSpec, canonical_name, wire_name
from ._base import ProviderFormat, call_name, expect_list, expect_object, expect_str, stable_id, trailing

__all__ = ["OpenAIChat"]


class OpenAIChat(ProviderFormat):
    """Chat Completions: ``tools`` of ``{"type": "function", "function": ...}``,
    calls in ``choices[0].message.tool_calls`` with JSON-text arguments, and
    one ``role: tool`` message per result (the API has no error flag: the
    result's text says what went wrong)."""

    name = "openai_chat"

    def tools(self, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        # No "strict": strict mode needs every property required, which our
        # schemas (with defaults) are not.
        return [
            {
                "type": "function",
                "function": {"name": wire_name(s.name), "description": s.description, "parameters": s.parameters},
            }
            for s in specs
        ]

    def _message(self, response: Mapping[str, Any]) -> Mapping[str, Any]:
        choices = expect_list(expect_object(response, "openai_chat response").get("choices"), "openai_chat choices")
        if not choices:
            raise ValueError("openai_chat response: expected at least one choice, got none")
        return expect_object(expect_object(choices[0], "openai_chat choices[0]").get("message"), "choices[0].message")

    def _calls(self, message: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """(id, wire name, arguments) of each call in an assistant message."""
        calls = []
        for i, item in enumerate(expect_list(message.get("tool_calls") or [], "choices[0].message.tool_calls")):
            where = f"choices[0].message.tool_calls[{i}]"
            call = expect_object(item, where)
            if call.get("type", "function") != "function":
                raise ValueError(f"{where}: expected a function call, got type {call.get('type')!r}")
            function = expect_object(call.get("function"), f"{where}.function")
            calls.append(
                (
                    expect_str(call.get("id"), f"{where}.id"),
                    expect_str(function.get("name"), f"{where}.function.name"),
                    expect_str(function.get("arguments"), f"{where}.function.arguments"),
                )
            )
        return calls

    def tool_requests(self, response: Mapping[str, Any]) -> list[ToolRequest]:
        return [
            ToolRequest(id=id_, name=canonical_name(name), arguments=arguments)
            for id_, name, arguments in self._calls(self._message(response))
        ]

    def assistant_message(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        # Rebuilt from the fields an assistant message parameter takes: a dumped
        # response message also has output-only ones (annotations, audio data).
        message = self._message(response)
        out: dict[str, Any] = {"role": "assistant"}
        for key in ("content", "refusal"):
            if isinstance(message.get(key), str):
                out[key] = message[key]
        calls = self._calls(message)
        if calls:
            out["tool_calls"] = [
                {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
                for id_, name, arguments in calls
            ]
        return [out]

    def tool_results(self, responses: Sequence[ToolResponse]) -> list[dict[str, Any]]:
        return [{"role": "tool", "tool_call_id": r.id, "content": r.content} for r in responses]

    def read_tool_results(self, messages: Sequence[Mapping[str, Any]]) -> list[ToolResponse]:
        earlier, results = trailing(messages, lambda m: m.get("role") == "tool")
        names = {
            id_: canonical_name(name)
            for m in earlier
            if m.get("role") == "assistant"
            for id_, name, _ in self._calls(m)
        }
        responses = []
        for i, m in enumerate(results):
            call_id = expect_str(m.get("tool_call_id"), f"tool message {i}: tool_call_id")
            content = expect_str(m.get("content"), f"tool message {i}: content")
            responses.append(ToolResponse(id=call_id, name=call_name(names, call_id, self.name), content=content))
        return responses

    def user_message(self, text: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": text}]

    def text(self, response: Mapping[str, Any]) -> str:
        content = self._message(response).get("content")
        return content if isinstance(content, str) else ""

    def response(self, *, text: str | None = None, calls: Sequence[ToolRequest] = ()) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": wire_name(c.name), "arguments": c.arguments}}
                for c in calls
            ]
        return {
            "id": stable_id("chatcmpl-", text, [(c.id, c.name, c.arguments) for c in calls]),
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop", "logprobs": None}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
