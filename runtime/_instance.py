"""One instantiated guest interpreter: its store, WASI context and run export."""

from __future__ import annotations

import errno
import threading
import time

from wasmtime import Store, WasiConfig, WasmtimeError

from ._abi import ExportCall, context_key, set_epoch_callback
from ._engine import GuestRuntime
from ._errors import ExecutionError, GuestBuildError
from ._limits import Limits
from ._locate import forget_memory, locate_memory, mappings_before, memory_lock, restoring_supported, stray_made
from ._outcome import RunOptions, run_options
from ._pristine import PristineMemory
from ._random_state import LOCATE_RANDOM, RandomState
from ._run_state import REGISTRY, OutputCapture, RunState, Stop, register, should_stop, unregister
from ._traps import convert_trap, not_instantiated
from ._wasi_output import route_output

__all__ = ["GuestInstance", "RawOutcome"]

_UNLIMITED_FUEL = 2**62
_WARM_UP = (
    "import json\nprint(json.dumps([1]))\n[1, 2]",
    "x = 1\nfor i in range(100):\n    x += i\nprint(x)\nx",
    "try:\n    1 / 0\nexcept Exception as e:\n    print(e)\n{'a': [1.5, None]}",
    "1 / 0",
    "print(1)",
    "import asyncio\nasync def step():\n    await asyncio.sleep(0)\nawait asyncio.gather(step(), step())",
    # The tool-call crossings, with nothing to call (no tool runs during a warm-up):
    "import json\nfrom wit_world.imports import host\n"
    "json.loads(host.submit_tools('[]')) + json.loads(host.wait_tools(0.0))",
)
"""Trusted first calls: they touch the pages typical runs need (compiling,
printing, values, tracebacks), so the copy-on-write faults are paid before a
user's run (pre-warming). Each runs in a fresh namespace and leaves none.
The interpreter-level first-use work is already in the snapshot
(``wasm/guest/guest_warmup.py``); what is left is per-instance paging, ~11 ms
of it, which is why the pool warms only when it is not needed to keep up."""
_TYPICAL_RUN = "print(1)\n1"
"""A trusted short run made after the warm state is saved (see ``warm``)."""
_WARM_UP_TIMEOUT = 30.0
MAX_RUNS = 500
"""Runs one instance serves (restored in between) before it is freed: this
bounds the WASI handles runs leave in its store. Restoring puts back the
guest's memory, not the store's handle table, so a run that writes to file
descriptors 1 and 2 directly (``os.write``) leaves the two output streams
libc fetched for it: ~1.8 KiB a run at most, ~0.9 MiB an instance. Printing,
sleeping, reading stdin and raising leave nothing. A replacement costs ~3 ms
to instantiate and, when the pool is idle, ~11 ms to warm."""
SHORT_RUN = 0.02
"""CPU seconds: only an instance whose last run used at most this much of
its thread is restored for another run. Restoring pays off for short runs (a
longer one amortises a new instance), and it bounds what one run can leave
behind. CPU time, not wall time: a run that waited for tools, a sleep or the
GIL (busy threads) did no more in the guest for it."""
_DEFAULTS = Limits()

RawOutcome = tuple[str | None, ExecutionError | None, int | None]
"""(the guest's JSON reply or None, the converted trap or None, fuel used or None)."""


def _wasi_output(key: int, stream: str, data: bytes) -> int | None:
    """WASI-level stdout/stderr: writes that bypass ``sys.stdout`` still count
    against the run's output cap (and are refused past it)."""
    state = REGISTRY.get(key)
    if state is None:
        return None  # trusted warm-up: discard
    if state.capture.write(stream, data.decode("utf-8", "replace")):
        return None
    # Past the cap the guest's stream is dead and a script may ignore the
    # error forever: end the run (a WASI callback cannot trap; the next
    # epoch check does). Its result is OutputLimitExceeded either way.
    state.stop, state.detail = Stop.OUTPUT, "output limit reached"
    return -errno.EFBIG


