"""Regression tests for wasmtime-py bugs that ``runtime`` works around.

Three of them: the first two (in ``runtime._abi``) are in host functions, the
third (``runtime._wasi_output``) in the callbacks for WASI-level output.

The first two inject a failure into a host function *while the guest is calling it*.
The injection point is ``runtime._imports._state``: every handler of the
``otc:sandbox/host`` interface (emit, sleep, call-tool, submit-tool,
wait-tools) looks the run up through it first, it is looked up as a module
global on each call (so patching it takes effect on the shared linker), and
nothing on the host's own side of a run calls it (unlike
``OutputCapture.write``, which the host also uses to build results outside
wasm). So the injected exception is raised inside a host function, nowhere else.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import runtime._imports as imports
from runtime import GuestCrashed, Limits, Sandbox

ROOT = Path(__file__).resolve().parents[1]

# Guest scripts that call one host function each; ``{n}`` keeps them distinct.
HOST_CALLS = {
    "emit": "print('x' * 100_000)\n{n}",  # the guest flushes through host.emit past 64 KiB
    "sleep": "import time\ntime.sleep(0.001)\n{n}",
    "call-tool": "from wit_world.imports import host\nhost.call_tool('t', '{{}}')\n{n}",
}

_CHILD = """
import json, sys
import runtime._imports as imports
from runtime import Sandbox

exc_type = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[sys.argv[1]]
real_state = imports._state
armed = [True]

def injected(key):
    if armed[0]:
        armed[0] = False
        raise exc_type("injected inside a host function")
    return real_state(key)

imports._state = injected
with Sandbox(pool_size=0) as sb:
    failed = sb.run(sys.argv[2])
    after = sb.run("print('after')\\n1 + 1")
print(json.dumps({
    "error": type(failed.error).__name__,
    "fatal": getattr(failed.error, "fatal", None),
    "after_value": after.value,
    "after_stdout": after.stdout,
    "after_error": type(after.error).__name__,
}))
"""


@pytest.mark.parametrize("exc_name", ["KeyboardInterrupt", "SystemExit"])
@pytest.mark.parametrize("call", list(HOST_CALLS), ids=list(HOST_CALLS))
def test_base_exception_in_host_function_does_not_crash(exc_name, call):
    # Bug 1: with stock wasmtime-py, a BaseException raised in a component
    # host function escapes its `except Exception` wrapper, ctypes swallows
    # it and returns 0 ("success") without lowering any result, and the
    # process dies with SIGSEGV. runtime/_abi.py catches BaseException and
    # returns a trap, so the run ends as GuestCrashed and the host carries on.
    # Without that protection this test fails: the child segfaults (non-zero
    # exit, no JSON), or the host function "succeeds" and the run is not a
    # GuestCrashed. It runs in a subprocess so a crash fails the test instead
    # of killing pytest.
    code = HOST_CALLS[call].format(n=1)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, exc_name, code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["error"] == "GuestCrashed"
    assert report["fatal"] is True
    assert report["after_error"] == "NoneType"
    assert report["after_value"] == 2
    assert report["after_stdout"] == "after\n"


RUNS = 200
FAULTY_THREAD = "faulty-host-thread"


class _Injected(RuntimeError):
    pass


def test_host_exceptions_never_cross_threads(monkeypatch, caplog):
    # Bug 2: stock wasmtime-py parks an exception raised in a host function
    # in a process-global slot (LAST_EXCEPTION) and re-raises it from
    # whichever thread next sees a failed wasm call. With two threads
    # running guests, the healthy thread's ordinary traps (a denied call, a
    # protocol error) would surface as the *other* thread's exception, and
    # the faulty thread would get a bare "python exception". runtime/_abi.py
    # turns every handler exception into a trap on the calling thread and
    # keeps no global state, so each thread sees only its own outcomes.
    # Without that protection this test fails: the faulty thread's runs raise
    # instead of returning GuestCrashed, and some healthy runs raise the
    # faulty thread's _Injected (or report the wrong error), all counted below.
    caplog.set_level(logging.CRITICAL, logger="otc.abi")  # the injected failures are logged as errors
    real_state = imports._state

    def faulty_on_one_thread(key: int):
        if threading.current_thread().name == FAULTY_THREAD:
            raise _Injected("injected failure in a host function")
        return real_state(key)

    monkeypatch.setattr(imports, "_state", faulty_on_one_thread)
    limits = Limits(timeout=5.0)
    problems: dict[str, list[str]] = {"faulty": [], "healthy": []}
    start = threading.Barrier(2)

    def faulty() -> None:
        with Sandbox(limits=limits, pool_size=2) as sb:
            start.wait()
            for n in range(RUNS):
                call = list(HOST_CALLS.values())[n % len(HOST_CALLS)]
                try:
                    result = sb.run(call.format(n=n))
                except BaseException as exc:
                    problems["faulty"].append(f"run {n} raised {exc!r}")
                    continue
                if not isinstance(result.error, GuestCrashed):
                    problems["faulty"].append(f"run {n}: {result.error!r}")

    def healthy() -> None:
        with Sandbox(limits=limits, pool_size=2) as sb:
            start.wait()
            for n in range(RUNS):
                # Alternate normal runs (that use host functions) with runs that
                # trap on purpose: a trap is where a parked exception would surface.
                if n % 2:
                    code = f"from wit_world.imports import host\nhost.sleep(-1.0)\n{n}"
                else:
                    code = (
                        "import time\nfrom wit_world.imports import host\ntime.sleep(0)\n"
                        f"host.emit('stdout', 'n={n}\\n')\nhost.call_tool('t', '{{}}')\n{n}"
                    )
                try:
                    result = sb.run(code)
                except BaseException as exc:
                    problems["healthy"].append(f"run {n} raised {exc!r}")
                    continue
                if n % 2:
                    if not isinstance(result.error, GuestCrashed) or "invalid duration" not in result.error.message:
                        problems["healthy"].append(f"run {n}: {result.error!r}")
                elif result.error is not None or result.value != n or result.stdout != f"n={n}\n":
                    problems["healthy"].append(f"run {n}: {result!r}")

    threads = [
        threading.Thread(target=faulty, name=FAULTY_THREAD),
        threading.Thread(target=healthy, name="healthy-host-thread"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert problems == {"faulty": [], "healthy": []}


_UNCLOSED_CHILD = """
from runtime import Sandbox

sandbox = Sandbox()  # never closed: the process just ends
for n in range(200):
    result = sandbox.run("import os, sys\\nos.write(1, b'o'); os.write(2, b'e')\\nsys.stdin.read()\\nprint(1)")
    assert (result.stdout, result.stderr) == ("o1\\n", "e"), result
print("done")
"""


@pytest.mark.parametrize("attempt", range(5))
def test_a_process_that_never_closes_its_sandbox_exits_cleanly(attempt):
    # Bug 3: wasmtime-py's WasiConfig.stdout_custom/stderr_custom register a
    # finalizer that calls into Python when wasmtime drops the stream, which
    # can happen on one of wasmtime's own threads while the interpreter shuts
    # down: after WASI-level writes, a process that exited without closing its
    # sandbox aborted (SIGABRT, "panic in a function that cannot unwind") in
    # about half of the runs here. runtime/_wasi_output.py registers no
    # finalizer. The failure is a race, hence a few attempts.
    proc = subprocess.run(
        [sys.executable, "-c", _UNCLOSED_CHILD], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.strip() == "done"
    assert "panicked" not in proc.stderr
