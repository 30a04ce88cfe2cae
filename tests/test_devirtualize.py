"""The build gives CPython's busiest indirect calls direct paths; every other pointer still gets its call."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from component_harness import run_component

from runtime import Limits, Sandbox
from runtime._build import guest_component
from runtime._devirtualize import CALLS, FRONT_DOORS
from runtime._inlining import inline_small_functions
from runtime._wasm_layout import code_size, parse_component

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


def _one_call_given_direct_paths(component: bytes) -> bytearray:
    pytest.importorskip("icpp_binaryen")
    built, stats = inline_small_functions(bytearray(component), min_code=0)
    assert (stats.modules, stats.direct_calls, stats.skipped) == (1, 1, None)
    return built


@pytest.fixture(scope="module")
def devirtualized() -> bytearray:
    return _one_call_given_direct_paths(_COMPONENT)


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


# A miniature of `_Py_Dealloc`: slots 1-3 hold two deallocators CALLS names and
# a subclass's; `run(slot, swap)` stores an object's tp_dealloc slot, optionally
# rewrites table slot 1 (which the guest never does) to reveal which calls still
# go through the table, and deallocates. Three calls: one of another type (left
# alone), the first of the deallocators' type (given direct paths: `which=0`)
# and a second one (the trash chain's, left alone). Each deallocator appends a
# digit to a log; the result is the log, then how often the operand was evaluated.
_DEALLOC = bytes(
    wasmtime.wat2wasm(
        """