class GuestInstance:
    """A guest ready to run scripts; ``alive`` turns False after any trap.

    Used by one thread at a time (a wasmtime Store is not thread-safe).
    Raises ``GuestBuildError`` when instantiation itself fails.
    """

    def __init__(self, runtime: GuestRuntime, *, located: bool = True) -> None:
        """``located=False``: the instance will serve one run and be freed, so
        its memory is not looked up (~0.7 ms) to be restored or mapped sparingly."""
        self.runtime = runtime
        self.store = Store(runtime.engine)
        self.key = context_key(self.store._context())
        wasi = WasiConfig()  # the default grants nothing: no files, env, args or network
        route_output(wasi, self.key, _wasi_output)
        self.store.set_wasi(wasi)
        set_epoch_callback(self.store, should_stop)
        self.store.set_epoch_deadline(1)
        if runtime.fuel:
            self.store.set_fuel(_UNLIMITED_FUEL)
        self.memory: PristineMemory | None = None
        """Set if this instance can be restored after a run (see ``restore``)."""
        with memory_lock():
            locating = located and restoring_supported()
            before = mappings_before(runtime.artifact) if locating else None
            if not located:
                stray_made(runtime.artifact)
            try:
                instance = runtime.linker.instantiate(self.store, runtime.component)
            except WasmtimeError as exc:
                raise not_instantiated(exc) from exc
            if locating:
                self.memory = locate_memory(runtime.artifact, before)
        func = instance.get_func(self.store, "run")
        if func is None:
            raise GuestBuildError("the guest component has no `run` export")
        self._export = ExportCall(self.store, func)
        self._options: str | None = None
        """The options the guest last received (None: none yet): the same again are sent as ""."""
        self._built: frozenset[str] = frozenset()
        """The tools whose functions the guest has built: later runs name them (``RunOptions.named``)."""
        self._saved_options: str | None = None
        self._saved_built: frozenset[str] = frozenset()
        """``_options`` and ``_built`` when the memory was saved."""
        self._random: RandomState | None = None
        """Where the warm-up found ``random``'s state (restores write a new one)."""
        self.alive = True
        self.warmed = False
        """True once ``warm`` has run: the pool hands these out first."""
        self.grants: tuple[tuple[str, ...], ...] = ()
        """The tool subsets its warm-up parsed options for (``warm``)."""
        self._memory_bytes = -1
        self.wake = threading.Event()
        """Reused by each run's state for cancellable host-side waits."""
        self.runs = 0
        """Runs made since instantiation (warm-ups not counted)."""
        self._last_run = 0.0
        """CPU seconds the last run took on its thread (not measured once kept: never restored)."""
        self._kept = False

    def _run(self, code: str, options: RunOptions) -> str:
        """Call the guest's ``run``; raises ``WasmtimeError`` if it traps."""
        text = options.named if options.tools <= self._built else options.described
        if text == self._options:
            return self._export(code, "")
        self._options = text
        self._built |= options.tools
        return self._export(code, text)

    def warm(
        self,
        tools_json: str = "",
        tool_names: tuple[str, ...] = (),
        *,
        limits: Limits = _DEFAULTS,
        grants: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        """Make the trusted warm-up calls; what they print is discarded.

        ``tools_json`` is the guest description of the tools the instance's
        runs will be granted, ``tool_names`` their names: the guest then has
        them built already (the warm-up scripts call none of them), and has
        the options of a run granted all of them, or none, parsed. ``limits``
        are the runs' usual ones (their sandbox's): their options are the ones
        parsed, and a run granted all the tools under them is sent none at all.
        ``grants`` are subsets of ``tool_names`` runs are often granted: their
        options are parsed too (``_learned_grants``).

        Raises ``WasmtimeError`` if the guest traps, ``RuntimeError`` if the
        state it saved cannot be restored (the instance is then unusable)."""
        usual_memory = limits.memory_mb << 20
        self.store.set_limits(memory_size=usual_memory)  # so a usual run need not
        self._memory_bytes = usual_memory
        state = RunState(deadline=time.monotonic() + _WARM_UP_TIMEOUT, capture=OutputCapture(1 << 20))
        register(self.key, state)
        try:
            # The usual options, so a typical run finds them already parsed.
            recursion, cap = limits.recursion_limit, limits.max_output_bytes
            options = run_options(recursion, fresh=True, tools=tools_json, names=tool_names, max_output_bytes=cap)
            if tool_names:  # the tools built, then a run granted none (a daemon's default) parsed too
                self._run("1", options)
                self._run("1", run_options(recursion, fresh=True, max_output_bytes=cap))
                for names in grants:  # built above: each is sent by name
                    subset = run_options(recursion, fresh=True, tools=tools_json, names=names, max_output_bytes=cap)
                    self._run("1", subset)
            for code in _WARM_UP:
                self._run(code, options)
            memory = self.memory
            if memory is not None:
                located = self._run(LOCATE_RANDOM, options)
                self._random = RandomState.found(located, memory.base, memory.end - memory.base)
                # Restores return here, warm, rather than to the cold instantiated
                # state, only if each restored run can get a new random sequence.
                if self._random is not None and memory.save():
                    self._saved_options, self._saved_built = self._options, self._built
                    # Saving write-protected every page, so a run's first write to
                    # one faults (~1 µs): a trusted short run takes those faults
                    # for the pages short runs write, so a user's first does not.
                    self._run(_TYPICAL_RUN, options)
                    if not self.restore():  # the pool discards the instance, as after any failed warm-up
                        raise RuntimeError("a warmed instance could not be restored to its saved state")
        finally:
            unregister(self.key)
        self.warmed = True
        self.grants = grants

    def execute(
        self, code: str, options: RunOptions, state: RunState, *, memory_bytes: int, fuel: int | None
    ) -> RawOutcome:
        """Run ``code`` under ``state``; traps are converted, never raised."""
        store = self.store
        if memory_bytes != self._memory_bytes:
            store.set_limits(memory_size=memory_bytes)
            self._memory_bytes = memory_bytes
        if fuel is not None:
            store.set_fuel(fuel)
        # The epoch deadline needs no reset: the callback extends it one tick
        # at a time and consults REGISTRY, so between runs it lets nothing stop.
        register(self.key, state)
        self.runs += 1
        timed = not self._kept  # a thread_time() is a system call: ~0.4 µs, 1 % of a session run
        started = time.thread_time() if timed else 0.0
        try:
            reply = self._run(code, options)
            error = None
        except WasmtimeError as exc:
            self.alive = False
            reply, error = None, convert_trap(exc, state, out_of_fuel=fuel is not None and store.get_fuel() == 0)
        finally:
            unregister(self.key)
            if timed:
                self._last_run = time.thread_time() - started
        used = None if fuel is None else fuel - store.get_fuel()
        return reply, error, used

    def restore(self) -> bool:
        """Make this instance as it was after its warm-up (or, if it was not
        warmed, as instantiated), for another fresh run: True if it now is,
        False if it must be freed instead (it trapped, its last run was long
        or grew the memory, it served ``MAX_RUNS`` runs, or its memory cannot
        be restored here)."""
        memory = self.memory
        if not self.alive or memory is None or self.runs >= MAX_RUNS or self._last_run > SHORT_RUN:
            return False
        if not memory.restore():
            return False
        if memory.saved_bytes and self._random is not None:
            self._random.reseed()
        # The guest's options and built tools are back to what it had then.
        self._options, self._built = self._saved_options, self._saved_built
        return True

    def keep(self) -> None:
        """This instance will serve one session and never be restored: drop
        what restoring would need."""
        self._kept = True
        if self.memory is not None:
            self.memory.drop_saved()

    def close(self) -> None:
        """Free the store (and its linear memory)."""
        self.alive = False
        with memory_lock():
            if self.memory is not None:
                forget_memory(self.memory)
            self.store.close()
