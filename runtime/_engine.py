"""One wasmtime Engine, compiled component and Linker per engine flavour.

These are costly and shareable by every store and thread, so each flavour
(with or without fuel metering) is made once per process. The compiled
machine code is cached on disk next to the component, so a second process
deserialises it in milliseconds instead of compiling for ~5 s.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from importlib import metadata
from pathlib import Path

from wasmtime import Config, Engine, WasmtimeError
from wasmtime.component import Component, Linker

from ._build import cache_dir, file_lock, guest_component, mark_used, prune_compiled
from ._imports import define_imports
from ._run_state import RUNNING, idle
from ._traps import not_compiled

__all__ = ["EPOCH_TICK", "GuestRuntime", "guest_runtime"]

EPOCH_TICK = 0.005
"""Seconds between epoch ticks: the granularity of timeouts and cancellation."""


class GuestRuntime:
    """Engine + component + linker for one flavour, plus the epoch ticker."""

    def __init__(self, *, fuel: bool) -> None:
        self.fuel = fuel
        config = Config()
        config.epoch_interruption = True
        config.consume_fuel = fuel
        config.cranelift_opt_level = "speed"
        self.engine = Engine(config)
        self.artifact, self.component = self._load(guest_component())
        """The compiled component on disk (instances map their memory image from it), loaded."""
        self.linker = Linker(self.engine)
        define_imports(self.linker, list(self.component.type.imports(self.engine)))
        self.start_ticking()

    def start_ticking(self) -> None:
        """Start the epoch ticker (at construction, and again in a forked child,
        which inherits the engine but not the thread: without it no timeout fires)."""
        threading.Thread(target=self._tick, name="otc-epoch", daemon=True).start()

    def _flavour(self) -> str:
        return f"wasmtime{metadata.version('wasmtime')}-epoch{'-fuel' if self.fuel else ''}-speed"

    def _load(self, wasm: Path) -> tuple[Path, Component]:
        """The compiled artifact for ``wasm`` (compiled and cached first if need
        be) and the component loaded from it. Always from the file, also just
        after compiling: instances then map their memory image from it (shared
        page cache, restorable in place: see ``_pristine``)."""
        digest = hashlib.sha256(wasm.name.encode() + self._flavour().encode()).hexdigest()[:16]
        compiled = cache_dir() / f"{wasm.stem}-{digest}.cwasm"
        component = self._cached(compiled, remove_stale=False)
        if component is not None:
            mark_used(compiled)
            return compiled, component
        with file_lock(compiled.with_suffix(".lock")):
            component = self._cached(compiled, remove_stale=True)
            if component is not None:
                return compiled, component
            try:
                staged = compiled.with_suffix(".tmp")
                staged.write_bytes(Component.from_file(self.engine, str(wasm)).serialize())
                os.replace(staged, compiled)
                component = Component.deserialize_file(self.engine, str(compiled))
            except WasmtimeError as exc:
                raise not_compiled(exc, wasm) from exc
            prune_compiled(compiled, wasm)  # a new artifact: an older wasmtime's may be left
            return compiled, component

    def _cached(self, compiled: Path, *, remove_stale: bool) -> Component | None:
        """The component cached in ``compiled``, or None if there is none or it is
        stale or foreign (removed, with ``remove_stale``, under the file lock)."""
        if not compiled.exists():
            return None
        try:
            return Component.deserialize_file(self.engine, str(compiled))
        except WasmtimeError:
            if remove_stale:
                compiled.unlink(missing_ok=True)
            return None

    def _tick(self) -> None:
        # Daemon thread: the engine lives as long as the process does. It
        # ticks only while some run is in progress, so an idle process sleeps.
        while True:
            RUNNING.wait()
            time.sleep(EPOCH_TICK)
            self.engine.increment_epoch()
            idle()


_RUNTIMES: dict[bool, GuestRuntime] = {}
_LOCK = threading.Lock()


def _tick_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()
    for runtime in _RUNTIMES.values():
        runtime.start_ticking()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_tick_in_child)


def guest_runtime(*, fuel: bool) -> GuestRuntime:
    """The process-wide runtime for a flavour, built on first use."""
    runtime = _RUNTIMES.get(fuel)
    if runtime is None:
        with _LOCK:
            runtime = _RUNTIMES.get(fuel)
            if runtime is None:
                runtime = _RUNTIMES[fuel] = GuestRuntime(fuel=fuel)
    return runtime
