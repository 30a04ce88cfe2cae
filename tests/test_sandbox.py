"""Sandbox.run / arun: values, output, errors, input checks, isolation between runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime import (
    Cancelled,
    GuestCrashed,
    GuestException,
    GuestSyntaxError,
    InvalidCode,
    Limits,
    Sandbox,
)


def test_quickstart(sandbox: Sandbox) -> None:
    r = sandbox.run("import statistics\nxs=[3,1,4,1,5]\nprint(sorted(xs))\nstatistics.mean(xs)")
    assert r.ok and r.error is None
    assert r.stdout == "[1, 1, 3, 4, 5]\n"
    assert r.value == 2.8
    assert r.value_kind == "json"


@pytest.mark.parametrize(
    ("code", "value", "kind"),
    [
        ("x = 1", None, "none"),
        ("None", None, "none"),
        ("1 + 1", 2, "json"),
        ("'héllo'", "héllo", "json"),
        ("[1, 2.5, None, True]", [1, 2.5, None, True], "json"),
        ("(1, 2)", [1, 2], "json"),
        ("{'a': {'b': [1]}}", {"a": {"b": [1]}}, "json"),
        ("10**30", 10**30, "json"),
        ("{1: 'a'}", "{1: 'a'}", "repr"),
        ("float('nan')", "nan", "repr"),
        ("{1, 2}", "{1, 2}", "repr"),
        ("b'raw'", "b'raw'", "repr"),
        ("'\\udc80'", "'\\udc80'", "repr"),
        ("class A:\n    def __repr__(self):\n        raise ValueError\nA()", "<unrepresentable A: ValueError>", "repr"),
        ("if True:\n    5", None, "none"),
        ("for i in range(3):\n    i\ni * 10", 20, "json"),
    ],
    ids=[
        "statement",
        "none",
        "int",
        "text",
        "list",
        "tuple-as-list",
        "nested",
        "bigint",
        "int-keys-repr",
        "nan-repr",
        "set-repr",
        "bytes-repr",
        "surrogate-repr",
        "broken-repr",
        "expr-in-block",
        "last-expr",
    ],
)
def test_final_value(sandbox: Sandbox, code: str, value: object, kind: str) -> None:
    r = sandbox.run(code)
    assert r.ok, r.error
    assert (r.value, r.value_kind) == (value, kind)


def test_exception_has_user_line_numbers_and_only_user_frames(sandbox: Sandbox) -> None:
    r = sandbox.run("def f(x):\n    return 1 / x\n\nprint('before')\nf(0)\n")
    assert isinstance(r.error, GuestException)
    assert (r.error.type, r.error.message, r.error.line) == ("ZeroDivisionError", "division by zero", 2)
    assert r.stdout == "before\n"
    tb = r.error.traceback or ""
    assert 'File "<script>", line 5, in <module>' in tb
    assert 'File "<script>", line 2, in f' in tb
    assert "return 1 / x" in tb
    assert "guest_runner" not in tb


def test_syntax_error_has_line_and_column(sandbox: Sandbox) -> None:
    r = sandbox.run("x = 1\ny = (2 +\n")
    assert isinstance(r.error, GuestSyntaxError)
    assert r.error.line == 2
    assert r.error.column == 5
    assert "line 2" in r.error.message


def test_stderr_and_print_file(sandbox: Sandbox) -> None:
    r = sandbox.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.stdout.write('raw')")
    assert (r.stdout, r.stderr) == ("out\nraw", "err\n")
    assert r.value == 3


def test_writes_below_sys_stdout_are_captured(sandbox: Sandbox) -> None:
    r = sandbox.run("import os\nos.write(1, b'fd-level\\n')")
    assert r.stdout == "fd-level\n"


def test_system_exit(sandbox: Sandbox) -> None:
    assert sandbox.run("print('a')\nraise SystemExit(0)\nprint('b')").ok
    r = sandbox.run("import sys\nsys.exit(3)")
    assert isinstance(r.error, GuestException)
    assert (r.error.type, r.error.message) == ("SystemExit", "3")
    r = sandbox.run("import sys\nsys.exit('a\\ud800b')")  # a lone surrogate cannot cross as text
    assert isinstance(r.error, GuestException)
    assert (r.error.type, r.error.message) == ("SystemExit", "a\\ud800b")


def test_os_exit_kills_only_that_interpreter(sandbox: Sandbox) -> None:
    r = sandbox.run("import os\nos._exit(0)")
    assert isinstance(r.error, GuestCrashed)
    assert sandbox.run("6 * 7").value == 42


def test_every_run_gets_a_fresh_interpreter(sandbox: Sandbox) -> None:
    assert sandbox.run("import builtins, json\nsecret = 1\nbuiltins.len = None\njson.dumps = None").ok
    r = sandbox.run("import json\n[len('abc'), 'secret' in globals(), json.dumps([1])]")
    assert r.value == [3, False, "[1]"]


@pytest.mark.parametrize(
    ("code", "limits"),
    [
        (b"print(1)", Limits()),
        (None, Limits()),
        ("x = 1 # " + "é" * 600, Limits(max_code_bytes=1000)),
        ("'\ud800'", Limits()),
    ],
    ids=["bytes", "none", "too-large", "lone-surrogate"],
)
def test_bad_code_is_rejected_before_the_guest(sandbox: Sandbox, code: object, limits: Limits) -> None:
    with pytest.raises(InvalidCode) as info:
        sandbox.run(code, limits=limits)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_limits_must_be_limits(sandbox: Sandbox) -> None:
    with pytest.raises(TypeError, match=r"runtime\.Limits"):
        Sandbox(limits={"timeout": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"runtime\.Limits"):
        sandbox.run("1", limits={"timeout": 1})  # type: ignore[arg-type]


def test_arun(sandbox: Sandbox) -> None:
    async def main() -> list[object]:
        results = await asyncio.gather(*(sandbox.arun(f"{i} * 2") for i in range(6)))
        return [r.value for r in results]

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]


@pytest.mark.parametrize("code", ["while True: pass", "import time\ntime.sleep(60)"], ids=["busy", "sleep"])
def test_cancelling_arun_stops_the_guest(code: str) -> None:
    with Sandbox(limits=Limits(timeout=60), pool_size=0) as sb:

        async def main() -> float:
            task = asyncio.create_task(sb.arun(code))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started

        # Cancellation returns only once the worker stopped the guest: a
        # guest left running would keep this well past the bound.
        assert asyncio.run(main()) < 2.0
        assert sb.run("1 + 1").value == 2


def test_cancelled_run_reports_cancelled() -> None:
    from runtime._driver import new_state

    with Sandbox(pool_size=0) as sb:
        state = new_state(sb.limits)
        state.cancel()
        r, hand_back = sb._run("while True: pass", sb.limits, state, None)
        hand_back()
    assert isinstance(r.error, Cancelled)
    assert r.error.fatal


def test_on_output_streams_what_is_kept_as_it_is_printed(sandbox: Sandbox) -> None:
    seen: list[tuple[str, str]] = []
    r = sandbox.run(
        "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('x' * 50)",
        on_output=lambda stream, text: seen.append((stream, text)),
        limits=Limits(max_output_bytes=20),
    )
    assert r.error is not None and r.error.type == "OutputLimitExceeded"
    assert "".join(text for stream, text in seen if stream == "stdout") == r.stdout  # nothing more than kept
    assert ("stderr", "two\n") in seen
    assert seen[0] == ("stdout", "one\n")  # in order, as printed


def test_a_failing_output_listener_is_dropped_and_the_run_goes_on(sandbox: Sandbox) -> None:
    calls = []

    def listener(stream: str, text: str) -> None:
        calls.append(text)
        raise KeyboardInterrupt("listener bug")

    r = sandbox.run("print(1)\nprint(2)\n3", on_output=listener)
    assert (r.error, r.stdout, r.value) == (None, "1\n2\n", 3)
    assert calls == ["1\n"]


@pytest.mark.parametrize("workers", [0, -1, 1.5, True], ids=["zero", "negative", "float", "bool"])
def test_invalid_workers(workers: object) -> None:
    with pytest.raises(ValueError, match="workers"):
        Sandbox(workers=workers)  # type: ignore[arg-type]


def test_workers_runs_that_many_scripts_at_once() -> None:
    import threading

    from host_functions import ToolSet, tool

    parties = 4  # more than the default (one per core, at least two) on this machine's 2 cores
    barrier = threading.Barrier(parties, timeout=20)

    @tool
    def meet() -> int:
        """Returns only once ``parties`` scripts are waiting in it at the same time."""
        return barrier.wait()

    async def main(sb: Sandbox) -> list[object]:
        results = await asyncio.gather(*(sb.arun("meet()") for _ in range(parties)))
        return [r.error for r in results]

    with Sandbox(tools=ToolSet([meet]), pool_size=0, workers=parties) as sb:
        assert asyncio.run(main(sb)) == [None] * parties


@pytest.mark.parametrize(
    ("code", "value"),
    [
        pytest.param("x = 2\ny = 3\nx * y", 6, id="final-expression"),
        pytest.param("t = 0\nfor i in range(3):\n    t += i\n    t", None, id="indented-last-line"),
        pytest.param("def f(a, b):\n    return a + b\nf(1,\n2)", 3, id="call-over-two-lines"),
        pytest.param('x = """\nabc\n"""\nlen(x)', 5, id="after-a-long-string"),
        pytest.param('x = """\nabc\nlen(x)\n"""', None, id="inside-a-long-string"),
        pytest.param("x = 1 + \\\n2", None, id="backslash-assignment"),
        pytest.param("1 + \\\n2", 3, id="backslash-expression"),
        pytest.param("x = 1\nx  # the answer", 1, id="trailing-comment"),
        pytest.param("x = 1\nx\n# done", 1, id="comment-line-last"),
        pytest.param("x = 1\nif x:\n    y = 2\nelse:\n    y = 3\ny", 2, id="after-if-else"),
        pytest.param("x = [1,\n2]\n", None, id="bracket-assignment"),
        pytest.param("a = 1\rb = a + 1\rb", 2, id="old-mac-line-ends"),
        pytest.param("a = 1\r\nb = a + 1\r\nb", 2, id="windows-line-ends"),
        pytest.param("x = 5", None, id="one-line-assignment"),
        pytest.param("for i in range(3): i", None, id="one-line-compound"),
        pytest.param("import math", None, id="one-line-import"),
    ],
)
def test_the_final_expression_is_the_value(sandbox: Sandbox, code: str, value: object) -> None:
    result = sandbox.run(code)
    assert (result.error, result.value) == (None, value)


def test_an_error_in_the_final_expression_names_its_line(sandbox: Sandbox) -> None:
    result = sandbox.run("a = 1\nb = 0\n\na / b")
    assert isinstance(result.error, GuestException)
    assert result.error.line == 4
    assert "line 4" in (result.error.traceback or "")


def test_a_one_line_syntax_error_is_reported_with_its_column(sandbox: Sandbox) -> None:
    result = sandbox.run("x = = 1")
    assert isinstance(result.error, GuestSyntaxError)
    assert (result.error.line, result.error.column) == (1, 5)


def test_warm_interpreters_are_ready_for_their_sandboxs_limits(sent_options: list[str]) -> None:
    # The warm-up leaves the options of the sandbox's own limits parsed, so its runs send none.
    sent = sent_options
    with Sandbox(limits=Limits(max_output_bytes=100, recursion_limit=300), pool_size=1) as sb:
        assert sb.wait_ready(timeout=60)
        sent.clear()
        first = sb.run("import sys\nsys.getrecursionlimit()")
        capped = sb.run("print('x' * 200)")
        other = sb.run("import sys\nsys.getrecursionlimit()", limits=Limits(recursion_limit=400))
    assert sent[:2] == ["", ""]  # nothing to send, nothing to parse
    assert '"recursion_limit": 400' in sent[2]
    assert first.value == 300 and other.value == 400  # each run has its own limits all the same
    assert capped.error is not None and capped.error.type == "OutputLimitExceeded" and len(capped.stdout) <= 100
