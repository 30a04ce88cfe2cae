"""No script can hold the host past its timeout.

Uses the ``quick`` sandbox (timeout 0.5 s). Each script tries to block or
spin; the call must come back well within a wall-clock bound, and the same
sandbox must run the next script correctly.
"""

from __future__ import annotations

import time

import pytest

from runtime import Limits, SessionBroken

BOUND = 5.0  # seconds: ten times the timeout, generous for a loaded machine


@pytest.fixture(autouse=True)
def _guest_ready(quick):
    """Time only the run: a first use may still be building or loading the guest."""
    quick.wait_ready()


# Scripts that would run (far) past the timeout if nothing stopped them.
BLOCKERS = {
    "time-sleep": "import time\ntime.sleep(100)",
    "time-sleep-loop": "import time\nwhile True:\n    time.sleep(0.001)",
    "busy-loop": "while True:\n    pass",
    "busy-loop-catching": (
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    ),
    "sleep-catching": (
        "import time\nwhile True:\n    try:\n        time.sleep(100)\n    except BaseException:\n        pass"
    ),
    "select": "import select\nselect.select([], [], [], 100)",
    "host-sleep-huge": "from wit_world.imports import host\nhost.sleep(1e300)",
    "host-sleep-inf": "from wit_world.imports import host\nhost.sleep(float('inf'))",
    "original-time-sleep": (
        "import _imp\nspec = type('Spec', (), {'name': 'time', 'origin': None})()\n_imp.create_builtin(spec).sleep(100)"
    ),
    "asyncio-sleep": "import asyncio\nasyncio.run(asyncio.sleep(100))",
    "huge-computation": "x = 1\nfor i in range(10**12):\n    x = (x * 3 + i) % 1000003",
    "huge-power": "len(str(7 ** (7 ** 9)))",
    "deep-regex": "import re\nre.match('(a+)+$', 'a' * 64 + 'b')",
}

# Scripts that look blocking but cannot block in a thread-less guest: they
# must come back at once, and never hold the host.
NON_BLOCKING = {
    "event-wait": "import threading\nthreading.Event().wait(100)",
    "lock-acquire-timeout": "import threading\nlock = threading.Lock()\nlock.acquire()\nlock.acquire(timeout=100)",
    "condition-wait": "import threading\nc = threading.Condition()\nwith c:\n    c.wait(100)",
    "stdin-read": "import sys\nsys.stdin.read()",
    "input": "input()",
    "os-read-stdin": "import os\nos.read(0, 100)",
    "wait-tools": "from wit_world.imports import host\nhost.wait_tools(100.0)",
    "lock-deadlock": "import threading\nlock = threading.Lock()\nlock.acquire()\nlock.acquire()",
}


@pytest.mark.parametrize("code", list(BLOCKERS.values()), ids=list(BLOCKERS))
def test_blocking_script_is_stopped(code, quick, check_healthy):
    started = time.monotonic()
    result = quick.run(code)
    elapsed = time.monotonic() - started

    assert elapsed < BOUND
    assert result.ok is False
    check_healthy(quick)


@pytest.mark.parametrize("code", list(NON_BLOCKING.values()), ids=list(NON_BLOCKING))
def test_would_be_blocking_call_returns(code, quick, check_healthy):
    started = time.monotonic()
    quick.run(code)
    assert time.monotonic() - started < BOUND
    check_healthy(quick)


def test_sleep_is_bounded_by_the_timeout_not_the_request(quick):
    # The run stops at its timeout (0.5 s), not after the 100 s asked for.
    started = time.monotonic()
    result = quick.run("import time\ntime.sleep(100)")
    elapsed = time.monotonic() - started
    assert not result.ok
    assert 0.4 <= elapsed < BOUND


def test_short_sleep_still_works(quick):
    result = quick.run("import time\nt = time.monotonic()\ntime.sleep(0.05)\ntime.monotonic() - t")
    assert result.error is None
    assert 0.04 <= result.value < 0.5


def test_blocked_session_is_discarded_and_host_stays_usable(quick, check_healthy):
    with quick.session() as session:
        session.run("x = 1")
        started = time.monotonic()
        result = session.run("import time\ntime.sleep(100)")
        assert time.monotonic() - started < BOUND
        assert not result.ok
        with pytest.raises(SessionBroken):
            session.run("x")
    check_healthy(quick)


def test_timeout_applies_per_run_override(sandbox, check_healthy):
    started = time.monotonic()
    result = sandbox.run("while True:\n    pass", limits=Limits(timeout=0.2))
    assert time.monotonic() - started < BOUND
    assert not result.ok
    check_healthy(sandbox)
