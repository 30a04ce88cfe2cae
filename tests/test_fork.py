"""Sandboxes and forked processes: a child makes its own, and that one works fully.

Threads do not survive ``fork``: the child inherits the process-wide engine
but not its epoch ticker (without it no timeout fires), and a parent's
sandbox has no threads left to refill its pool or run its async runs.
Each scenario runs in a subprocess that forks, so a hang or crash fails the
test instead of taking pytest with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork")

_CHILD = """
import asyncio, json, os, sys, time
from runtime import Limits, Sandbox, UsageError

parent = Sandbox(pool_size=1)
parent.run("print(1)")  # the process-wide engine and its ticker exist before the fork
session = parent.session()
session.run("x = 1")
child = os.fork()
if child == 0:
    report = {}
    try:
        parent.run("1")
    except UsageError as exc:
        report["parent_sandbox"] = str(exc)
    try:
        asyncio.run(parent.arun("1"))
    except UsageError:
        report["parent_sandbox_async"] = "UsageError"
    try:
        asyncio.run(session.arun("x"))
    except UsageError:
        report["parent_session"] = "UsageError"
    with Sandbox(pool_size=1, limits=Limits(timeout=0.5)) as own:
        started = time.monotonic()
        result = own.run("while True: pass")
        report["timeout"] = [type(result.error).__name__, time.monotonic() - started]
        report["async"] = asyncio.run(own.arun("6 * 7")).value
    print(json.dumps(report), flush=True)
    os._exit(0)
_, status = os.waitpid(child, 0)
session.close()
parent.close()
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_child_makes_its_own_sandbox_and_a_parents_refuses_clearly() -> None:
    proc = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "make a new Sandbox in each process" in report["parent_sandbox"]
    assert report["parent_sandbox_async"] == report["parent_session"] == "UsageError"
    error, seconds = report["timeout"]
    assert error == "TimeoutExceeded" and seconds < 5.0  # the child's own ticker stopped it
    assert report["async"] == 42
