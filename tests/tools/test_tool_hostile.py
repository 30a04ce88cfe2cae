"""A script calling the tool imports directly, bypassing its wrapper.

By effect: each bad call gets a clean error reply (or the run ends in a clean
``ExecutionError``), the host-side tool is never called with bad arguments
(the CRM's counters), the host stays alive and the next run is correct.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from host_functions import ExampleCRM, ToolSet, tool
from runtime import ExecutionError, Limits, Sandbox

CRM = ExampleCRM(active=10, others=0)
RELEASE = threading.Event()


@tool
async def slow(seconds: float = 1.0) -> str:
    await asyncio.sleep(seconds)
    return "slow done"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([CRM.toolset(), slow]), limits=Limits(timeout=5.0), pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


PRELUDE = """\
import json
from wit_world.imports import host
def kind(reply):
    data = json.loads(reply)
    return data["error"]["kind"] if "error" in data else "ok"
"""

NESTED = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


def tag(arguments: str) -> str:
    """A raw ``tag_candidate`` call; ``arguments`` is a guest expression for the JSON text."""
    return f"host.call_tool('tag_candidate', {arguments})"


# label -> (raw call, the error kind the reply must carry, or the run's error type
# when the component model itself refuses the call: text that is not UTF-8)
BAD_CALLS = {
    "unknown-tool": ("host.call_tool('nope', '{}')", "unknown"),
    "empty-name": ("host.call_tool('', '{}')", "unknown"),
    "garbage-name": ("host.call_tool('\\x00\\uffff' * 1000, '{}')", "unknown"),
    "huge-name": ("host.call_tool('t' * 1_000_000, '{}')", "unknown"),
    "not-json": (tag("'not json'"), "arguments"),
    "json-array": (tag("'[1,2]'"), "arguments"),
    "json-null": (tag("'null'"), "arguments"),
    "wrong-types": (tag(repr('{"candidate_id": "x", "tag": 5}')), "arguments"),
    "extra-keys": (tag(repr('{"candidate_id": 1, "tag": "t", "x": 1}')), "arguments"),
    "trailing-garbage": (tag(repr('{"candidate_id": 1, "tag": "t"} junk')), "arguments"),
    "five-mb-args": (tag("""'{"candidate_id": 1, "tag": "' + 'x' * 5_000_000 + '"}'"""), "limit"),
    "deeply-nested-array": (tag(repr(f'{{"candidate_id": {NESTED}, "tag": "t"}}')), "arguments"),
    "deeply-nested-object": (tag(repr(f'{{"candidate_id": 1, "tag": {DEEP_OBJECT}}}')), "arguments"),
    "lone-surrogate": (tag(repr('{"candidate_id": 1, "tag": "') + " + '\\ud800' + " + repr('"}')), "GuestCrashed"),
    "submit-unknown": ("host.submit_tool('nope', '{}')", "unknown"),
    "submit-not-json": ("host.submit_tool('tag_candidate', '{{{')", "arguments"),
}


@pytest.mark.parametrize("label", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_raw_call_gets_a_clean_error_and_never_reaches_the_tool(
    sb: Sandbox, label: str, check_healthy: Callable[[Sandbox], None]
) -> None:
    call, expected = BAD_CALLS[label]
    before = dict(CRM.calls)
    r = sb.run(PRELUDE + f"kind({call})")
    if expected[0].isupper():
        assert isinstance(r.error, ExecutionError) and r.error.type == expected
        assert r.tool_calls == ()
    else:
        assert (r.error, r.value) == (None, expected)
        assert len(r.tool_calls) == 1 and r.tool_calls[0].outcome in {"rejected", "invalid"}
    assert CRM.calls == before
    check_healthy(sb)


def test_close_match_is_suggested_by_the_host(sb: Sandbox) -> None:
    r = sb.run(PRELUDE + "json.loads(host.call_tool('tag_candidat', '{}'))['error']")
    assert r.value["kind"] == "unknown" and "tag_candidate" in r.value["message"]


def test_submit_then_wait_returns_exactly_that_call(sb: Sandbox) -> None:
    code = PRELUDE + (
        "ack = json.loads(host.submit_tool('get_candidate', '{\"candidate_id\": 3}'))\n"
        "first = json.loads(host.wait_tools(-1))\n"
        "again = json.loads(host.wait_tools(0.05))\n"
        "[ack, first, again]"
    )
    r = sb.run(code)
    assert r.error is None, r.error
    ack, first, again = r.value
    assert isinstance(ack["ok"], int)
    assert [item["id"] for item in first] == [ack["ok"]] and first[0]["ok"]["id"] == 3
    assert again == []  # a result is delivered once
    assert [c.id for c in r.tool_calls] == [ack["ok"]]


@pytest.mark.parametrize(
    "timeout", ["-1", "0", "0.05", "1e300", "-5.0"], ids=["minus-one", "zero", "short", "huge", "negative"]
)
def test_wait_with_nothing_submitted_returns_at_once(sb: Sandbox, timeout: str) -> None:
    start = time.monotonic()
    r = sb.run(PRELUDE + f"host.wait_tools({timeout})")
    assert (r.error, r.value) == (None, "[]")
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("submitted", [False, True], ids=["idle", "with-call-in-flight"])
def test_wait_with_nan_ends_the_run_cleanly(sb: Sandbox, submitted: bool, check_healthy) -> None:
    submit = "host.submit_tool('slow', '{\"seconds\": 0.2}')\n" if submitted else ""
    r = sb.run(PRELUDE + submit + "host.wait_tools(float('nan'))")
    assert isinstance(r.error, ExecutionError) and r.error.type == "GuestCrashed"
    assert all(c.outcome in {"ok", "cancelled"} for c in r.tool_calls)
    check_healthy(sb)


def test_a_run_cannot_collect_another_runs_results(sb: Sandbox) -> None:
    other: dict[str, object] = {}

    def victim() -> None:
        other["r"] = sb.run("import asyncio\nawait asyncio.gather(slow(0.5), slow(0.5))")

    thread = threading.Thread(target=victim)
    thread.start()
    time.sleep(0.1)  # the victim's calls are in flight now
    thief = sb.run(PRELUDE + "[host.wait_tools(0.3), host.wait_tools(-1)]")
    thread.join(10)
    assert (thief.error, thief.value, thief.tool_calls) == (None, ["[]", "[]"], ())
    victim_result = other["r"]
    assert (victim_result.error, victim_result.value) == (None, ["slow done", "slow done"])


def test_forged_pending_ids_do_not_confuse_the_host(sb: Sandbox) -> None:
    # The guest's bookkeeping is its own: fake ids in it get nothing from the
    # host, and the real call still completes.
    code = (
        "import asyncio, guest_tools\n"
        "fake = asyncio.get_event_loop_policy().new_event_loop().create_future()\n"
        "guest_tools._pending.update({0: fake, -1: fake, 10**9: fake})\n"
        "r = await get_candidate(2)\n"
        "r['id']"
    )
    r = sb.run(code, limits=Limits(timeout=2.0))
    assert (r.error, r.value) == (None, 2)
    assert [c.outcome for c in r.tool_calls] == ["ok"]
    assert sb.run("get_candidate(1)['id']").value == 1


@pytest.mark.parametrize(
    "batch",
    ["'not json'", "'[1, 2]'", "'[\"odd\"]'", "'{}'", "'[' * 100_000 + ']' * 100_000"],
    ids=["not-json", "not-strings", "odd-length", "object", "deeply-nested"],
)
def test_malformed_submit_batch_ends_the_run_cleanly(sb: Sandbox, batch: str, check_healthy) -> None:
    before = dict(CRM.calls)
    r = sb.run(PRELUDE + f"host.submit_tools({batch})")
    assert isinstance(r.error, ExecutionError) and r.error.type == "GuestCrashed"
    assert r.tool_calls == () and CRM.calls == before
    check_healthy(sb)


def test_submit_batch_answers_each_call_separately(sb: Sandbox) -> None:
    batch = ["tag_candidate", "nope", "nope", "{}", "get_candidate", '{"candidate_id": 1}']
    before = dict(CRM.calls)
    r = sb.run(
        PRELUDE + f"acks = json.loads(host.submit_tools({json.dumps(batch)!r}))\n"
        "[kind(json.dumps(a)) if isinstance(a, dict) else a for a in acks], json.loads(host.wait_tools(-1))"
    )
    assert r.error is None, r.error
    acks, finished = r.value
    assert acks[:2] == ["arguments", "unknown"] and isinstance(acks[2], int)
    assert [item["id"] for item in finished] == [acks[2]] and finished[0]["ok"]["id"] == 1
    assert [c.outcome for c in r.tool_calls] == ["invalid", "rejected", "ok"]
    assert CRM.calls["get_candidate"] - before["get_candidate"] == 1
    assert CRM.calls["tag_candidate"] == before["tag_candidate"]


def test_raw_results_are_plain_json_text(sb: Sandbox) -> None:
    r = sb.run(PRELUDE + "host.call_tool('get_candidate', '{\"candidate_id\": 2}')")
    assert json.loads(r.value) == {"ok": {"id": 2, "name": "Candidate 2", "status": "active", "tags": []}}


def test_breaking_json_does_not_break_tool_calls(sb: Sandbox) -> None:
    script = (
        "import asyncio, json, json.decoder, json.encoder\n"
        "json.dumps = json.loads = json.JSONEncoder = json.JSONDecoder = None\n"
        "json.encoder.c_make_encoder = json.decoder.scanstring = json.decoder.WHITESPACE = None\n"
        "active = list_candidates(status='active', page_size=3)\n"  # a result: the guest parses it
        "try:\n"
        "    get_candidate(10**9)\n"  # an error reply
        "except ToolError as exc:\n"
        "    missing = exc.tool\n"
        "slept = await asyncio.gather(slow(0.01), slow(seconds=0.02))\n"  # float arguments, submitted
        "[[c['id'] for c in active], missing, slept]"
    )
    result = sb.run(script)
    assert result.error is None, result.error
    assert result.value == [[1, 2, 3], "get_candidate", ["slow done", "slow done"]]
