"""Tool arguments and results crossing both ways through a real tool.

Arguments: the guest's wrapper refuses NaN and infinities (strict JSON)
before sending; a lone surrogate travels as a JSON escape and the host's
validation refuses it; everything else round-trips exactly, sync or async,
plain, awaited or gathered. Results: what the tool returns reaches the
script exactly, or as a clean ``ToolError``.
"""

from __future__ import annotations

from typing import Any

import pytest
from fuzz_support import (
    FUZZ,
    VALUES,
    Handout,
    assert_clean,
    assert_healthy,
    finite,
    has_surrogates,
    paired,
    parse_repr,
    same_json,
    same_value,
    source,
)
from hypothesis import given
from hypothesis import strategies as st

from runtime import GuestException, Limits, RecursionLimitExceeded, Sandbox

STYLES = {
    "sync-plain": "echo({})",
    "sync-async-tool": "echo_async({})",
    "async-awaited": "await echo_async({})",
    "gathered": "(await asyncio.gather(echo({}), echo_async({})))[1]",
}


@pytest.mark.parametrize("style", list(STYLES), ids=list(STYLES))
def test_arguments_round_trip_or_are_refused_cleanly(fuzz: Sandbox, style: str) -> None:
    @FUZZ
    @given(value=VALUES)
    def sent(value: Any) -> None:
        lone = has_surrogates(paired(value))
        arg = source(value)
        result = fuzz.run(STYLES[style].format(arg, arg))
        assert_clean(result)
        outcomes = {call.outcome for call in result.tool_calls}
        if finite(value) and not lone:
            assert result.error is None, result.error
            assert same_json(result.value, paired(value)) and outcomes == {"ok"}
        elif not finite(value):
            assert isinstance(result.error, GuestException) and result.error.type == "ValueError"
            assert result.tool_calls == ()  # refused before anything crossed
        else:
            assert isinstance(result.error, GuestException) and result.error.type == "ToolArgumentError"
            assert outcomes == {"invalid"}

    sent()
    assert_healthy(fuzz)


def test_results_reach_the_script_exactly_or_fail_cleanly(fuzz: Sandbox, handout: Handout) -> None:
    @FUZZ
    @given(value=VALUES)
    def returned(value: Any) -> None:
        handout.value = value
        result = fuzz.run("give()")
        assert_clean(result)
        if has_surrogates(value):  # not UTF-8 text: the host cannot serialise it
            assert isinstance(result.error, GuestException) and result.error.type == "ToolError"
            assert [call.outcome for call in result.tool_calls] == ["error"]
        elif finite(value):
            assert result.error is None, result.error
            assert value is None or same_json(result.value, value)
        elif result.error is None:  # NaN and infinities arrive as floats, so the final value is their repr
            assert result.value_kind == "repr" and same_value(parse_repr(result.value), value)
        else:
            assert result.error.type == "ToolError"

    returned()
    assert_healthy(fuzz)


def test_deep_and_wide_arguments_round_trip_or_fail_cleanly(fuzz: Sandbox) -> None:
    @FUZZ
    @given(depth=st.integers(min_value=0, max_value=2_500), width=st.integers(min_value=0, max_value=20_000))
    def sent(depth: int, width: int) -> None:
        code = (
            f"x = {{str(i): i for i in range({width})}}\nfor _ in range({depth}):\n    x = [x]\n"
            "y = echo(x)\nn = 0\nwhile isinstance(y, list):\n    y = y[0]\n    n += 1\n"
            f"[n, y == {{str(i): i for i in range({width})}}]"
        )
        result = fuzz.run(code)
        assert_clean(result)
        if result.error is None:
            assert result.value == [depth, True]
        elif isinstance(result.error, GuestException):
            assert result.error.type == "ToolArgumentError"  # the host's JSON parser caps nesting
            assert depth > 100
        else:
            assert isinstance(result.error, RecursionLimitExceeded)  # the guest's encoder ran out of stack
            assert depth > 500

    sent()
    assert_healthy(fuzz)


REFUSED = {
    "missing-argument": "echo_async()",
    "wrong-type": "tools.echo_async(value=1, extra=2)",
    "lone-surrogate": "echo_async('\\ud800')",
}


@pytest.mark.parametrize("call", list(REFUSED.values()), ids=list(REFUSED))
def test_awaited_call_the_host_refuses_raises(fuzz: Sandbox, call: str) -> None:
    code = f"try:\n    await {call}\n    kind = None\nexcept ToolError as e:\n    kind = e.kind\nkind"
    result = fuzz.run(code, limits=Limits(timeout=1.0))
    assert (result.error, result.value) == (None, "arguments")
    assert [c.outcome for c in result.tool_calls] == ["invalid"]
