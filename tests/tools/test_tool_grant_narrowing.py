"""``run(only_tools=...)`` narrows one run's grant to some of the sandbox's tools."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from host_functions import ExampleCRM, ToolDefinitionError
from runtime import Sandbox


def test_tools_left_out_do_not_exist_for_the_script(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    before = len(crm.tagged("narrowed"))
    r = crm_sandbox.run("tag_candidate(1, 'narrowed')", only_tools=["get_candidate"])
    assert r.error is not None and r.error.type == "NameError"
    assert len(crm.tagged("narrowed")) == before  # the tool never ran
    assert r.tool_calls == ()
    ok = crm_sandbox.run("get_candidate(1)['id']", only_tools=["get_candidate"])
    assert (ok.error, ok.value) == (None, 1)


def test_a_script_cannot_reach_a_withheld_tool_through_the_host(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    # Bypass the guest's wrapper: the host itself refuses a tool outside the run's grant.
    script = (
        "import json\n"
        "from wit_world.imports import host\n"
        "host.call_tool('tag_candidate', json.dumps({'candidate_id': 1, 'tag': 'bypass'}))"
    )
    before = len(crm.tagged("bypass"))
    r = crm_sandbox.run(script, only_tools=["get_candidate"])
    assert len(crm.tagged("bypass")) == before
    assert [(call.tool, call.outcome) for call in r.tool_calls] == [("tag_candidate", "rejected")]


def test_an_empty_grant_runs_without_tools(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run("'get_candidate' in globals()", only_tools=[])
    assert (r.error, r.value) == (None, False)


def test_async_runs_narrow_too(crm_sandbox: Sandbox) -> None:
    r = asyncio.run(
        crm_sandbox.arun("sorted(k for k in globals() if not k.startswith('_'))", only_tools=["get_candidate"])
    )
    assert "get_candidate" in r.value and "tag_candidate" not in r.value


@pytest.mark.parametrize(
    "only, expected",
    [(["nope"], "was not granted"), ("get_candidate", "not a single string")],
    ids=["unknown", "string"],
)
def test_naming_a_tool_that_was_not_granted_is_a_usage_error(crm_sandbox: Sandbox, only: Any, expected: str) -> None:
    with pytest.raises((ToolDefinitionError, TypeError), match=expected):
        crm_sandbox.run("1", only_tools=only)


def test_a_sandbox_without_tools_accepts_only_an_empty_grant(sandbox: Sandbox) -> None:
    assert sandbox.run("1", only_tools=[]).value == 1
    with pytest.raises(ToolDefinitionError, match="granted no tools"):
        sandbox.run("1", only_tools=["x"])
