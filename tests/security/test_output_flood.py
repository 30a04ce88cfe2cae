"""Output floods and giant exceptions stay within the host's budget.

The cap (``Limits.max_output_bytes``) is counted on the host, whatever path
the bytes took out of the guest: ``print``, ``sys.stdout.write``, the
original WASI streams, ``os.write`` on fd 1 and 2. By effect: the kept
output never exceeds the cap, error fields stay bounded, the host is fine.
"""

from __future__ import annotations

import time

import pytest

from runtime import Limits, OutputLimitExceeded

CAP = 20_000
LIMITS = Limits(timeout=5.0, max_output_bytes=CAP)

FLOODS = {
    "print-loop": f"for i in range({CAP} // 10):\n    print('x' * 99)",
    "print-one-huge": f"print('x' * {CAP * 10})",
    "stderr-loop": f"import sys\nfor i in range({CAP} // 10):\n    print('y' * 99, file=sys.stderr)",
    "both-streams": (
        f"import sys\nfor i in range({CAP} // 10):\n    print('a' * 50)\n    print('b' * 50, file=sys.stderr)"
    ),
    "multibyte": f"print('\\u20ac\\U0001f600' * {CAP * 2})",
    "write-no-newline": f"import sys\nfor i in range({CAP}):\n    sys.stdout.write('zzzzzzzzzz')",
    "flush-every-write": f"import sys\nfor i in range({CAP}):\n    sys.stdout.write('f' * 10)\n    sys.stdout.flush()",
    "original-stdout": f"import sys\nfor i in range({CAP} // 10):\n    sys.__stdout__.write('o' * 100)",
    "original-stderr-flush": (
        f"import sys\nfor i in range({CAP} // 10):\n    sys.__stderr__.write('e' * 100)\n    sys.__stderr__.flush()"
    ),
    "os-write-fd1": f"import os\nfor i in range({CAP} // 10):\n    os.write(1, b'w' * 100)",
    "os-write-fd2-big-chunks": f"import os\nfor i in range(100):\n    os.write(2, b'W' * {CAP})",
    "os-write-ignoring-errors": (
        f"import os\nfor i in range({CAP}):\n"
        "    try:\n        os.write(1, b'i' * 100)\n    except OSError:\n        pass"
    ),
    "print-ignoring-errors": (
        f"for i in range({CAP}):\n    try:\n        print('p' * 100)\n    except BaseException:\n        pass"
    ),
    "replace-sys-stdout": (
        f"import sys, io\nsys.stdout = io.StringIO()\nprint('hidden' * {CAP})\nsys.stdout = sys.__stdout__\n"
        f"for i in range({CAP} // 10):\n    print('s' * 99)"
    ),
    "output-plus-huge-value": f"print('x' * ({CAP} - 10))\n'v' * {CAP * 5}",
    "huge-value-only": f"list(range({CAP * 10}))",
    "huge-repr-value": f"type('X', (), {{'__repr__': lambda self: 'r' * {CAP * 100}}})()",
}


def kept(result) -> int:
    return len(result.stdout.encode()) + len(result.stderr.encode())


@pytest.mark.parametrize("code", list(FLOODS.values()), ids=list(FLOODS))
def test_flood_is_capped(code, sandbox, check_healthy):
    started = time.monotonic()
    result = sandbox.run(code, limits=LIMITS)
    assert time.monotonic() - started < 10
    assert kept(result) <= CAP
    if result.value is not None:
        assert len(str(result.value).encode()) <= CAP
    assert not result.ok  # every flood above is 2x-100x past the cap
    check_healthy(sandbox)


def test_flood_keeps_exactly_the_first_bytes(sandbox):
    result = sandbox.run(f"for i in range({CAP}):\n    print(i)", limits=LIMITS)
    expected = "".join(f"{i}\n" for i in range(CAP)).encode()[:CAP].decode()
    assert result.stdout == expected
    assert isinstance(result.error, OutputLimitExceeded)


def test_ten_megabyte_exception(sandbox, check_healthy):
    result = sandbox.run("raise ValueError('m' * 10_000_000)")
    assert result.error is not None
    assert len(result.error.message) <= 20_000
    assert result.error.traceback is None or len(result.error.traceback) <= 70_000
    assert len(repr(result)) <= 200_000
    check_healthy(sandbox)


@pytest.mark.parametrize(
    "code",
    [
        "class E(Exception):\n    def __str__(self):\n        return 's' * 10_000_000\nraise E()",
        "raise ValueError(*['a' * 100_000] * 100)",
        "e = ValueError('x')\nfor i in range(100):\n    e.add_note('n' * 100_000)\nraise e",
        "def f(n):\n    if n == 0:\n        raise KeyError('k' * 1_000_000)\n    f(n - 1)\nf(900)",
        "raise ExceptionGroup('g' * 100_000, [ValueError('v' * 100_000) for _ in range(50)])",
        "class E(Exception):\n    def __str__(self):\n        raise SystemExit\nraise E()",
        "import sys\nsys.stderr.write('z' * 10_000_000)\nraise ValueError('after')",
    ],
    ids=["huge-str", "many-args", "notes", "deep-traceback", "exception-group", "hostile-str", "stderr-then-raise"],
)
def test_giant_or_hostile_exceptions_stay_bounded(code, sandbox, check_healthy):
    result = sandbox.run(code, limits=LIMITS)
    assert kept(result) <= CAP
    assert result.error is not None
    assert len(result.error.message) <= 20_000
    assert result.error.traceback is None or len(result.error.traceback) <= 70_000
    check_healthy(sandbox)


def test_large_write_to_original_stdout_is_not_silently_truncated(sandbox):
    result = sandbox.run("import sys\nn = sys.__stdout__.write('s' * 20_000)\nsys.__stdout__.flush()\nn")
    assert result.value == 20_000
    assert result.stdout == "s" * 20_000
