"""A used instance restored for another run is, by effect, a fresh one.

``GuestInstance.restore`` copies the saved bytes over every page a run wrote
(``runtime/_pristine.py``): those of the state after the trusted warm-up,
or, for an instance never warmed, those of instantiation. These tests prove
it for both by comparing memory byte for byte (with the state after the
warm-up; with a never-used instance), by hostile runs whose leftovers the
next run must not see, and by the cases that must never be restored.
"""

from __future__ import annotations

import ctypes
import errno
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime._instance
import runtime._pristine
from host_functions import ToolSet, tool
from runtime import Limits, Sandbox
from runtime._driver import new_state, run_on
from runtime._engine import guest_runtime
from runtime._instance import MAX_RUNS, GuestInstance
from runtime._locate import restoring_supported
from runtime._page_scan import Linux

pytestmark = pytest.mark.skipif(not restoring_supported(), reason="needs Linux 6.7+ (PAGEMAP_SCAN)")

LIMITS = Limits(timeout=5.0)
ROOT = Path(__file__).resolve().parents[2]


def _run(instance: GuestInstance, code: str, limits: Limits = LIMITS) -> object:
    result = run_on(instance, code, limits, new_state(limits), fresh=True)
    assert result.error is None, result.error
    return result


def _memory(instance: GuestInstance) -> bytes:
    memory = instance.memory
    assert memory is not None
    return ctypes.string_at(memory.base, memory.end - memory.base)


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run here counts as short, however busy the machine (but see the long-run case)."""
    monkeypatch.setattr(runtime._instance, "SHORT_RUN", 60.0)


@pytest.fixture(params=["warmed", "cold"])
def instance(request: pytest.FixtureRequest) -> Iterator[GuestInstance]:
    """An instance as the pool hands them out: warmed (restored to its state
    after the warm-up), or cold (made under load; restored to instantiation)."""
    made = GuestInstance(guest_runtime(fuel=False))
    assert made.memory is not None, "the instance's memory was not located"
    if request.param == "warmed":
        made.warm()
        assert made.memory.saved_bytes > 0, "the warmed state was not saved"
    yield made
    made.close()


HOSTILE = """
import sys, json, builtins, guest_runner, guest_tools
secret = "hunter2-" + "x" * 10000
json.dumps = lambda *a, **k: "poisoned"
builtins.len = lambda x: -1
sys.modules["leak"] = type(sys)("leak")
sys.modules["leak"].secret = secret
guest_runner.run = lambda *a, **k: "poisoned"
guest_tools.ToolFunction.__call__ = lambda *a, **k: "poisoned"
big = [secret + str(i) for i in range(5)]
print("done")
"""


def test_restored_memory_equals_the_state_after_the_warm_up_but_for_a_new_random_state() -> None:
    warmed = GuestInstance(guest_runtime(fuel=False))
    try:
        warmed.warm()
        before = _memory(warmed)
        _run(warmed, HOSTILE)
        assert _memory(warmed) != before
        assert warmed.restore()
        after = _memory(warmed)
        assert warmed._random is not None and warmed.memory is not None
        start, end = (at - warmed.memory.base for at in warmed._random.span)
        assert after[:start] == before[:start]
        assert after[end:] == before[end:]
        assert after[start:end] != before[start:end]  # the generator's new state
    finally:
        warmed.close()


SCRIPTS = [
    HOSTILE,
    "print(1)\n1",
    "import json, re\nprint(json.dumps({'a': re.findall('b+', 'abbb' * 100)}))",
    "data = [str(i) * 50 for i in range(2000)]\nlen(data)",
    "def f(n):\n    return 1 if n < 2 else n * f(n - 1)\nprint(f(300) % 97)\n1 / 0",
]
"""Short runs that write different pages: after the first restore, restores
put back only the pages written since (``PristineMemory`` tracks them)."""


def _check_restores_return_here(warmed: GuestInstance, scripts: list[str]) -> None:
    """After each script, a restore gives back the memory as it is now, but
    for ``random``'s state (each restore draws a new one)."""
    assert warmed._random is not None and warmed.memory is not None
    start, end = (at - warmed.memory.base for at in warmed._random.span)
    before = _memory(warmed)
    for code in scripts:
        run_on(warmed, code, LIMITS, new_state(LIMITS), fresh=True)
        assert warmed.restore()
        after = _memory(warmed)
        assert (after[:start], after[end:]) == (before[:start], before[end:]), f"differs after {code!r}"


