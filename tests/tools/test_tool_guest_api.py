"""Tools as the script sees them: names, ``help``, signatures, and errors it can catch."""

from __future__ import annotations

import inspect

import pytest

from host_functions import ExampleCRM
from runtime import Sandbox

LIST_SIGNATURE = "(status: Status, page_size: int = 50, page: int = 1) -> list[Candidate]"


@pytest.mark.parametrize("name", ["list_candidates", "crm.list_candidates"], ids=["top-level", "namespaced"])
def test_help_prints_signature_and_docstring(crm_sandbox: Sandbox, name: str) -> None:
    r = crm_sandbox.run(f"help({name})")
    assert r.error is None, r.error
    first, *rest = r.stdout.splitlines()
    assert first == name + LIST_SIGNATURE
    body = "\n".join(rest)
    assert "List candidates with a given status, a page at a time." in body
    assert "page_size: How many candidates per page (1 to 500)." in body


def test_inspect_signature_matches_the_host_function(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    code = (
        "import inspect\n"
        "out = {}\n"
        "for f in (list_candidates, get_candidate, tag_candidate):\n"
        "    sig = inspect.signature(f)\n"
        "    out[f.__name__] = [[p.name, p.kind.name, None if p.default is p.empty else p.default]\n"
        "                       for p in sig.parameters.values()]\n"
        "out, str(inspect.signature(list_candidates))"
    )
    r = crm_sandbox.run(code)
    assert r.error is None, r.error
    params, text = r.value
    assert text == LIST_SIGNATURE
    for name in ("list_candidates", "get_candidate", "tag_candidate"):
        host = inspect.signature(getattr(crm, name)).parameters.values()
        expected = [[p.name, p.kind.name, None if p.default is p.empty else p.default] for p in host]
        assert params[name] == expected


def test_none_return_annotation_reads_as_none(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run("import inspect\nstr(inspect.signature(tag_candidate))")
    assert r.value == "(candidate_id: int, tag: str) -> None"


@pytest.mark.parametrize(
    "expression",
    [
        "list_candidates is tools.list_candidates",
        "crm.list_candidates is tools.crm.list_candidates",
        "crm is tools.crm",
        "sorted(dir(tools)) == ['crm', 'get_candidate', 'list_candidates', 'tag_candidate']",
        "sorted(dir(crm)) == ['get_candidate', 'list_candidates', 'tag_candidate']",
        "crm.get_candidate.__name__ == 'get_candidate' and crm.get_candidate.tool_name == 'crm.get_candidate'",
        "get_candidate(4) == tools.get_candidate(4) == crm.get_candidate(4) == tools.crm.get_candidate(4)",
        "all(callable(f) for f in (get_candidate, tools.get_candidate, crm.get_candidate))",
        "issubclass(ToolArgumentError, ToolError) and issubclass(ToolArgumentError, TypeError)",
        "issubclass(ToolTimeoutError, ToolError) and issubclass(ToolTimeoutError, TimeoutError)",
    ],
    ids=[
        "top-level-is-tools-attr", "namespace-is-tools-attr", "namespace-object", "dir-tools", "dir-namespace",
        "names", "four-spellings-one-result", "callable", "argument-error-bases", "timeout-error-bases",
    ],
)  # fmt: skip
def test_tools_are_reachable_by_every_spelling(crm_sandbox: Sandbox, expression: str) -> None:
    r = crm_sandbox.run(expression)
    assert (r.error, r.value) == (None, True)


@pytest.mark.parametrize(
    ("code", "error_type", "close_match"),
    [
        ("lis_candidates()", "NameError", "list_candidates"),
        ("tag_candidates(1, 'x')", "NameError", "tag_candidate"),
        ("tools.lis_candidates", "AttributeError", "list_candidates"),
        ("crm.get_candidat(1)", "AttributeError", "get_candidate"),
        ("tools.crm.tag_candidat", "AttributeError", "tag_candidate"),
    ],
    ids=["name", "name-plural", "tools-attr", "namespace-attr", "tools-namespace-attr"],
)
def test_unknown_names_suggest_the_close_match(
    crm: ExampleCRM, crm_sandbox: Sandbox, code: str, error_type: str, close_match: str
) -> None:
    before = dict(crm.calls)
    r = crm_sandbox.run(code)
    assert r.error is not None and r.error.type == error_type
    assert "Did you mean" in r.error.message and repr(close_match) in r.error.message
    assert r.tool_calls == () and crm.calls == before


@pytest.mark.parametrize(
    ("code", "error_type", "logged"),
    [
        ("get_candidate(1, 2)", "TypeError", False),
        ("tag_candidate(1, 'x', 'y')", "TypeError", False),
        ("get_candidate(1, candidate_id=1)", "TypeError", False),
        ("get_candidate(object())", "TypeError", False),
        ("get_candidate('abc')", "ToolArgumentError", True),
        ("get_candidate()", "ToolArgumentError", True),
        ("get_candidate(candidate_id=1, extra=2)", "ToolArgumentError", True),
        ("list_candidates(status='bogus')", "ToolArgumentError", True),
        ("tag_candidate(1, ['not', 'a', 'str'])", "ToolArgumentError", True),
    ],
    ids=[
        "too-many-positional", "too-many-positional-2", "multiple-values", "unserialisable-argument",
        "wrong-type", "missing", "unexpected-keyword", "enum-value", "list-for-str",
    ],
)  # fmt: skip
def test_bad_calls_fail_in_the_guest_without_reaching_the_tool(
    crm: ExampleCRM, crm_sandbox: Sandbox, code: str, error_type: str, logged: bool
) -> None:
    before = dict(crm.calls)
    r = crm_sandbox.run(code)
    assert r.error is not None and r.error.type == error_type
    assert crm.calls == before
    assert [c.outcome for c in r.tool_calls] == (["invalid"] if logged else [])


def test_argument_error_names_tool_and_parameter_and_is_catchable_three_ways(crm_sandbox: Sandbox) -> None:
    code = (
        "caught = []\n"
        "for kind in (ToolArgumentError, TypeError, ToolError):\n"
        "    try:\n"
        "        get_candidate('abc')\n"
        "    except kind as e:\n"
        "        names = 'get_candidate' in str(e), 'candidate_id' in str(e)\n"
        "        caught.append([type(e).__name__, e.tool, e.kind, *names])\n"
        "caught"
    )
    r = crm_sandbox.run(code)
    assert r.error is None, r.error
    assert r.value == [["ToolArgumentError", "get_candidate", "arguments", True, True]] * 3


def test_script_catches_tool_error_and_carries_on(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    code = (
        "found = []\n"
        "for i in (1, 99999, 2):\n"
        "    try:\n"
        "        found.append(get_candidate(i)['id'])\n"
        "    except ToolError as e:\n"
        "        print(type(e).__name__, e.tool, e.kind, e)\n"
        "found"
    )
    before = crm.calls["get_candidate"]
    r = crm_sandbox.run(code)
    assert r.error is None, r.error
    assert r.value == [1, 2]
    assert r.stdout.startswith("ToolError get_candidate error ") and "99999" in r.stdout  # the tool's own message
    assert [c.outcome for c in r.tool_calls] == ["ok", "error", "ok"]
    assert crm.calls["get_candidate"] - before == 3


def test_uncaught_tool_error_ends_the_run_with_its_type(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run("print('before')\nget_candidate(99999)\nprint('after')")
    assert r.error is not None and r.error.type == "ToolError" and r.error.line == 2
    assert r.stdout == "before\n"


def test_arguments_and_results_round_trip_as_json(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run("c = get_candidate(3)\nc, type(c).__name__, type(c['tags']).__name__")
    assert r.error is None, r.error
    candidate, kind, tags_kind = r.value
    assert (kind, tags_kind) == ("dict", "list")
    assert candidate == {"id": 3, "name": "Candidate 3", "status": "active", "tags": candidate["tags"]}
    assert all(isinstance(tag, str) for tag in candidate["tags"])


def test_asyncio_is_ready_in_scripts_that_have_tools(crm_sandbox: Sandbox, sandbox: Sandbox) -> None:
    script = "rs = await asyncio.gather(*(get_candidate(i) for i in (1, 2)))\n[r['id'] for r in rs]"
    r = crm_sandbox.run(script)
    assert (r.error, r.value) == (None, [1, 2])
    # A sandbox without tools keeps a bare namespace.
    assert sandbox.run("'asyncio' in globals()").value is False