(component
  (core module $m
    (table 8 funcref)
    (memory 1)
    (elem (i32.const 1) func $long_dealloc $unicode_dealloc $subtype_dealloc $is_gc)
    (elem declare func $subtype_dealloc)
    (func $log (param i32)
      (i32.store (i32.const 8) (i32.add (i32.mul (i32.load (i32.const 8)) (i32.const 10)) (local.get 0))))
    (func $long_dealloc (param i32) (call $log (i32.const 1)))
    (func $unicode_dealloc (param i32) (call $log (i32.const 2)))
    (func $subtype_dealloc (param i32) (call $log (i32.const 3)))
    (func $is_gc (param i32) (result i32) (i32.const 1))
    (func $operand (param i32) (result i32)
      (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
      (local.get 0))
    (func $_Py_Dealloc (param i32)
      (drop (call_indirect (param i32) (result i32) (local.get 0) (i32.const 4)))
      (call_indirect (param i32) (call $operand (local.get 0)) (i32.load (i32.const 0)))
      (call_indirect (param i32) (local.get 0) (i32.load (i32.const 0))))
    (func (export "run") (param i32 i32) (result i32)
      (i32.store (i32.const 0) (local.get 0))
      (if (local.get 1) (then (table.set (i32.const 1) (ref.func $subtype_dealloc))))
      (call $_Py_Dealloc (i32.const 64))
      (i32.add (i32.mul (i32.load (i32.const 8)) (i32.const 10)) (i32.load (i32.const 16)))))
  (core instance $i (instantiate $m))
  (alias core export $i "run" (core func $run))
  (func (export "run") (param "slot" u32) (param "swap" u32) (result u32) (canon lift (core func $run))))
"""
    )
)


@pytest.fixture(scope="module")
def dealloc_paths() -> bytearray:
    return _one_call_given_direct_paths(_DEALLOC)


@pytest.mark.parametrize(
    ("slot", "expected"), [(1, 111), (2, 221), (3, 331)], ids=["first-target", "second-target", "other-pointer"]
)
def test_a_guarded_call_computes_the_same_for_targets_and_other_pointers(
    dealloc_paths: bytearray, slot: int, expected: int
) -> None:
    # Also: the operand, a call, is evaluated once (the trailing 1).
    assert run_component(_DEALLOC, slot, 0) == run_component(dealloc_paths, slot, 0) == expected


def test_only_the_chosen_call_takes_the_direct_path_into_an_inlined_copy(dealloc_paths: bytearray) -> None:
    # Table slot 1 rewritten: through the table both calls reach the subclass's
    # deallocator (3, 3); the chosen one now reaches long_dealloc directly (1).
    assert run_component(_DEALLOC, 1, 1) == 331
    assert run_component(dealloc_paths, 1, 1) == 131
    assert b"$direct" not in dealloc_paths  # the private copy was inlined into its one caller, then dropped


def test_each_rule_names_targets_of_one_kind_and_deallocators_get_their_tp_free_first() -> None:
    callers = [rule.caller for rule in CALLS]
    assert len(callers) == len(set(callers))
    assert callers.index("_Py_Dealloc") > max(callers.index(name) for name in ("long_dealloc", "unicode_dealloc"))
    assert all(rule.targets for rule in CALLS)


def test_the_built_guest_compares_the_pointers_of_its_busiest_calls_with_their_targets() -> None:
    """In the built interpreter, each of these callers tests the pointer against
    its first target's table slot: the guards exist and the build did not skip."""
    binaryen = pytest.importorskip("icpp_binaryen")
    import ctypes
    from importlib import resources

    from runtime._binaryen import bind, walk
    from runtime._devirtualize import _Devirtualizer

    component = Path(guest_component()).read_bytes()
    modules = [where for where in parse_component(component).modules if where is not None]
    payload, size = max(modules, key=lambda where: code_size(component, *where))  # the interpreter
    lib = ctypes.CDLL(str(resources.files(binaryen).joinpath("lib", "libbinaryen.so")))
    lib.BinaryenModuleRead.restype = ctypes.c_void_p
    lib.BinaryenModuleRead.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    module = lib.BinaryenModuleRead(component[payload : payload + size], size)
    kinds = bind(lib)
    slots = _Devirtualizer(lib, module).slots
    for rule in (rule for rule in CALLS if rule.caller in ("_Py_Dealloc", "PyObject_RichCompare", "binary_op1")):
        (table,) = {table for table, _ in slots}
        expected = slots[(table, rule.targets[0].encode())]
        function = lib.BinaryenGetFunction(module, rule.caller.encode())
        constants = {
            lib.BinaryenConstGetValueI32(site.expression)
            for site in walk(lib, kinds, lib.BinaryenFunctionGetBody(function), lambda new: None)
            if lib.BinaryenExpressionGetId(site.expression) == kinds["Const"]
        }
        assert expected in constants, rule.caller


_SUBCLASSES = """
log = []
class I(int):
    def __del__(self): log.append("int")
class S(str):
    def __del__(self): log.append("str")
class T(tuple):
    def __del__(self): log.append("tuple")
class F(float):
    def __del__(self): log.append("float")
class L(list):
    def __del__(self): log.append("list")
class D(dict):
    def __del__(self): log.append("dict")
objects = [I(1), S("s"), T((1,)), F(1.5), L([1]), D(a=1)]
del objects
class Backwards(str):
    def __lt__(self, other): return str.__gt__(self, other)
    def __hash__(self): return 42
class Mod(int):
    def __mod__(self, other): return "mod"
    def __add__(self, other): return "add"
big = 2**100 + 6
[
    sorted(log),
    [str(s) for s in sorted([Backwards("a"), Backwards("c"), Backwards("b")])],
    sorted(["b", "a", "c"]), sorted([3, 1, 2]), 1 < 2.5, "a" < "b", 10**30 < 10**31,
    hash(Backwards("x")), {Backwards("x"): 1}[Backwards("x")], hash("x") == hash("x"), hash(7),
    Mod(7) % 3, Mod(7) + 1, 7 % 3, -7 % 3, big % 7, big + 1 - big, 6 * 7, 7.5 % 2, "%s!" % 5, 2 + 0.5,
]
"""


def test_the_interpreter_still_dispatches_every_type_its_own_way(sandbox: Sandbox) -> None:
    # Subclasses miss every guard (their slots are Python's), built-ins hit them.
    result = sandbox.run(_SUBCLASSES, limits=Limits(timeout=10.0))
    assert result.ok, result.error
    assert result.value == [
        ["dict", "float", "int", "list", "str", "tuple"],
        ["c", "b", "a"],
        ["a", "b", "c"], [1, 2, 3], True, True, True,
        42, 1, True, 7,
        "mod", "add", 1, 2, (2**100 + 6) % 7, 1, 42, 1.5, "5!", 2.5,
    ]  # fmt: skip