def test_every_restore_returns_a_cold_instance_to_instantiation() -> None:
    cold = GuestInstance(guest_runtime(fuel=False))
    fresh = GuestInstance(guest_runtime(fuel=False))
    try:
        expected = _memory(fresh)
        for code in SCRIPTS * 2:
            run_on(cold, code, LIMITS, new_state(LIMITS), fresh=True)
            assert cold.restore()
            assert _memory(cold) == expected, f"differs after {code!r}"
    finally:
        cold.close()
        fresh.close()


def test_every_restore_returns_a_warmed_instance_to_its_saved_state() -> None:
    warmed = GuestInstance(guest_runtime(fuel=False))
    try:
        warmed.warm()
        _check_restores_return_here(warmed, SCRIPTS * 2)
    finally:
        warmed.close()


def test_a_warmed_instance_puts_back_only_the_pages_written_since_it_was_saved() -> None:
    """By effect on what a restore must copy: far fewer pages than the saved
    state holds (every page that differs from instantiation)."""
    warmed = GuestInstance(guest_runtime(fuel=False))
    try:
        warmed.warm()
        memory = warmed.memory
        assert memory is not None and memory.saved_bytes > 0
        _run(warmed, "print(2)\n2")
        written = sum(stop - start for start, stop in memory._scanner.unmarked(memory.base, memory.end))
        assert 0 < written < memory.saved_bytes // 2, (written, memory.saved_bytes)  # measured: ~80 of ~370 pages
        assert warmed.restore()
    finally:
        warmed.close()


def test_an_instance_whose_pages_may_be_half_marked_is_not_restored_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write-protection may have marked some pages: a scan for what
    differs from instantiation would then take marks for written pages, so
    the instance is freed rather than restored on guesswork."""
    made = GuestInstance(guest_runtime(fuel=False))
    try:
        monkeypatch.setattr(runtime._pristine, "write_protect", lambda start, end: False)
        _run(made, "print(1)")
        assert made.restore()  # untracked, then the marking fails
        _run(made, "print(2)")
        assert not made.restore()
    finally:
        made.close()


def test_an_instance_restored_before_its_warm_up_is_saved_after_it() -> None:
    """The pool hands out cold instances under load and warms them later: by
    then their pages are marked, and what differs from instantiation is what
    was written since."""
    made = GuestInstance(guest_runtime(fuel=False))
    try:
        _run(made, "print(1)")
        assert made.restore()
        made.warm()
        assert made.memory is not None and made.memory.saved_bytes > 0
        _check_restores_return_here(made, SCRIPTS)
    finally:
        made.close()


def test_nothing_of_a_hostile_run_reaches_the_next(instance: GuestInstance) -> None:
    _run(instance, HOSTILE)
    assert instance.restore()
    result = _run(
        instance,
        "import sys, json\n"
        "print(json.dumps([1]), len('ab'), 'leak' in sys.modules, 'secret' in globals(), 'big' in globals())",
    )
    assert result.stdout == "[1] 2 False False False\n"  # type: ignore[attr-defined]
    memory = _memory(instance)
    assert b"hunter2-" not in memory


@pytest.mark.parametrize("draw", ["random.random()", "os.urandom(8).hex()"], ids=["random", "urandom"])
def test_each_restored_run_draws_new_random_numbers(instance: GuestInstance, draw: str) -> None:
    seen = set()
    for _ in range(3):
        seen.add(_run(instance, f"import random, os\n{draw}").value)  # type: ignore[attr-defined]
        assert instance.restore()
    assert len(seen) == 3


@pytest.mark.parametrize("limit", [60, Limits().recursion_limit], ids=["other-options", "default-options"])
def test_options_hold_after_a_restore(instance: GuestInstance, limit: int) -> None:
    """The host knows which options the restored guest has: each run gets its own."""
    code = "import sys\nsys.getrecursionlimit()"
    other = 200 if limit != 200 else 300
    assert _run(instance, code, Limits(timeout=5.0, recursion_limit=other)).value == other  # type: ignore[attr-defined]
    assert instance.restore()
    assert _run(instance, code, Limits(timeout=5.0, recursion_limit=limit)).value == limit  # type: ignore[attr-defined]


def test_fuel_is_the_same_as_on_a_new_instance() -> None:
    runtime = guest_runtime(fuel=True)
    limits = Limits(timeout=5.0, fuel=10**9)
    code = "sum(i * i for i in range(1000))"
    used = GuestInstance(runtime)
    try:
        run_on(used, "x = [str(i) for i in range(5000)]", limits, new_state(limits), fresh=True)
        assert used.restore()
        restored = run_on(used, code, limits, new_state(limits), fresh=True)
    finally:
        used.close()
    new = GuestInstance(runtime)
    try:
        fresh = run_on(new, code, limits, new_state(limits), fresh=True)
    finally:
        new.close()
    assert restored.fuel_consumed == fresh.fuel_consumed


@pytest.mark.parametrize(
    ("code", "limits"),
    [
        pytest.param("x = bytearray(64 * 2**20)", LIMITS, id="grew-memory"),
        # A fixed amount of work (~0.5 s of CPU here), not a wall-clock wait: on
        # a busy machine a timed loop may get less CPU than SHORT_RUN.
        pytest.param("x = 0\nfor i in range(2_000_000): x += i", LIMITS, id="long-run"),
        pytest.param("while True: pass", Limits(timeout=0.1), id="timed-out"),
        pytest.param("def f(): return [f()]\nf()", Limits(timeout=5.0, recursion_limit=10**6), id="crashed"),
    ],
)
def test_some_instances_are_never_restored(
    instance: GuestInstance, code: str, limits: Limits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime._instance, "SHORT_RUN", 0.1)
    run_on(instance, code, limits, new_state(limits), fresh=True)
    assert not instance.restore()


def _refused(*_: object) -> int:
    """``process_vm_readv`` as a seccomp filter that refuses it answers."""
    ctypes.set_errno(errno.EPERM)
    return -1


def test_an_instance_whose_growth_cannot_be_probed_is_not_restored(
    instance: GuestInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused growth probe must not read as "not grown": pages past the
    scanned range would keep a grown run's bytes."""
    _run(instance, "1")
    assert instance.memory is not None
    monkeypatch.setattr(instance.memory._linux, "read_process", _refused)
    assert not instance.restore()


