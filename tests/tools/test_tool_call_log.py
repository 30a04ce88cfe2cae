"""The call log (``ExecutionResult.tool_calls``): one entry per call, with sizes that add up."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any, get_args

import pytest

from host_functions import Tool, ToolError, ToolSet, tool
from runtime import ExecutionResult, Limits, Sandbox
from runtime._result import ToolCall, ToolOutcome, tool_calls_from_rows

RESULTS = {"ascii": "hello", "empty": "", "non-ascii": "héllo wörld €", "emoji": "🙂" * 10}


@tool
def fetch(key: str) -> object:
    """A known result for ``key``."""
    return RESULTS[key]


@tool
def record(values: list[int], label: str) -> dict[str, object]:
    return {"label": label, "total": sum(values)}


@tool
def fails() -> None:
    raise ToolError("nope")


@tool
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([fetch, record, fails, nap]), pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


def _check_entry(call: ToolCall) -> None:
    assert isinstance(call.id, int) and call.id >= 1
    assert isinstance(call.tool, str) and call.tool
    assert call.outcome in get_args(ToolOutcome)
    assert call.started >= 0 and call.duration >= 0
    assert call.arguments_bytes >= 0 and call.result_bytes >= 0
    assert (call.detail is None) == (call.outcome == "ok")
    if call.outcome != "ok":
        assert call.result_bytes == 0 or "max_tool_result_bytes" in (call.detail or "")


MIXED = """\
import asyncio
import dataclasses
fetch("ascii")
try:
    fails()
except ToolError:
    pass
try:
    nope()
except NameError:
    pass
try:
    record("not a list", "x")
except ToolError:
    pass
await asyncio.gather(nap(0.05), record([1, 2, 3], label="sum"))
from wit_world.imports import host
host.call_tool("missing", "{}")
"""


def test_every_call_is_logged_with_its_outcome(sb: Sandbox) -> None:
    r = sb.run(MIXED)
    assert r.error is None, r.error
    for call in r.tool_calls:
        _check_entry(call)
    assert [(c.id, c.tool, c.outcome) for c in r.tool_calls] == [
        (1, "fetch", "ok"),
        (2, "fails", "error"),
        (3, "record", "invalid"),
        (4, "nap", "ok"),
        (5, "record", "ok"),
        (6, "missing", "rejected"),
    ]  # the NameError never reached the host
    assert r.tool_calls[3].duration >= 0.05
    json.dumps(r.to_dict())
    assert [c["id"] for c in r.to_dict()["tool_calls"]] == [1, 2, 3, 4, 5, 6]


def _assert_sizes(r: ExecutionResult, arguments: dict[str, object], result: object) -> None:
    assert r.error is None, r.error
    (call,) = r.tool_calls
    assert call.arguments_bytes == len(json.dumps(arguments).encode("utf-8"))
    assert call.result_bytes == len(Tool.serialize(result).encode("utf-8"))


@pytest.mark.parametrize("key", ["ascii", "empty"], ids=["ascii", "empty"])
def test_sizes_match_the_json_sent_and_returned(sb: Sandbox, key: str) -> None:
    r = sb.run(f"fetch({key!r})")
    assert r.value == RESULTS[key]
    _assert_sizes(r, {"key": key}, RESULTS[key])


def test_sizes_of_structured_arguments_and_results(sb: Sandbox) -> None:
    r = sb.run("record([1, 2, 3, 40], label='total')")
    assert r.value == {"label": "total", "total": 46}
    _assert_sizes(r, {"values": [1, 2, 3, 40], "label": "total"}, r.value)


@pytest.mark.parametrize(
    "raw", ['{ "key" :   "ascii" }', '{"values": [], "label": "t\u00f6t\u00e4l \U0001f642"}'], ids=["ascii", "utf-8"]
)
def test_arguments_size_is_the_utf8_size_of_what_the_guest_sent(sb: Sandbox, raw: str) -> None:
    name = "fetch" if "key" in raw else "record"
    r = sb.run(f"from wit_world.imports import host\nhost.call_tool({name!r}, {raw!r})")
    assert r.tool_calls[0].outcome == "ok"
    assert r.tool_calls[0].arguments_bytes == len(raw.encode("utf-8"))


@pytest.mark.parametrize("key", ["non-ascii", "emoji"], ids=["latin", "emoji"])
def test_result_bytes_of_non_ascii_results(sb: Sandbox, key: str) -> None:
    _assert_sizes(sb.run(f"fetch({key!r})"), {"key": key}, RESULTS[key])


def test_rejected_and_failed_calls_return_no_bytes(sb: Sandbox) -> None:
    r = sb.run(
        "for f in (lambda: fails(), lambda: fetch(key=1), lambda: fetch('x' * 100)):\n"
        "    try:\n        f()\n    except ToolError:\n        pass",
        limits=Limits(max_tool_payload_bytes=50),
    )
    assert r.error is None, r.error
    assert [(c.outcome, c.result_bytes) for c in r.tool_calls] == [("error", 0), ("invalid", 0), ("rejected", 0)]
    assert r.tool_calls[2].arguments_bytes > 50


def test_a_run_without_calls_has_an_empty_log(sb: Sandbox) -> None:
    assert sb.run("1 + 1").tool_calls == ()


def test_started_counts_from_the_start_of_the_run(sb: Sandbox) -> None:
    # The dispatcher is made at the first tool call; its times still count from the run's start.
    result = sb.run("import time\ntime.sleep(0.2)\nnap(0.0)")
    assert result.error is None
    (call,) = result.tool_calls
    assert 0.2 <= call.started < result.duration


def test_log_rows_become_the_same_frozen_tool_calls_as_the_constructor_makes() -> None:
    rows: list[tuple[Any, ...]] = [
        (1, "fetch", "ok", 0.001, 0.0002, 0.0, 16, 7, None),
        (2, "crm.tag", "error", 0.5, 1.25, 0.125, 3, 0, "ValueError('secret')"),
    ]
    names = [field.name for field in dataclasses.fields(ToolCall)]

    built = tool_calls_from_rows(rows)

    assert built == tuple(ToolCall(**dict(zip(names, row, strict=True))) for row in rows)
    assert [call.to_dict() for call in built] == [dict(zip(names, row, strict=True)) for row in rows]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built[0].tool = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        tool_calls_from_rows([(1, "short row")])
