"""Provider adapters against the real SDKs, offline: each SDK sends our tool
definitions and history over a mock HTTP transport, parses our scripted
response into its typed objects, and its dump parses back to our requests.

The SDKs are test-only: nothing under runtime/ imports them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic as anthropic_sdk
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as genai_types
from openai.types.chat import ChatCompletion, ChatCompletionFunctionTool, ChatCompletionMessageFunctionToolCall
from openai.types.responses import FunctionTool, Response, ResponseFunctionToolCall, ResponseInputItem
from pydantic import BaseModel, TypeAdapter
from test_providers import CALLS, RESULTS, SPECS

from runtime.llm._spec import ToolRequest, wire_name
from runtime.llm.providers import (
    PROVIDERS,
    ProviderFormat,
    anthropic,
    by_name,
    gemini,
    openai_chat,
    openai_responses,
)

FORMATS = [by_name(name) for name in PROVIDERS]


def tools_for(fmt: ProviderFormat) -> Any:
    """``fmt.tools(SPECS)``, to hand to an SDK."""
    return fmt.tools(SPECS)


NEXT = [ToolRequest(id="call_c3", name="crm.get_candidate", arguments='{"id": 7}')]
"""What the mock API answers with: one more call."""


class Recorder:
    """A mock HTTP handler: records each request body, answers with ``reply``."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append((request.url.path, json.loads(request.content)))
        return httpx2.Response(200, json=self.reply)

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


def history(fmt: ProviderFormat) -> Any:
    """A conversation up to the second model turn: ask, calls, results (typed
    Any, like ``tools_for``: the SDKs type their parameters as TypedDicts)."""
    return (
        fmt.user_message("Tag every active candidate.")
        + fmt.assistant_message(fmt.response(text="Looking.", calls=CALLS))
        + fmt.tool_results(RESULTS)
    )


def test_openai_chat_completions() -> None:
    recorder = Recorder(openai_chat.response(calls=NEXT))
    messages = history(openai_chat)
    with recorder.client() as http:
        client = openai.OpenAI(api_key="test", base_url="https://api.openai.test/v1", http_client=http, max_retries=0)
        completion = client.chat.completions.create(
            model="gpt-test",
            messages=messages,
            tools=tools_for(openai_chat),
        )
    ((path, body),) = recorder.requests
    assert path == "/v1/chat/completions"
    assert body["tools"] == openai_chat.tools(SPECS)
    assert body["messages"] == messages
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]

    (call,) = completion.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert (call.id, call.function.name, call.function.arguments) == ("call_c3", "crm-get_candidate", '{"id": 7}')
    dumped = completion.model_dump(mode="json")
    assert openai_chat.tool_requests(dumped) == NEXT
    assert openai_chat.assistant_message(dumped) == openai_chat.assistant_message(recorder.reply)


def test_openai_responses() -> None:
    recorder = Recorder(openai_responses.response(calls=NEXT))
    items = history(openai_responses)
    with recorder.client() as http:
        client = openai.OpenAI(api_key="test", base_url="https://api.openai.test/v1", http_client=http, max_retries=0)
        response = client.responses.create(
            model="gpt-test",
            input=items,
            tools=tools_for(openai_responses),
        )
    ((path, body),) = recorder.requests
    assert path == "/v1/responses"
    assert body["tools"] == openai_responses.tools(SPECS)
    assert body["input"] == items
    # Every history item is one the SDK knows as input.
    assert [type(TypeAdapter(ResponseInputItem).validate_python(i)).__name__ for i in items] == [
        "EasyInputMessage",
        "ResponseOutputMessage",
        "ResponseFunctionToolCall",
        "ResponseFunctionToolCall",
        "FunctionCallOutput",
        "FunctionCallOutput",
    ]

    (call,) = response.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert (call.call_id, call.name, call.arguments) == ("call_c3", "crm-get_candidate", '{"id": 7}')
    dumped = response.model_dump(mode="json")
    assert openai_responses.tool_requests(dumped) == NEXT
    assert openai_responses.assistant_message(dumped) == openai_responses.assistant_message(recorder.reply)


