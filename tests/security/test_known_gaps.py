"""Gaps the hostile-script corpus found in the runtime, kept as regression tests.

Each test states the behaviour the runtime promises (README, docstrings,
the WIT contract). All are fixed now; a gap found later is pinned here as a
strict xfail whose reason names the mechanism, and the marker goes when the
fix lands (the xfail turns into an unexpected pass). None of these let a
script out of the sandbox; they were limits misreported or enforced late.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from host_functions import ToolSet, tool
from runtime import ExecutionResult, Limits, OutputLimitExceeded, Sandbox

CALLED: list[float] = []


@tool
def half(x: float) -> float:
    """A tool whose schema says ``x`` is a JSON number."""
    CALLED.append(x)
    return x / 2


@tool
def echo(value: str) -> str:
    return value


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([half, echo]), pool_size=1) as sandbox:
        yield sandbox


def test_fd_flood_ignoring_errors_ends_at_the_output_cap(sb: Sandbox) -> None:
    code = "import os\nwhile True:\n    try:\n        os.write(1, b'w' * 4096)\n    except OSError:\n        pass"
    started = time.monotonic()
    result = sb.run(code, limits=Limits(timeout=3.0, max_output_bytes=10_000))
    assert isinstance(result.error, OutputLimitExceeded), result.error
    assert time.monotonic() - started < 2.0


def test_large_final_value_is_an_output_limit_and_keeps_the_session(sb: Sandbox) -> None:
    limits = Limits(max_output_bytes=100_000)
    with sb.session(limits=limits) as session:
        session.run("kept = 41")
        result = session.run("'v' * 2_000_000")  # 20x the cap: 2 MB, past 4 x 100 kB + 1 MiB
        assert isinstance(result.error, OutputLimitExceeded), result.error
        assert session.run("kept + 1").value == 42


def test_huge_unknown_tool_name_cannot_hold_the_host_past_the_timeout(sb: Sandbox) -> None:
    code = "from wit_world.imports import host\nhost.call_tool('t' * (32 << 20), '{}')"
    started = time.monotonic()
    sb.run(code, limits=Limits(timeout=0.5, memory_mb=256))
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_in_raw_arguments_never_reach_a_tool(sb: Sandbox, token: str) -> None:
    CALLED.clear()
    result = sb.run(
        "import json\nfrom wit_world.imports import host\n"
        f"json.loads(host.call_tool('half', '{{\"x\": {token}}}')).get('error', {{}}).get('kind')"
    )
    assert (result.error, result.value) == (None, "arguments")
    assert CALLED == []


SUBMIT = "import json\nfrom wit_world.imports import host\nacks = json.loads(host.submit_tools(json.dumps({batch})))\n"


def _submit(sb: Sandbox, batch: str, then: str) -> ExecutionResult:
    return sb.run(SUBMIT.format(batch=batch) + then, limits=Limits(timeout=2.0))


def test_lone_surrogate_in_batched_arguments_is_refused_like_a_plain_call(sb: Sandbox) -> None:
    # Waits for the accepted call: a run that ends first logs it as cancelled.
    then = "host.wait_tools(2.0)\n[type(a).__name__ for a in acks]"
    result = _submit(sb, "['echo', '{\"value\": \"a\"}', 'echo', '\\ud800']", then)
    assert (result.error, result.value) == (None, ["int", "dict"])
    assert [c.outcome for c in result.tool_calls] == ["ok", "invalid"]


def test_call_log_holds_only_valid_text(sb: Sandbox) -> None:
    result = _submit(sb, "['ec\\udc00ho', '{}']", "acks")
    assert result.error is None
    for call in result.tool_calls:
        call.tool.encode("utf-8")
