"""Run a small test component's ``run`` export: the build steps' tests compare results before and after."""

from __future__ import annotations

import wasmtime
from wasmtime.component import Component, Linker


def run_component(component: bytes | bytearray, *args: int) -> int:
    """Instantiate ``component`` in a fresh store and return ``run(*args)``, an integer."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    run = Linker(engine).instantiate(store, Component(engine, bytes(component))).get_func(store, "run")
    assert run is not None
    value = run(store, *args)
    run.post_return(store)
    assert isinstance(value, int)
    return value