def test_anthropic_messages() -> None:
    recorder = Recorder(anthropic.response(calls=NEXT))
    messages = history(anthropic)
    with recorder.client() as http:
        client = anthropic_sdk.Anthropic(
            api_key="test", base_url="https://api.anthropic.test", http_client=http, max_retries=0
        )
        message = client.messages.create(
            model="claude-test",
            max_tokens=1024,
            messages=messages,
            tools=tools_for(anthropic),
        )
    ((path, body),) = recorder.requests
    assert path == "/v1/messages"
    assert body["tools"] == anthropic.tools(SPECS)
    assert body["messages"] == messages
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]

    (block,) = message.content
    assert isinstance(block, anthropic_sdk.types.ToolUseBlock)
    assert (block.id, block.name, block.input) == ("call_c3", "crm-get_candidate", {"id": 7})
    assert message.stop_reason == "tool_use"
    dumped = message.model_dump(mode="json")
    assert anthropic.tool_requests(dumped) == NEXT
    assert anthropic.assistant_message(dumped) == anthropic.assistant_message(recorder.reply)


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), key)


def test_gemini_generate_content() -> None:
    recorder = Recorder(gemini.response(calls=NEXT))
    contents = history(gemini)
    # Our REST-shaped dicts are valid SDK contents (the models forbid unknown fields).
    assert [genai_types.Content.model_validate(c).role for c in contents] == ["user", "model", "user"]
    with recorder.client() as http:
        client = genai.Client(
            vertexai=False, api_key="test", http_options=genai_types.HttpOptions(httpx_client=http, retry_options=None)
        )
        result = client.models.generate_content(
            model="gemini-test",
            contents=contents,
            config=genai_types.GenerateContentConfig(tools=tools_for(gemini)),
        )
    ((path, body),) = recorder.requests
    assert path.endswith("/models/gemini-test:generateContent")
    assert body["contents"] == contents
    # The SDK re-sends a declaration's fields in snake_case (parameters_json_schema),
    # which the API also accepts; the schema inside arrives untouched.
    (sent_tool,) = body["tools"]
    declarations = [{_camel(k): v for k, v in d.items()} for d in sent_tool["functionDeclarations"]]
    assert declarations == gemini.tools(SPECS)[0]["functionDeclarations"]

    assert [(c.id, c.name, c.args) for c in result.function_calls or []] == [
        ("call_c3", "crm-get_candidate", {"id": 7})
    ]
    # The SDK dumps snake_case by default and camelCase by alias: both parse.
    assert gemini.tool_requests(result.model_dump(mode="json")) == NEXT
    camel = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert gemini.tool_requests(camel) == NEXT
    assert gemini.assistant_message(camel) == gemini.assistant_message(recorder.reply)


SDK_RESPONSE: dict[str, type[BaseModel]] = {
    "openai_chat": ChatCompletion,
    "openai_responses": Response,
    "anthropic": anthropic_sdk.types.Message,
    "gemini": genai_types.GenerateContentResponse,
}


@pytest.mark.parametrize("fmt", FORMATS, ids=list(PROVIDERS))
def test_scripted_responses_validate_as_the_sdk_models(fmt: ProviderFormat) -> None:
    # Strict validation: the SDKs themselves only construct responses, unchecked.
    model = SDK_RESPONSE[fmt.name].model_validate(fmt.response(text="Looking.", calls=CALLS))
    dumped = model.model_dump(mode="json")
    assert (fmt.text(dumped), fmt.tool_requests(dumped)) == ("Looking.", CALLS)


def _declared(fmt: ProviderFormat) -> list[tuple[str, Any]]:
    """(name, schema) of our tool definitions, as the SDK's own types read them."""
    tools = fmt.tools(SPECS)
    if fmt is openai_chat:
        return [
            (t.function.name, t.function.parameters)
            for t in (ChatCompletionFunctionTool.model_validate(d) for d in tools)
        ]
    if fmt is openai_responses:
        parsed = [FunctionTool.model_validate(d) for d in tools]
        assert all(t.strict is False for t in parsed)
        return [(t.name, t.parameters) for t in parsed]
    if fmt is anthropic:
        # Only a TypedDict exists; validating it checks required keys and types.
        params = [TypeAdapter(anthropic_sdk.types.ToolParam).validate_python(d) for d in tools]
        return [(p["name"], d["input_schema"]) for p, d in zip(params, tools, strict=True)]
    (tool,) = [genai_types.Tool.model_validate(d) for d in tools]
    return [(f.name or "", f.parameters_json_schema) for f in tool.function_declarations or []]


@pytest.mark.parametrize("fmt", FORMATS, ids=list(PROVIDERS))
def test_tool_definitions_validate_as_the_sdk_types(fmt: ProviderFormat) -> None:
    assert _declared(fmt) == [(wire_name(s.name), s.parameters) for s in SPECS]