def test_a_process_that_refuses_the_growth_probe_restores_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    linux = Linux()
    try:
        assert linux.supported
        monkeypatch.setattr(linux, "read_process", _refused)
        assert not linux._probe()
    finally:
        linux.close()


def test_a_run_that_only_waited_long_is_restored(instance: GuestInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SHORT_RUN`` counts the run's CPU time: waiting (here a sleep) does nothing in the guest."""
    monkeypatch.setattr(runtime._instance, "SHORT_RUN", 0.1)
    _run(instance, "import time\ntime.sleep(0.3)")
    assert instance.restore()


def test_an_instance_kept_for_a_session_drops_its_saved_state() -> None:
    made = GuestInstance(guest_runtime(fuel=False))
    try:
        made.warm()
        assert made.memory is not None and made.memory.saved_bytes > 0
        made.keep()
        assert made.memory.saved_bytes == 0
    finally:
        made.close()


def test_an_instance_serves_at_most_max_runs(instance: GuestInstance) -> None:
    for _ in range(MAX_RUNS - 1):
        _run(instance, "1")
        assert instance.restore()
    _run(instance, "1")
    assert not instance.restore()


@tool(inline=True)
def double(x: int) -> int:
    """Twice x."""
    return 2 * x


def test_a_sandbox_reuses_instances_and_runs_stay_isolated() -> None:
    made: list[GuestInstance] = []
    original = GuestInstance.__init__

    def counting(self: GuestInstance, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    GuestInstance.__init__ = counting  # type: ignore[method-assign]
    try:
        with Sandbox(tools=ToolSet([double]), limits=LIMITS, pool_size=2) as sb:
            sb.wait_ready(timeout=60)
            for i in range(60):
                result = sb.run(f"seen = globals().get('mark')\nmark = {i}\nprint(seen, double({i}))")
                assert result.error is None, result.error
                assert result.stdout == f"None {2 * i}\n"
    finally:
        GuestInstance.__init__ = original  # type: ignore[method-assign]
    assert len(made) < 20, f"{len(made)} instances made for 60 runs: none was restored"


_FORKED = """
import os, sys
from runtime import Sandbox

with Sandbox(pool_size=1) as sandbox:  # the parent restores: its process-wide handles are open
    for _ in range(3):
        sandbox.run("print(1)")
child = os.fork()
if child == 0:
    with Sandbox(pool_size=1) as sandbox:
        seen = [
            sandbox.run("import builtins\\nleft = hasattr(builtins, 'leak')\\nbuiltins.leak = 1\\nleft").value
            for _ in range(6)
        ]
    print(seen, flush=True)
    os._exit(0)
_, status = os.waitpid(child, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_restores_its_own_memory() -> None:
    """After ``fork`` the child's restores scan the child (an inherited
    ``/proc/self/pagemap`` descriptor reads the parent): no run sees the last one's leftovers."""
    proc = subprocess.run([sys.executable, "-c", _FORKED], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str([False] * 6)
