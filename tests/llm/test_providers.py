"""Provider adapters: properties every chat format has, provider quirks and
bad input. SDK round trips over (mock) HTTP are in test_providers_sdk.py,
MCP in test_providers_mcp.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from host_functions import Candidate, Status, ToolSet
from runtime.llm._spec import ToolRequest, ToolResponse, ToolSpec, wire_name
from runtime.llm.providers import PROVIDERS, ProviderFormat, by_name, gemini

FORMATS = [by_name(name) for name in PROVIDERS]
IDS = list(PROVIDERS)


class Filter(BaseModel):
    """Which candidates to match."""

    status: Status
    tags: list[str] = []


def find_candidates(filter: Filter, limit: int = 10) -> list[Candidate]:
    """Find candidates.

    Args:
        filter: Which candidates to match.
        limit: At most this many.
    """
    return []


def get_candidate(id: int) -> Candidate:
    """One candidate by id."""
    raise NotImplementedError


def ping() -> str:
    """Check the CRM is up."""
    return "pong"


TOOLS = ToolSet([ToolSet([find_candidates, get_candidate], namespace="crm"), ping])
SPECS = [ToolSpec.from_tool(t) for t in TOOLS]
CALLS = [
    ToolRequest(id="call_a1", name="crm.find_candidates", arguments=json.dumps({"filter": {"status": "active"}})),
    ToolRequest(id="call_b2", name="ping", arguments="{}"),
]
RESULTS = [
    ToolResponse(id="call_a1", name="crm.find_candidates", content="[]"),
    ToolResponse(id="call_b2", name="ping", content="ping() failed: CRM down", is_error=True),
]


def test_specs_are_namespaced_with_defs() -> None:
    # The fixture itself: dotted names and a schema with $defs, as the adapters must handle.
    assert [s.name for s in SPECS] == ["crm.find_candidates", "crm.get_candidate", "ping"]
    assert "$defs" in SPECS[0].parameters


# (name, schema) of each tool definition, read the way each provider reads them.
DECLARED: dict[str, Callable[[list[dict[str, Any]]], list[tuple[str, Any]]]] = {
    "openai_chat": lambda tools: [(t["function"]["name"], t["function"]["parameters"]) for t in tools],
    "openai_responses": lambda tools: [(t["name"], t["parameters"]) for t in tools],
    "anthropic": lambda tools: [(t["name"], t["input_schema"]) for t in tools],
    "gemini": lambda tools: [(d["name"], d["parametersJsonSchema"]) for d in tools[0]["functionDeclarations"]],
}


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_tools_send_wire_names_and_full_schemas(fmt: ProviderFormat) -> None:
    declared = DECLARED[fmt.name](fmt.tools(SPECS))
    assert declared == [(wire_name(s.name), s.parameters) for s in SPECS]
    assert declared[0][0] == "crm-find_candidates"


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_no_tools_means_an_empty_list(fmt: ProviderFormat) -> None:
    assert fmt.tools([]) == []


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_scripted_calls_round_trip(fmt: ProviderFormat) -> None:
    body = fmt.response(calls=CALLS)
    assert fmt.tool_requests(body) == CALLS
    assert fmt.text(body) == ""
    # Out as wire names only; back as canonical names.
    assert "crm-find_candidates" in json.dumps(body)
    assert "crm.find_candidates" not in json.dumps(body)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_text_and_calls_together(fmt: ProviderFormat) -> None:
    body = fmt.response(text="Let me look.", calls=CALLS[:1])
    assert (fmt.text(body), fmt.tool_requests(body)) == ("Let me look.", CALLS[:1])
    final = fmt.response(text="Nobody matches.")
    assert (fmt.text(final), fmt.tool_requests(final)) == ("Nobody matches.", [])


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_scripted_responses_are_deterministic(fmt: ProviderFormat) -> None:
    assert fmt.response(text="a", calls=CALLS) == fmt.response(text="a", calls=CALLS)
    assert fmt.response(text="a") != fmt.response(text="b")


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_a_name_that_is_no_wire_name_passes_through(fmt: ProviderFormat) -> None:
    body = json.loads(json.dumps(fmt.response(calls=CALLS[1:])).replace('"ping"', '"no such tool!"'))
    assert [r.name for r in fmt.tool_requests(body)] == ["no such tool!"]


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_assistant_message_records_the_calls(fmt: ProviderFormat) -> None:
    history = json.dumps(fmt.assistant_message(fmt.response(text="Looking.", calls=CALLS)))
    for call in CALLS:
        assert f'"{wire_name(call.name)}"' in history
        assert f'"{call.id}"' in history
    assert "Looking." in history


# (id, content, error flag) of each tool result, read the way each provider
# reads them (None: the format has no such field).
RESULTS_READ: dict[str, Callable[[list[dict[str, Any]]], list[tuple[Any, str, Any]]]] = {
    "openai_chat": lambda ms: [(m["tool_call_id"], m["content"], None) for m in ms if m["role"] == "tool"],
    "openai_responses": lambda ms: [
        (m["call_id"], m["output"], None) for m in ms if m["type"] == "function_call_output"
    ],
    "anthropic": lambda ms: [
        (b["tool_use_id"], b["content"], b.get("is_error", False))
        for m in ms
        if m["role"] == "user"
        for b in m["content"]
    ],
    "gemini": lambda ms: [_gemini_result(p["functionResponse"]) for m in ms if m["role"] == "user" for p in m["parts"]],
}


def _gemini_result(part: dict[str, Any]) -> tuple[Any, str, Any]:
    ((key, content),) = part["response"].items()  # "output" or "error"
    return part.get("id"), content, key


EXPECTED_RESULTS: dict[str, list[tuple[Any, str, Any]]] = {
    "openai_chat": [("call_a1", "[]", None), ("call_b2", "ping() failed: CRM down", None)],
    "openai_responses": [("call_a1", "[]", None), ("call_b2", "ping() failed: CRM down", None)],
    "anthropic": [("call_a1", "[]", False), ("call_b2", "ping() failed: CRM down", True)],
    "gemini": [("call_a1", "[]", "output"), ("call_b2", "ping() failed: CRM down", "error")],
}


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_tool_results_carry_ids_contents_and_errors(fmt: ProviderFormat) -> None:
    messages = fmt.tool_results(RESULTS)
    assert RESULTS_READ[fmt.name](messages) == EXPECTED_RESULTS[fmt.name]
    assert fmt.tool_results([]) == []


@pytest.mark.parametrize(
    ("fmt", "messages"),
    [
        (by_name("anthropic"), 1),  # all results in one user message
        (by_name("gemini"), 1),  # all results in one user content
        (by_name("openai_chat"), 2),
        (by_name("openai_responses"), 2),
    ],
    ids=["anthropic", "gemini", "openai_chat", "openai_responses"],
)
def test_how_many_messages_carry_the_results(fmt: ProviderFormat, messages: int) -> None:
    assert len(fmt.tool_results(RESULTS)) == messages


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_user_message(fmt: ProviderFormat) -> None:
    (message,) = fmt.user_message("Tag every active candidate.")
    assert message["role"] == "user"
    assert "Tag every active candidate." in json.dumps(message)


def test_by_name() -> None:
    assert [by_name(n).name for n in PROVIDERS] == ["openai_chat", "openai_responses", "anthropic", "gemini"]
    with pytest.raises(ValueError, match=r"'claude'.*openai_chat, openai_responses, anthropic, gemini"):
        by_name("claude")


def test_gemini_makes_up_missing_ids_and_does_not_send_them_back() -> None:
    body = gemini.response(calls=CALLS)
    for part in body["candidates"][0]["content"]["parts"]:
        del part["functionCall"]["id"]
    requests = gemini.tool_requests(body)
    assert [r.id for r in requests] == ["gemini_call_0", "gemini_call_1"]
    (message,) = gemini.tool_results([ToolResponse(id=r.id, name=r.name, content="ok") for r in requests])
    assert [p["functionResponse"] for p in message["parts"]] == [
        {"name": "crm-find_candidates", "response": {"output": "ok"}},
        {"name": "ping", "response": {"output": "ok"}},
    ]


def test_gemini_text_skips_thoughts_and_reads_snake_case() -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": True}, {"text": "Hi"}]}}]}
    assert gemini.text(body) == "Hi"
    snake = {
        "candidates": [{"content": {"parts": [{"function_call": {"name": "crm-get_candidate", "args": {"id": 3}}}]}}]
    }
    assert gemini.tool_requests(snake) == [
        ToolRequest(id="gemini_call_0", name="crm.get_candidate", arguments='{"id": 3}')
    ]


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("openai_chat", {"choices": []}, "at least one choice"),
        ("openai_chat", {"choices": [{"message": "hi"}]}, r"choices\[0\]\.message: expected a JSON object, got str"),
        (
            "openai_chat",
            {"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}}]},
            r"tool_calls\[0\]\.function\.arguments: expected a string, got dict",
        ),
        ("openai_responses", {"output": None}, "response.output: expected a JSON array, got null"),
        ("openai_responses", {"output": [{"type": "function_call", "name": "f"}]}, r"output\[0\]\.call_id"),
        ("anthropic", {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}]}, r"content\[0\]\.input"),
        (
            "gemini",
            {"promptFeedback": {"blockReason": "SAFETY"}},
            r"at least one candidate, got none \(the prompt was blocked: SAFETY\)",
        ),
        ("gemini", {"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}, r"functionCall\.name"),
    ],
    ids=[
        "chat-no-choices",
        "chat-message-not-object",
        "chat-arguments-not-text",
        "responses-no-output",
        "responses-no-call-id",
        "anthropic-input-not-object",
        "gemini-blocked",
        "gemini-no-name",
    ],
)
def test_malformed_responses_say_what_was_expected_where(name: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        by_name(name).tool_requests(body)


@pytest.mark.parametrize("name", ["anthropic", "gemini"], ids=["anthropic", "gemini"])
def test_object_providers_need_object_arguments(name: str) -> None:
    with pytest.raises(ValueError, match="arguments of call 'c1' must be a JSON object, got list"):
        by_name(name).response(calls=[ToolRequest(id="c1", name="ping", arguments="[1]")])


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_read_tool_results_reads_back_what_tool_results_wrote(fmt: ProviderFormat) -> None:
    ask = fmt.user_message("Tag every active candidate.")
    turn = fmt.assistant_message(fmt.response(text="Looking.", calls=CALLS))
    read = fmt.read_tool_results(ask + turn + fmt.tool_results(RESULTS))
    # OpenAI's formats have no error flag: the text says it.
    flagged = fmt.name in ("anthropic", "gemini")
    assert read == [
        ToolResponse(id=r.id, name=r.name, content=r.content, is_error=r.is_error and flagged) for r in RESULTS
    ]
    assert fmt.read_tool_results(ask) == []
    assert fmt.read_tool_results(ask + turn) == []


@pytest.mark.parametrize("fmt", FORMATS[:3], ids=IDS[:3])
def test_read_tool_results_needs_the_call_a_result_answers(fmt: ProviderFormat) -> None:
    history = fmt.user_message("hi") + fmt.tool_results(RESULTS[:1])
    with pytest.raises(ValueError, match="answers call 'call_a1', which no assistant turn made"):
        fmt.read_tool_results(history)


def test_gemini_reads_made_up_ids_back_in_order() -> None:
    turn = gemini.assistant_message(gemini.response(calls=CALLS))
    for part in turn[0]["parts"]:
        del part["functionCall"]["id"]
    requests = gemini.tool_requests({"candidates": [{"content": turn[0]}]})
    results = gemini.tool_results([ToolResponse(id=r.id, name=r.name, content="ok") for r in requests])
    assert [(r.id, r.name) for r in gemini.read_tool_results(turn + results)] == [(r.id, r.name) for r in requests]
