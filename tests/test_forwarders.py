"""The build re-points exports that only forward their arguments, and the code computes the same."""

from __future__ import annotations

import pytest
import wasmtime
from component_harness import run_component

from runtime._forwarders import forward_exports
from runtime._wasm_binary import read_leb, read_name, sections
from runtime._wasm_layout import parse_component

# Module $libc exports `malloc`, a pure forwarder to `dlmalloc`, a forwarder of
# a forwarder, and three look-alikes that must stay: one that swaps its
# arguments, one with a local, one that adds. Module $app imports them all.
_COMPONENT = bytes(
    wasmtime.wat2wasm(
        """
(component
  (core module $libc
    (memory (export "memory") 1)
    (func $dlmalloc (export "dlmalloc") (param i32 i32) (result i32)
      (i32.add (i32.mul (local.get 0) (i32.const 10)) (local.get 1)))
    (func $malloc (export "malloc") (param i32 i32) (result i32) (call $dlmalloc (local.get 0) (local.get 1)))
    (func (export "chained") (param i32 i32) (result i32) (call $malloc (local.get 0) (local.get 1)))
    (func (export "swapped") (param i32 i32) (result i32) (call $dlmalloc (local.get 1) (local.get 0)))
    (func (export "with_local") (param i32 i32) (result i32) (local i32) (call $dlmalloc (local.get 0) (local.get 1)))
    (func (export "adding") (param i32 i32) (result i32)
      (i32.add (call $dlmalloc (local.get 0) (local.get 1)) (i32.const 100))))
  (core module $app
    (import "libc" "memory" (memory 1))
    (import "libc" "malloc" (func $malloc (param i32 i32) (result i32)))
    (import "libc" "chained" (func $chained (param i32 i32) (result i32)))
    (import "libc" "swapped" (func $swapped (param i32 i32) (result i32)))
    (import "libc" "with_local" (func $with_local (param i32 i32) (result i32)))
    (import "libc" "adding" (func $adding (param i32 i32) (result i32)))
    (func (export "run") (result i32)
      (i32.add
        (i32.add
          (i32.add (call $malloc (i32.const 1) (i32.const 2)) (call $chained (i32.const 3) (i32.const 4)))
          (i32.add (call $swapped (i32.const 5) (i32.const 6)) (call $with_local (i32.const 7) (i32.const 8))))
        (call $adding (i32.const 9) (i32.const 0)))))
  (core instance $libc (instantiate $libc))
  (core instance $app (instantiate $app (with "libc" (instance $libc))))
  (alias core export $app "run" (core func $run))
  (func (export "run") (result u32) (canon lift (core func $run))))
"""
    )
)
_EXPECTED = 12 + 34 + 65 + 78 + (90 + 100)


def _function_exports(component: bytes | bytearray, module: int) -> dict[str, int]:
    where = parse_component(component).modules[module]
    assert where is not None
    payload, size = where
    exports = {}
    for section, at, _ in sections(component, payload + 8, payload + size):
        if section == 7:
            count, at = read_leb(component, at)
            for _ in range(count):
                name, at = read_name(component, at)
                kind = component[at]
                index, at = read_leb(component, at + 1)
                if kind == 0:
                    exports[name] = index
    return exports


@pytest.fixture(scope="module")
def forwarded() -> bytearray:
    component, stats = forward_exports(bytearray(_COMPONENT))
    assert stats.exports == 2
    return component


def test_forwarders_and_chains_of_them_export_their_callee(forwarded: bytearray) -> None:
    before, after = _function_exports(_COMPONENT, 0), _function_exports(forwarded, 0)
    assert before["malloc"] != before["dlmalloc"] and before["chained"] != before["dlmalloc"]
    assert after["malloc"] == after["chained"] == after["dlmalloc"]


@pytest.mark.parametrize("name", ["swapped", "with_local", "adding"], ids=["swapped", "with-local", "adding"])
def test_functions_that_do_more_than_forward_keep_their_export(forwarded: bytearray, name: str) -> None:
    assert _function_exports(forwarded, 0)[name] == _function_exports(_COMPONENT, 0)[name]


def test_the_code_computes_the_same(forwarded: bytearray) -> None:
    assert run_component(_COMPONENT) == run_component(forwarded) == _EXPECTED


def test_a_component_without_forwarders_is_returned_unchanged() -> None:
    component = bytes(
        wasmtime.wat2wasm(
            """(component
                 (core module $m (func (export "f") (result i32) (i32.const 1)))
                 (core instance (instantiate $m)))"""
        )
    )
    same, stats = forward_exports(bytearray(component))
    assert (stats.exports, bytes(same)) == (0, component)
