"""``run(only_tools=...)`` narrows one run's grant to some of the sandbox's tools."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from host_functions import ExampleCRM, ToolDefinitionError, ToolSet
from runtime import Limits, Sandbox


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


def test_a_withheld_tool_built_in_the_guest_is_still_refused(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    # Warm interpreters have every tool of the sandbox built; a narrowed run can find the
    # function of one it was not granted, and calling it changes nothing on the host.
    # (Wait for one: having learned a grant, the pool may be replacing its interpreters.)
    assert crm_sandbox.wait_ready(timeout=60)
    script = "import guest_tools\nguest_tools._registry['tag_candidate'](1, 'found')"
    before = len(crm.tagged("found"))
    r = crm_sandbox.run(script, only_tools=["get_candidate"])
    assert r.error is not None and r.error.type == "ToolError"
    assert len(crm.tagged("found")) == before
    assert [(call.tool, call.outcome) for call in r.tool_calls] == [("tag_candidate", "rejected")]


GRANTS = [None, [], ["get_candidate"], ["crm.tag_candidate", "list_candidates"], None, ["get_candidate"], []]
"""Grants in turn on the same interpreters: all, none and subsets, each after another."""
TOP_LEVEL = ["crm", "get_candidate", "list_candidates", "tag_candidate"]
VISIBLE = f"[name for name in {TOP_LEVEL!r} if name in globals()], sorted(dir(tools)) if 'tools' in globals() else []"


@pytest.mark.parametrize(
    "pool_size, limits",
    [(0, Limits()), (1, Limits()), (1, Limits(fuel=10**9))],
    # A fuel-metered pool does not warm its interpreters: they are restored to how they were made.
    ids=["new-interpreters", "restored-to-warm", "restored-to-new"],
)
def test_each_run_sees_exactly_its_grant(crm: ExampleCRM, pool_size: int, limits: Limits) -> None:
    toolset = ToolSet([crm.toolset(), crm.toolset(namespace="crm")])
    with Sandbox(tools=toolset, pool_size=pool_size, limits=limits) as sb:
        assert sb.wait_ready(timeout=60)
        for only in GRANTS:
            top = sorted({name.split(".")[0] for name in (toolset.names if only is None else only)})
            r = sb.run(VISIBLE, only_tools=only)
            assert (r.error, r.value) == (None, [top, top]), only
            if only and "get_candidate" in only:
                called = sb.run("get_candidate(2)['id']", only_tools=only)
                assert (called.error, called.value) == (None, 2)


def test_warm_interpreters_are_sent_tool_names_not_descriptions(sent_options: list[str], crm: ExampleCRM) -> None:
    sent = sent_options
    with Sandbox(tools=crm.toolset(), pool_size=1) as sb:
        assert sb.wait_ready(timeout=60)
        described = [options for options in sent if '"tools": ' in options]
        assert len(described) == 1  # the warm-up's first call: the only one with descriptions
        sent.clear()
        for only in (["get_candidate"], [], None, ["get_candidate", "tag_candidate"]):
            assert sb.run("1", only_tools=only).value == 1
        assert not [options for options in sent if '"tools": ' in options]
        assert any('"tool_names": ["get_candidate"]' in options for options in sent)
