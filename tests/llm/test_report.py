"""What a model reads back from a run: budgets, markers and failure reports."""

from __future__ import annotations

import pytest

from runtime import ExecutionResult, GuestException, TimeoutExceeded, ToolCall
from runtime.llm import report
from runtime.llm._report import cut


def _call(tool: str, outcome: str) -> ToolCall:
    return ToolCall(
        id=1, tool=tool, outcome=outcome, started=0.0, duration=0.0, waited=0.0, arguments_bytes=2, result_bytes=0,
        detail="host-side secret: token=abc123",
    )  # fmt: skip


@pytest.mark.parametrize("size", [10, 1000, 100_000], ids=["small", "medium", "large"])
def test_cut_keeps_head_and_tail_and_says_how_much_went(size: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(size))
    out = cut(text, 500)
    if size <= 500:
        assert out == text
        return
    assert len(out) <= 500
    assert out.startswith(text[:100]) and out.endswith(text[-50:])
    omitted = int(out.split("[... ")[1].split(" ")[0])
    assert omitted == size - (len(out) - len(out[out.index("\n[...") : out.index("...]\n") + 5]))


def test_success_returns_output_and_value_only() -> None:
    result = ExecutionResult(stdout="done\n", value={"n": 2}, value_kind="json")
    assert report(result, budget=1000) == 'done\nvalue: {"n": 2}\n'


def test_a_repr_value_is_shown_as_is() -> None:
    result = ExecutionResult(value="{1, 2}", value_kind="repr")
    assert report(result, budget=1000) == "value: {1, 2}\n"


def test_no_output_says_so() -> None:
    assert "printed nothing" in report(ExecutionResult(), budget=1000)


def test_stdout_and_stderr_share_the_budget() -> None:
    result = ExecutionResult(stdout="o" * 30_000, stderr="e" * 10_000)
    out = report(result, budget=4000)
    assert len(out) <= 4000 + 300
    assert out.count("cut: over the budget") == 2
    assert out.count("o") > out.count("e")  # shares follow the sizes


def test_a_guest_exception_reports_line_traceback_and_calls_but_no_host_detail() -> None:
    error = GuestException("boom", type="ValueError", line=3, traceback='  File "<script>", line 3\nValueError: boom')
    calls = (_call("a", "ok"), _call("b", "error"))
    out = report(ExecutionResult(stdout="partial\n", error=error, tool_calls=calls), budget=2000)
    assert out.startswith("partial\nError: ValueError (line 3): boom\n")
    assert "Tool calls made before it stopped: 2 (1 ok, 1 error)" in out
    assert "The last failed call was b() (error)" in out
    assert "not undone" in out and "Fix the script" in out
    assert "abc123" not in out  # the call log's detail is the host's, never the model's


def test_a_limit_names_the_limit_and_suggests_doing_less() -> None:
    error = TimeoutExceeded("the script ran for more than 2.0 s", value=2.0)
    out = report(ExecutionResult(error=error), budget=2000)
    assert "stopped by the sandbox's timeout limit (2.0)" in out and "Do less per run" in out
    assert "No tool calls were made." in out


def test_a_huge_traceback_is_cut_too() -> None:
    error = GuestException("deep", type="RecursionError", traceback="frame\n" * 50_000)
    out = report(ExecutionResult(error=error), budget=2000)
    assert len(out) <= 2000 and "characters of traceback cut" in out
