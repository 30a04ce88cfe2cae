"""Google Gemini (``models/*:generateContent``) function calling."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._spec import ToolRequest, ToolResponse, ToolSpec, canonical_name, wire_name
from ._base import (
    ProviderFormat,
    arguments_object,
    expect_list,
    expect_object,
    expect_str,
    stable_id,
    trailing,
    without_none,
)

__all__ = ["Gemini"]

# The id given to a call the model sent without one: a response must then not
# carry an id either (the API rejects a functionResponse id matching no call).
_MADE_UP_ID = re.compile(r"^gemini_call_\d+$")


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A field in the REST API's camelCase or in the snake_case of a dumped
    SDK model (the API itself accepts both)."""
    return obj[camel] if camel in obj else obj.get(snake)


class Gemini(ProviderFormat):
    """Gemini: one ``{"functionDeclarations": [...]}`` tool with full JSON
    Schemas in ``parametersJsonSchema``, calls as ``functionCall`` parts of the
    first candidate (``args`` an object; ``id`` optional: a missing one is
    made up as ``gemini_call_<n>``, n counting the calls from 0), and results
    as ``functionResponse`` parts of one ``user`` content."""

    name = "gemini"

    def tools(self, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        if not specs:
            return []
        declarations = [
            {"name": wire_name(s.name), "description": s.description, "parametersJsonSchema": s.parameters}
            for s in specs
        ]
        return [{"functionDeclarations": declarations}]

    def _content(self, response: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The first candidate's content; None when it has none (e.g. blocked)."""
        response = expect_object(response, "gemini response")
        candidates = expect_list(response.get("candidates") or [], "response.candidates")
        if not candidates:
            feedback = expect_object(_get(response, "promptFeedback", "prompt_feedback") or {}, "promptFeedback")
            reason = _get(feedback, "blockReason", "block_reason")
            raise ValueError(
                "gemini response: expected at least one candidate, got none"
                + (f" (the prompt was blocked: {reason})" if reason else "")
            )
        content = expect_object(candidates[0], "response.candidates[0]").get("content")
        return None if content is None else expect_object(content, "candidates[0].content")

    def _parts(self, response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        content = self._content(response)
        parts = expect_list((content or {}).get("parts") or [], "candidates[0].content.parts")
        return [expect_object(part, f"candidates[0].content.parts[{i}]") for i, part in enumerate(parts)]

    def tool_requests(self, response: Mapping[str, Any]) -> list[ToolRequest]:
        requests: list[ToolRequest] = []
        for i, part in enumerate(self._parts(response)):
            call = _get(part, "functionCall", "function_call")
            if call is None:
                continue
            where = f"candidates[0].content.parts[{i}].functionCall"
            call = expect_object(call, where)
            call_id = call.get("id")
            requests.append(
                ToolRequest(
                    id=f"gemini_call_{len(requests)}" if call_id is None else expect_str(call_id, f"{where}.id"),
                    name=canonical_name(expect_str(call.get("name"), f"{where}.name")),
                    arguments=json.dumps(expect_object(call.get("args") or {}, f"{where}.args"), ensure_ascii=False),
                )
            )
        return requests

    def assistant_message(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        # The content goes back whole: Gemini 3 needs each part's thought
        # signature returned with it.
        content = self._content(response)
        if content is None:
            return []
        return [{**without_none(content), "role": "model"}]

    def tool_results(self, responses: Sequence[ToolResponse]) -> list[dict[str, Any]]:
        if not responses:
            return []
        parts = []
        for r in responses:
            result: dict[str, Any] = {
                "name": wire_name(r.name),
                "response": {"error" if r.is_error else "output": r.content},
            }
            if r.id and not _MADE_UP_ID.match(r.id):
                result["id"] = r.id
            parts.append({"functionResponse": result})
        # Function responses are a user turn: Gemini contents are "user" or "model".
        return [{"role": "user", "parts": parts}]

    def read_tool_results(self, messages: Sequence[Mapping[str, Any]]) -> list[ToolResponse]:
        def results_of(m: Mapping[str, Any]) -> list[Mapping[str, Any]]:
            """The functionResponses of a content made only of them, else []."""
            parts = m.get("parts")
            if m.get("role", "user") != "user" or not isinstance(parts, list):
                return []
            found = [_get(p, "functionResponse", "function_response") for p in parts if isinstance(p, Mapping)]
            return found if found and len(found) == len(parts) and all(isinstance(f, Mapping) for f in found) else []

        _, results = trailing(messages, lambda m: bool(results_of(m)))
        responses = []
        for i, result in enumerate(r for m in results for r in results_of(m)):
            response = expect_object(result.get("response"), f"functionResponse {i}: response")
            is_error = "error" in response and "output" not in response
            content = response.get("error" if is_error else "output", response)
            result_id = result.get("id")
            responses.append(
                ToolResponse(
                    # Made up as tool_requests made it up (results answer calls in order).
                    id=f"gemini_call_{i}" if result_id is None else expect_str(result_id, f"functionResponse {i}: id"),
                    name=canonical_name(expect_str(result.get("name"), f"functionResponse {i}: name")),
                    content=content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                    is_error=is_error,
                )
            )
        return responses

    def user_message(self, text: str) -> list[dict[str, Any]]:
        return [{"role": "user", "parts": [{"text": text}]}]

    def text(self, response: Mapping[str, Any]) -> str:
        # Thought parts are the model's reasoning summary, not its answer.
        return "".join(
            expect_str(part["text"], f"candidates[0].content.parts[{i}].text")
            for i, part in enumerate(self._parts(response))
            if part.get("text") is not None and not part.get("thought")
        )

    def response(self, *, text: str | None = None, calls: Sequence[ToolRequest] = ()) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [] if text is None else [{"text": text}]
        parts += [
            {"functionCall": {"id": c.id, "name": wire_name(c.name), "args": arguments_object(c, self.name)}}
            for c in calls
        ]
        return {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0},
            "modelVersion": "scripted",
            "responseId": stable_id("", text, [(c.id, c.name, c.arguments) for c in calls]),
        }
