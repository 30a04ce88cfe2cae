"""Session: state kept between runs without replaying code; broken after a fatal breach."""

from __future__ import annotations

import asyncio
import threading

import pytest

from runtime import ExecutionResult, GuestException, Limits, Sandbox, Session, SessionBroken, TimeoutExceeded


def test_state_persists_without_replaying(sandbox: Sandbox) -> None:
    with sandbox.session() as s:
        assert s.run("x = 40\nprint('side effect')").stdout == "side effect\n"
        r = s.run("x + 2")
        assert r.value == 42
        assert r.stdout == ""  # the first run's print did not run again
        assert s.run("import math\ndef area(r):\n    return math.pi * r * r").ok
        assert s.run("round(area(2), 3)").value == 12.566
        assert s.run("_ * 2").value == 25.132  # `_` is the previous value, as in a REPL


def test_exception_keeps_the_session(sandbox: Sandbox) -> None:
    with sandbox.session() as s:
        s.run("items = [1, 2]")
        r = s.run("items.append(3)\nraise KeyError('boom')")
        assert isinstance(r.error, GuestException) and r.error.type == "KeyError"
        assert s.run("items").value == [1, 2, 3]


def test_fatal_breach_breaks_the_session(sandbox: Sandbox) -> None:
    s = sandbox.session(limits=Limits(timeout=0.3))
    s.run("x = 1")
    r = s.run("print('spinning')\nwhile True: pass")
    assert isinstance(r.error, TimeoutExceeded) and r.stdout == "spinning\n"
    with pytest.raises(SessionBroken) as info:
        s.run("x")
    assert info.value.cause is r.error
    s.close()


def test_closed_session_refuses_runs() -> None:
    s = Session()
    assert s.run("1").value == 1
    s.close()
    with pytest.raises(SessionBroken):
        s.run("1")


def test_sessions_are_isolated_from_each_other(sandbox: Sandbox) -> None:
    with sandbox.session() as a, sandbox.session() as b:
        a.run("secret = 'a-only'")
        r = b.run("secret")
        assert isinstance(r.error, GuestException) and r.error.type == "NameError"


def test_concurrent_runs_are_serialised(sandbox: Sandbox) -> None:
    with sandbox.session() as s:
        s.run("n = 0")
        threads = [threading.Thread(target=lambda: [s.run("n += 1") for _ in range(50)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert s.run("n").value == 200


def test_arun(sandbox: Sandbox) -> None:
    async def main() -> object:
        with sandbox.session() as s:
            await s.arun("total = sum(range(10))")
            return (await s.arun("total")).value

    assert asyncio.run(main()) == 45


def test_cannot_switch_fuel_metering(sandbox: Sandbox) -> None:
    with sandbox.session() as s, pytest.raises(ValueError, match="fuel"):
        s.run("1", limits=Limits(fuel=10_000_000))


def test_each_run_gets_its_own_limits_in_the_guest(sandbox: Sandbox) -> None:
    # The host sends a run's options only when they changed (else ""): every run must still see its own.
    with sandbox.session() as s:
        s.run("import sys")
        seen = [
            s.run("sys.getrecursionlimit()", limits=Limits(recursion_limit=limit)).value
            for limit in (300, 300, 1000, 1000, 300)
        ]
        assert seen == [300, 300, 1000, 1000, 300]


def test_output_streams_outlive_the_run_that_saw_them(sandbox: Sandbox) -> None:
    # One stdout for every run: a stream kept by an earlier run writes to the current
    # run's output, even without a newline (nothing left in a stale buffer).
    with sandbox.session() as s:
        s.run("import sys\nkept = sys.stdout\nfor i in range(150):\n    print(i)")
        r = s.run("kept.write('partial')\nsys.stderr.write('err')")
        assert (r.stdout, r.stderr) == ("partial", "err")


def test_replaced_streams_come_back_for_the_next_run(sandbox: Sandbox) -> None:
    with sandbox.session() as s:
        r = s.run("import sys, io\nsys.stdout = io.StringIO()\nsys.__stdout__ = sys.stderr = None\nprint('hidden')")
        assert r.ok and r.stdout == ""
        r = s.run("print('shown')\nsys.__stdout__.write('original\\n')\nprint('e', file=sys.stderr)")
        assert r.ok, r.error
        assert (r.stdout, r.stderr) == ("shown\noriginal\n", "e\n")


def test_on_output_streams_each_run_as_it_prints(sandbox: Sandbox) -> None:
    seen: list[tuple[str, str]] = []
    with sandbox.session() as s:
        s.run("import sys\nkept = sys.stdout\nprint('setup')")  # no listener: nothing seen
        r = s.run(
            "print('one')\nprint('two', file=sys.stderr)\nkept.write('kept\\n')",
            on_output=lambda stream, text: seen.append((stream, text)),
        )
        assert r.ok, r.error
        assert seen == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "kept\n")]
        seen.clear()
        s.run("print('later')")  # the listener was for that run only
    assert seen == []


def test_arun_streams_output_too(sandbox: Sandbox) -> None:
    seen: list[str] = []

    async def main() -> ExecutionResult:
        with sandbox.session() as s:
            return await s.arun("for i in range(3):\n    print(i)", on_output=lambda stream, text: seen.append(text))

    r = asyncio.run(main())
    assert r.stdout == "0\n1\n2\n" == "".join(seen)
    assert len(seen) == 3  # line by line, as printed
