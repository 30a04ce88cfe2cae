"""The build turns link-time constants into constants, and nothing that can change.

The components here are laid out the way componentize-py's linker lays out
the guest: a main module that owns the memory and exports, per library,
``memory_base`` and GOT entries as constant globals; a library that imports
them by the dynamic-linking names. Each is instantiated by wasmtime before
and after the rewrite, and must compute the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from runtime import GuestBuildError
from runtime._build import guest_component
from runtime._constant_globals import inline_constant_globals
from runtime._wasm_layout import parse_component

_MAIN = """
  (core module $main
    (memory (export "memory") 1)
    (global (export "lib:memory_base") i32 (i32.const 1024))
    (global (export "lib:answer") (mut i32) (i32.const 2048))
    (global (export "lib:counter") (mut i32) (i32.const 7))
    (global (export "lib:computed") i32 (i32.add (i32.const 1) (i32.const 2)))
    (global $sp (export "__stack_pointer") (mut i32) (i32.const 65536))
    (data (i32.const 2048) "\\2a\\00\\00\\00")
    (data (i32.const 1040) "\\05\\00\\00\\00"))
  (core instance $main (instantiate $main))
  (alias core export $main "memory" (core memory $memory))
  (alias core export $main "__stack_pointer" (core global $sp))
  (alias core export $main "lib:memory_base" (core global $base))
  (alias core export $main "lib:answer" (core global $answer))
  (alias core export $main "lib:counter" (core global $counter))
  (alias core export $main "lib:computed" (core global $computed))
"""

_LIFT = """
  (alias core export $lib "read" (core func $read))
  (func (export "read") (result u32) (canon lift (core func $read)))
"""


def _component(library_imports: str, env_exports: str, *, instances: int = 1) -> bytes:
    """A component whose library reads ``*answer + *(memory_base + 16) + extra``."""
    library = f"""
  (core module $lib
    (import "env" "memory" (memory 1))
    (import "env" "__stack_pointer" (global $sp (mut i32)))
    {library_imports}
    (global $data i32 (i32.add (global.get $mb) (i32.const 16)))
    (func (export "read") (result i32)
      (i32.add (i32.add (i32.load (global.get $answer)) (i32.load (global.get $data))) (call $extra))))
  (core instance $env (export "memory" (memory $memory)) (export "__stack_pointer" (global $sp)) {env_exports})
  (core instance $got (export "answer" (global $answer)))
"""
    made = "".join(
        f'(core instance $lib{"" if n == 0 else n} (instantiate $lib (with "env" (instance $env)) '
        f'(with "GOT.mem" (instance $got))))'
        for n in range(instances)
    )
    return bytes(wasmtime.wat2wasm(f"(component {_MAIN} {library} {made} {_LIFT})"))


_CONSTANT_ONLY = _component(
    '(import "env" "__memory_base" (global $mb i32)) (import "GOT.mem" "answer" (global $answer (mut i32)))'
    "(func $extra (result i32) (i32.const 0))",
    '(export "__memory_base" (global $base))',
)


def _read(component: bytes | bytearray) -> int:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = Linker(engine).instantiate(store, Component(engine, bytes(component)))
    read = instance.get_func(store, "read")
    assert read is not None
    value = read(store)
    read.post_return(store)
    assert isinstance(value, int)
    return value


def _library_imports(component: bytes | bytearray) -> list[str]:
    """The imports of the component's second core module (the library), as wasmtime reads them."""
    layout = parse_component(component)
    where = layout.modules[1]
    assert where is not None
    module = wasmtime.Module(wasmtime.Engine(), bytes(component[where[0] : where[0] + where[1]]))
    return [f"{i.module}.{i.name}" for i in module.imports]


def test_link_time_constants_become_constants_and_the_result_is_the_same() -> None:
    rewritten, stats = inline_constant_globals(_CONSTANT_ONLY)
    assert _read(_CONSTANT_ONLY) == _read(rewritten) == 42 + 5
    assert _library_imports(rewritten) == ["env.memory", "env.__stack_pointer"]
    assert (stats.modules, stats.imports, stats.folded) == (1, 2, 1)


@pytest.mark.parametrize(
    ("imports", "env", "expected"),
    [
        pytest.param(
            '(import "env" "__memory_base" (global $mb i32)) (import "GOT.mem" "answer" (global $answer (mut i32)))'
            '(import "env" "counter" (global $c (mut i32))) (func $extra (result i32) (global.get $c))',
            '(export "__memory_base" (global $base)) (export "counter" (global $counter))',
            42 + 5 + 7,
            id="a-mutable-global-that-is-not-a-GOT-entry",
        ),
        pytest.param(
            '(import "env" "__memory_base" (global $mb i32)) (import "GOT.mem" "answer" (global $answer (mut i32)))'
            '(import "env" "computed" (global $e i32)) (func $extra (result i32) (global.get $e))',
            '(export "__memory_base" (global $base)) (export "computed" (global $computed))',
            42 + 5 + 3,
            id="a-global-whose-initialiser-is-not-one-constant",
        ),
    ],
)
def test_a_global_that_is_not_a_constant_stays_imported_and_so_do_the_ones_before_it(
    imports: str, env: str, expected: int
) -> None:
    component = _component(imports, env)
    rewritten, stats = inline_constant_globals(component)
    assert (stats.imports, rewritten) == (0, component)
    assert _read(component) == expected


def test_a_module_instantiated_twice_is_left_alone() -> None:
    component = _component(
        '(import "env" "__memory_base" (global $mb i32)) (import "GOT.mem" "answer" (global $answer (mut i32)))'
        "(func $extra (result i32) (i32.const 0))",
        '(export "__memory_base" (global $base))',
        instances=2,
    )
    rewritten, stats = inline_constant_globals(component)
    assert (stats.modules, rewritten) == (0, component)


def test_a_trailing_run_is_replaced_and_an_earlier_mutable_global_stays() -> None:
    component = _component(
        '(import "env" "counter" (global $c (mut i32))) (import "env" "__memory_base" (global $mb i32))'
        '(import "GOT.mem" "answer" (global $answer (mut i32))) (func $extra (result i32) (global.get $c))',
        '(export "__memory_base" (global $base)) (export "counter" (global $counter))',
    )
    rewritten, stats = inline_constant_globals(component)
    assert stats.imports == 2
    assert _library_imports(rewritten) == ["env.memory", "env.__stack_pointer", "env.counter"]
    assert _read(component) == _read(rewritten) == 42 + 5 + 7


@pytest.mark.parametrize(
    "data",
    [b"\0asm\x01\0\0\0", b"not wasm at all", _CONSTANT_ONLY[:-3]],
    ids=["a-core-module", "not-wasm", "truncated"],
)
def test_what_is_not_a_whole_component_fails_the_build(data: bytes) -> None:
    with pytest.raises(GuestBuildError):
        inline_constant_globals(data)


def test_the_built_guest_has_its_link_time_constants_inlined() -> None:
    """Run again on the built guest, the step finds nothing left to do; on
    componentize-py's output it had replaced hundreds of imports."""
    built = Path(guest_component()).read_bytes()
    again, stats = inline_constant_globals(built)
    assert stats.imports == 0
    assert again == built
