"""Limits: validated at construction; every breach is typed, keeps partial output,
and leaves the host and the next run fine."""

from __future__ import annotations

import time

import pytest

from runtime import (
    FuelExhausted,
    InvalidLimits,
    LimitExceeded,
    Limits,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RecursionLimitExceeded,
    Sandbox,
    TimeoutExceeded,
)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", "2"),
        ("timeout", True),
        ("memory_mb", 0),
        ("memory_mb", 1.5),
        ("max_output_bytes", -10),
        ("fuel", 0),
        ("recursion_limit", 0),
        ("max_code_bytes", None),
    ],
    ids=lambda v: repr(v),
)
def test_invalid_limits_are_rejected_with_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidLimits) as info:
        Limits(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert f"Limits.{field}=" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_limits_are_frozen_and_keyword_only() -> None:
    limits = Limits(timeout=1.5)
    with pytest.raises(AttributeError):
        limits.timeout = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Limits(1.0)  # type: ignore[misc]


def _check_breach(sb: Sandbox, code: str, limits: Limits, kind: type[LimitExceeded], limit_value: object) -> None:
    started = time.monotonic()
    r = sb.run(code, limits=limits)
    elapsed = time.monotonic() - started
    assert isinstance(r.error, kind), r.error
    assert r.error.limit and r.error.value == limit_value
    assert r.stdout.startswith("started\n")  # partial output kept
    assert elapsed < 10
    assert sb.run("print('next')\n21 * 2").value == 42  # the next run is fine


@pytest.mark.parametrize(
    "code",
    [
        "print('started')\nwhile True: pass",
        "print('started')\nimport time\ntime.sleep(30)",
        "print('started')\nimport time\nwhile True: time.sleep(0.01)",
        "print('started')\nimport asyncio\nasyncio.run(asyncio.sleep(30))",
    ],
    ids=["busy-loop", "sleep", "many-sleeps", "asyncio-sleep"],
)
def test_timeout(sandbox: Sandbox, code: str) -> None:
    r = sandbox.run(code, limits=Limits(timeout=0.4))
    if "asyncio" in code and not isinstance(r.error, TimeoutExceeded):
        # asyncio's default loop needs a socketpair, which the guest lacks:
        # it fails fast rather than sleeping, which is containment too.
        assert r.error is not None and r.stdout == "started\n"
        return
    _check_breach(sandbox, code, Limits(timeout=0.4), TimeoutExceeded, 0.4)


def test_timeout_is_wall_clock_accurate(sandbox: Sandbox) -> None:
    started = time.monotonic()
    r = sandbox.run("while True: pass", limits=Limits(timeout=0.3))
    assert isinstance(r.error, TimeoutExceeded)
    assert 0.3 <= time.monotonic() - started < 1.5


def test_memory(sandbox: Sandbox) -> None:
    code = "print('started')\nblocks = []\nwhile True: blocks.append(bytearray(1 << 20))"
    _check_breach(sandbox, code, Limits(memory_mb=64), MemoryLimitExceeded, 64)


def test_memory_single_huge_allocation(sandbox: Sandbox) -> None:
    _check_breach(sandbox, "print('started')\nbytearray(10**9)", Limits(memory_mb=64), MemoryLimitExceeded, 64)


def test_memory_error_caught_by_the_script_is_not_a_breach(sandbox: Sandbox) -> None:
    r = sandbox.run(
        "try:\n    bytearray(10**9)\nexcept MemoryError:\n    x = 'handled'\nx", limits=Limits(memory_mb=64)
    )
    assert r.ok and r.value == "handled"


@pytest.mark.parametrize(
    "code",
    [
        "print('started')\nwhile True: print('x' * 1000)",
        "print('started')\nprint('y' * 5000)",
        "print('started')\nimport sys\nfor _ in range(10000): sys.stderr.write('e' * 100)",
        "print('started')\nimport os\nwhile True: os.write(1, b'z' * 1000)",
        "print('started')\ntry:\n    print('y' * 5000)\nexcept OSError:\n    pass\n'swallowed'",
        "print('started')\n'v' * 5000",
    ],
    ids=["flood", "one-big-print", "stderr", "fd-level", "swallowed", "big-value"],
)
def test_output(sandbox: Sandbox, code: str) -> None:
    limits = Limits(max_output_bytes=2000)
    r = sandbox.run(code, limits=limits)
    assert isinstance(r.error, OutputLimitExceeded), r.error
    assert r.error.value == 2000
    assert len(r.stdout.encode()) + len(r.stderr.encode()) <= 2000
    assert r.stdout.startswith("started\n")
    assert sandbox.run("21 * 2").value == 42


def test_output_overflow_is_reported_as_printing_even_with_a_final_value(sandbox: Sandbox) -> None:
    r = sandbox.run("print('x' * 3000)\n'value'", limits=Limits(max_output_bytes=2000))
    assert isinstance(r.error, OutputLimitExceeded)
    assert "printed more than 2000 bytes" in r.error.message
    assert r.value is None


def test_output_keeps_exactly_the_first_bytes(sandbox: Sandbox) -> None:
    r = sandbox.run("print(''.join(str(i % 10) for i in range(5000)), end='')", limits=Limits(max_output_bytes=1234))
    assert isinstance(r.error, OutputLimitExceeded)
    assert r.stdout == "".join(str(i % 10) for i in range(1234))


def test_output_counts_utf8_bytes(sandbox: Sandbox) -> None:
    r = sandbox.run("print('é' * 600, end='')", limits=Limits(max_output_bytes=1000))
    assert isinstance(r.error, OutputLimitExceeded)
    assert r.stdout == "é" * 500


@pytest.mark.parametrize(
    ("code", "fatal"),
    [
        ("print('started')\ndef f(n):\n    return f(n + 1)\nf(0)", False),
        ("print('started')\neval('[' * 100000)", True),
        ("print('started')\nimport json\nx = []\nfor _ in range(100000): x = [x]\njson.dumps(x)", True),
    ],
    ids=["python-frames", "parser-nesting", "deep-data"],
)
def test_recursion(sandbox: Sandbox, code: str, fatal: bool) -> None:
    r = sandbox.run(code, limits=Limits(recursion_limit=500))
    assert isinstance(r.error, RecursionLimitExceeded), r.error
    assert r.error.fatal is fatal
    _check_breach(sandbox, code, Limits(recursion_limit=500), RecursionLimitExceeded, 500)


def test_fuel_is_deterministic_and_enforced(sandbox: Sandbox) -> None:
    limits = Limits(fuel=500_000_000)
    first = sandbox.run("sum(i * i for i in range(20000))", limits=limits)
    second = sandbox.run("sum(i * i for i in range(20000))", limits=limits)
    assert first.ok and first.value == second.value
    assert first.fuel_consumed == second.fuel_consumed
    assert first.fuel_consumed is not None and 0 < first.fuel_consumed < 500_000_000
    _check_breach(sandbox, "print('started')\nwhile True: pass", Limits(fuel=20_000_000), FuelExhausted, 20_000_000)


def test_small_value_over_a_tiny_output_budget(sandbox: Sandbox) -> None:
    r = sandbox.run("'v' * 300", limits=Limits(max_output_bytes=100))
    assert isinstance(r.error, OutputLimitExceeded)
    assert r.value is None
