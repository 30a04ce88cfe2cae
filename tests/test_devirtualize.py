"""The build makes CPython's allocator calls direct, and a hooked allocator still gets every call."""

from __future__ import annotations

import pytest
import wasmtime
from component_harness import run_component

from runtime import Limits, Sandbox
from runtime._devirtualize import FRONT_DOORS
from runtime._inlining import inline_small_functions

# A miniature of CPython's layout: the allocator pointer lives in memory (at
# 4), the default allocator fills table slot 1 and a hook slot 2.
# `PyObject_Free` has CPython's shape; `run(installed, swap)` installs an
# allocator, optionally rewrites table slot 1 (which the guest never does)
# to reveal whether the call went through the table, and calls the front door.
_MODULE = """
  (core module $m
    (table 4 funcref)
    (memory 1)
    (elem (i32.const 1) func $_PyMem_RawFree $hook)
    (elem declare func $hook)
    (func $_PyMem_RawFree (param i32 i32) (result i32) (i32.add (local.get 1) (i32.const 1000)))
    (func $hook (param i32 i32) (result i32) (i32.add (local.get 1) (i32.const 2000)))
    (func $PyObject_Free (param i32) (result i32)
      (call_indirect (param i32 i32) (result i32)
        (i32.load (i32.const 0)) (local.get 0) (i32.load (i32.const 4))))
    (func $not_a_front_door (param i32) (result i32)
      (call_indirect (param i32 i32) (result i32)
        (i32.load (i32.const 0)) (local.get 0) (i32.load (i32.const 4))))
    (func (export "run") (param i32 i32) (result i32)
      (i32.store (i32.const 4) (local.get 0))
      (if (local.get 1) (then (table.set (i32.const 1) (ref.func $hook))))
      (i32.add (call $PyObject_Free (i32.const 7)) (i32.mul (call $not_a_front_door (i32.const 0)) (i32.const 10)))))
"""
_COMPONENT = bytes(
    wasmtime.wat2wasm(
        f"""
(component
  {_MODULE}
  (core instance $i (instantiate $m))
  (alias core export $i "run" (core func $run))
  (func (export "run") (param "installed" u32) (param "swap" u32) (result u32) (canon lift (core func $run))))
"""
    )
)


@pytest.fixture(scope="module")
def devirtualized() -> bytearray:
    pytest.importorskip("icpp_binaryen")
    component, stats = inline_small_functions(bytearray(_COMPONENT), min_code=0)
    assert (stats.modules, stats.direct_calls, stats.skipped) == (1, 1, None)
    return component


@pytest.mark.parametrize(
    ("installed", "expected"),
    [(1, 1007 + 10 * 1000), (2, 2007 + 10 * 2000)],
    ids=["default-allocator", "hooked-allocator"],
)
def test_every_call_computes_the_same_as_before(devirtualized: bytearray, installed: int, expected: int) -> None:
    assert run_component(_COMPONENT, installed, 0) == run_component(devirtualized, installed, 0) == expected


def test_the_default_allocator_is_called_directly_and_only_front_doors_are_changed(devirtualized: bytearray) -> None:
    # With table slot 1 rewritten, an indirect call to it reaches the hook: the
    # front door's result (1007, not 2007) shows it no longer goes through the
    # table, while the other function's call (2000, times 10) still does.
    assert run_component(_COMPONENT, 1, 1) == 2007 + 10 * 2000
    assert run_component(devirtualized, 1, 1) == 1007 + 10 * 2000


def test_front_doors_cover_each_domain_and_verb() -> None:
    assert len(FRONT_DOORS) == 12
    assert FRONT_DOORS["PyObject_Malloc"] == FRONT_DOORS["PyMem_RawMalloc"] == "_PyMem_RawMalloc"
    assert FRONT_DOORS["PyMem_Free"] == "_PyMem_RawFree"


def test_the_guests_allocator_hooks_still_see_every_allocation(sandbox: Sandbox) -> None:
    # _tracemalloc installs its own allocators: it must see what a run allocates.
    code = (
        "import _tracemalloc as t\n"
        "t.start()\n"
        "kept = [str(i) * 20 for i in range(2000)]\n"
        "traced = t.get_traced_memory()[0]\n"
        "t.stop()\n"
        "traced"
    )
    result = sandbox.run(code, limits=Limits(timeout=10.0))
    assert result.ok, result.error
    assert isinstance(result.value, int) and result.value > 2000 * 60  # each string is 60-80 bytes of text
