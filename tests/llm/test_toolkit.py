"""The meta-tools end to end: code action, batch, direct calls and tool search, composed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from llm_tools import SENT, send_email

from host_functions import ExampleCRM, ToolDefinitionError, ToolSet, tool
from runtime.llm import Conversation, Toolkit, ToolRequest


def req(name: str, **arguments: Any) -> ToolRequest:
    return ToolRequest(id=f"id-{name}", name=name, arguments=json.dumps(arguments))


def code(text: str) -> ToolRequest:
    return req("execute_code", code=text)


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["$ref"]] if "$ref" in schema else []
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [r for item in schema for r in _refs(item)]
    return []


def test_the_tool_list_holds_meta_tools_and_direct_tools_only(kit: Toolkit) -> None:
    names = [spec.name for spec in kit.conversation().specs()]
    assert names == [
        "execute_code",
        "batch",
        "list_candidates",
        "get_candidate",
        "tag_candidate",
        "tool_search",
    ]


def test_the_code_tool_describes_direct_and_code_only_tools_as_stubs(kit: Toolkit) -> None:
    spec = kit.conversation().specs()[0]
    assert 'def list_candidates(status: "active" | "hired" | "rejected", page_size: int = 50' in spec.description
    assert "def whoami() -> str:" in spec.description
    assert "asyncio.gather" in spec.description and "tool_search" in spec.description
    assert "send_email" not in spec.description  # deferred: found by search, not listed
    assert spec.parameters["required"] == ["code"]


def test_the_batch_schema_has_one_item_per_tool_and_resolvable_refs(kit: Toolkit) -> None:
    spec = kit.conversation().specs()[1]
    items = spec.parameters["properties"]["calls"]["items"]["anyOf"]
    named = [item["properties"]["tool"].get("enum") for item in items]
    assert named == [["list_candidates"], ["get_candidate"], ["tag_candidate"], None]  # None: found by search
    refs = _refs(spec.parameters)
    assert refs, "the CRM's Status enum is a $ref"
    for ref in refs:
        assert ref.removeprefix("#/$defs/") in spec.parameters["$defs"]


def test_a_code_action_returns_only_the_aggregate(kit: Toolkit, crm: ExampleCRM) -> None:
    script = (
        "cands = list_candidates(status='active', page_size=500)\n"
        "for c in cands:\n"
        "    tag_candidate(c['id'], 'code-action')\n"
        "print(f'tagged {len(cands)}')\n"
        "len(cands)"
    )
    response = kit.conversation().handle(code(script))
    assert not response.is_error, response.content
    assert response.content == "tagged 30\nvalue: 30\n"
    assert len(crm.tagged("code-action")) == 30
    assert (response.id, response.name) == ("id-execute_code", "execute_code")


def test_a_failing_script_comes_back_as_a_report_that_invites_a_fix(kit: Toolkit) -> None:
    script = "x = list_candidates(status='active')\ntag_candidate(x[0]['id'], 'y' * 100)\n"
    response = kit.conversation().handle(code(script))
    assert response.is_error
    assert "Error: ToolError (line 2): a tag has 1 to 40 characters" in response.content
    assert "The last failed call was tag_candidate() (error)" in response.content
    assert "Fix the script" in response.content


def test_output_over_the_budget_is_cut_with_a_marker(kit: Toolkit) -> None:
    response = kit.conversation().handle(code("print('a' * 50_000)\nprint('THE END')"))
    assert not response.is_error
    assert len(response.content) <= kit.output_budget + 200
    assert "characters of printed output cut: over the budget" in response.content
    assert response.content.rstrip().endswith("THE END")  # the tail is kept


def test_the_application_keeps_what_the_model_does_not_see(kit: Toolkit) -> None:
    chat = kit.conversation()
    chat.handle(code("print('a' * 50_000)"))
    chat.handle(req("get_candidate", candidate_id=999))
    [big, failed] = chat.handled
    assert big.execution is not None and len(big.execution.stdout) == 50_001  # uncut
    assert len(big.response.content) < 5000  # what the model got
    assert [(c.tool, c.outcome) for c in failed.tool_calls] == [("get_candidate", "error")]
    assert failed.response.is_error and failed.execution is None


def test_a_batch_runs_every_call_and_reports_each_in_order(kit: Toolkit, crm: ExampleCRM) -> None:
    calls = [
        {"tool": "tag_candidate", "arguments": {"candidate_id": 1, "tag": "batch"}},
        {"tool": "tag_candidate", "arguments": {"candidate_id": 2, "tag": "x" * 99}},
        {"tool": "no_such_tool", "arguments": {}},
        {"tool": "get_candidate", "arguments": {"candidate_id": 2}},
        {"tool": "get_candidate", "arguments": {"candidate_id": "two"}},
    ]
    response = kit.conversation().handle(req("batch", calls=calls))
    items = json.loads(response.content)
    assert [item["tool"] for item in items] == [
        "tag_candidate",
        "tag_candidate",
        "no_such_tool",
        "get_candidate",
        "get_candidate",
    ]
    assert items[0] == {"tool": "tag_candidate", "ok": None}
    assert items[1]["error"] == "a tag has 1 to 40 characters"
    assert "no tool named 'no_such_tool'" in items[2]["error"]
    assert items[3]["ok"]["id"] == 2
    assert "argument 'candidate_id'" in items[4]["error"]
    assert not response.is_error  # some calls succeeded
    assert 1 in crm.tagged("batch") and 2 not in crm.tagged("x" * 99)


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ("not json", "not JSON"),
        ('{"calls": []}', "at least one call"),
        ('{"calls": [{"tool": 3}]}', "calls[0] must be"),
    ],
    ids=["not-json", "empty", "bad-item"],
)
def test_a_malformed_batch_is_an_error_that_says_how_to_fix_it(kit: Toolkit, arguments: str, expected: str) -> None:
    response = kit.conversation().handle(ToolRequest(id="1", name="batch", arguments=arguments))
    assert response.is_error and expected in response.content


def test_a_direct_tool_call_returns_its_json_result(kit: Toolkit) -> None:
    response = kit.conversation().handle(req("get_candidate", candidate_id=3))
    assert not response.is_error
    assert json.loads(response.content)["id"] == 3
    assert response.data["id"] == 3


def test_deferred_tools_become_callable_once_found(kit: Toolkit) -> None:
    chat = kit.conversation()
    before = chat.handle(code("send_email('a@example.com', 'hi')"))
    assert before.is_error and "NameError" in before.content
    assert chat.handle(req("send_email", to="a@example.com", subject="hi")).is_error

    found = chat.handle(req("tool_search", query="send an email message", k=1))
    assert not found.is_error
    assert "def send_email(to: str, subject: str) -> str:" in found.content
    assert chat.discovered == ("send_email",)

    SENT.clear()
    after = chat.handle(code("send_email('a@example.com', 'hi')"))
    assert (after.is_error, after.content) == (False, 'value: "sent to a@example.com"\n')
    batch = chat.handle(req("batch", calls=[{"tool": "send_email", "arguments": {"to": "b@x.org", "subject": "s"}}]))
    assert json.loads(batch.content) == [{"tool": "send_email", "ok": "sent to b@x.org"}]
    assert SENT == [("a@example.com", "hi"), ("b@x.org", "s")]
    assert chat.specs() == kit.conversation().specs()  # the tool list never changes (prompt cache)
    assert kit.conversation().discovered == ()  # found per conversation


def test_regex_search_finds_by_pattern(kit: Toolkit) -> None:
    chat = kit.conversation()
    found = chat.handle(req("tool_search", query="refund|weather", mode="regex"))
    assert set(chat.discovered) == {"refund_order", "get_weather"}, found.content


@pytest.mark.parametrize(
    "arguments, expected",
    [({"query": "x", "mode": "fuzzy"}, "mode must be"), ({"query": "x", "k": 0}, "k must be"), ({}, "expected")],
    ids=["mode", "k", "no-query"],
)
def test_a_malformed_search_is_an_error(kit: Toolkit, arguments: dict[str, Any], expected: str) -> None:
    response = kit.conversation().handle(req("tool_search", **arguments))
    assert response.is_error and expected in response.content


def test_a_code_only_tool_cannot_be_called_outside_code(kit: Toolkit) -> None:
    chat = kit.conversation()
    assert chat.handle(req("whoami")).is_error
    items = json.loads(chat.handle(req("batch", calls=[{"tool": "whoami", "arguments": {}}])).content)
    assert "no tool named 'whoami'" in items[0]["error"]
    assert chat.handle(code("whoami()"), context="ada").content == 'value: "ada"\n'


def test_async_drivers_run_async_tools_on_the_callers_loop(kit: Toolkit) -> None:
    async def main() -> list[str]:
        chat = kit.conversation()
        await chat.ahandle(req("tool_search", query="weather forecast", k=1))
        script = "rs = await asyncio.gather(*(get_weather(c) for c in ['Oslo', 'Rome']))\n[r['city'] for r in rs]"
        responses = await chat.ahandle_all([code(script), req("get_candidate", candidate_id=1)])
        return [response.content for response in responses]

    first, second = asyncio.run(main())
    assert first == 'value: ["Oslo", "Rome"]\n'
    assert json.loads(second)["id"] == 1


def test_an_unknown_meta_tool_lists_what_exists(kit: Toolkit) -> None:
    response = kit.conversation().handle(req("execute_python", code="1"))
    assert response.is_error and "execute_code" in response.content and "tool_search" in response.content


def test_a_conversation_is_made_per_agent(kit: Toolkit) -> None:
    assert isinstance(kit.conversation(), Conversation)
    assert kit.conversation() is not kit.conversation()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: Toolkit(direct=[send_email], deferred=[send_email], code_action=False), "two tools are named"),
        (lambda: Toolkit(direct=[tool(name="batch")(lambda: 1)], code_action=False), "name of a meta-tool"),
        (lambda: Toolkit(direct=ToolSet([send_email], namespace="n" * 70), code_action=False), "1-64 characters"),
    ],
    ids=["duplicate", "meta-name", "too-long"],
)
def test_toolkit_definition_mistakes_are_raised_at_once(make: Any, expected: str) -> None:
    with pytest.raises(ToolDefinitionError, match=expected):
        make()


@pytest.mark.parametrize("budget", [0, 999, True, "big"], ids=["zero", "small", "bool", "str"])
def test_a_bad_output_budget_is_rejected(budget: Any) -> None:
    with pytest.raises(ValueError, match="output_budget"):
        Toolkit(direct=[send_email], code_action=False, output_budget=budget)


def test_a_toolkit_without_code_action_offers_batch_and_direct_tools() -> None:
    kit = Toolkit(direct=[send_email], code_action=False)
    assert kit.sandbox is None
    assert [spec.name for spec in kit.conversation().specs()] == ["batch", "send_email"]
    response = kit.conversation().handle(req("execute_code", code="1"))
    assert response.is_error
