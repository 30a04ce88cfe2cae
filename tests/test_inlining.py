"""The build inlines small functions with Binaryen, and the code computes the same."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
import wasmtime
from component_harness import run_component

from runtime._inlining import _failure, inline_small_functions
from runtime._wasm_binary import read_leb, sections
from runtime._wasm_layout import parse_component

_COMPONENT = bytes(
    wasmtime.wat2wasm(
        """
(component
  (core module $m
    (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
    (func (export "run") (result i32) (i32.add (call $square (i32.const 6)) (call $square (i32.const 2)))))
  (core instance $i (instantiate $m))
  (alias core export $i "run" (core func $run))
  (func (export "run") (result u32) (canon lift (core func $run))))
"""
    )
)


def _functions(component: bytes | bytearray) -> int:
    where = parse_component(component).modules[0]
    assert where is not None
    payload, size = where
    counts = [read_leb(component, at)[0] for s, at, _ in sections(component, payload + 8, payload + size) if s == 3]
    return sum(counts)


def test_a_small_function_is_inlined_into_its_callers_and_the_result_is_the_same() -> None:
    inlined, stats = inline_small_functions(bytearray(_COMPONENT), min_code=0)
    assert (stats.modules, stats.skipped) == (1, None)
    assert (_functions(_COMPONENT), _functions(inlined)) == (2, 1)
    assert run_component(_COMPONENT) == run_component(inlined) == 40


_FIELD_READ = bytes(
    wasmtime.wat2wasm(
        """
(component
  (core module $m
    (memory 1)
    (data (i32.const 24) "\\2a")
    (func (export "run") (param i32) (result i32) (i32.load (i32.add (local.get 0) (i32.const 8)))))
  (core instance $i (instantiate $m))
  (alias core export $i "run" (core func $run))
  (func (export "run") (param "p" u32) (result u32) (canon lift (core func $run))))
"""
    )
)


def _body(component: bytes | bytearray) -> bytes:
    """The instructions of module 0's one function (after its count, size and no locals)."""
    where = parse_component(component).modules[0]
    assert where is not None
    (code,) = [(at, size) for s, at, size in sections(component, where[0] + 8, sum(where)) if s == 10]
    return bytes(component[code[0] + 3 : sum(code)])


def test_a_constant_added_to_an_address_moves_into_the_offset_field() -> None:
    local_get_0, i32_const_8, i32_add, i32_load, end = b"\x20\x00", b"\x41\x08", b"\x6a", b"\x28\x02", b"\x0b"
    folded, _ = inline_small_functions(bytearray(_FIELD_READ), min_code=0)
    assert _body(_FIELD_READ) == local_get_0 + i32_const_8 + i32_add + i32_load + b"\x00" + end
    assert _body(folded) == local_get_0 + i32_load + b"\x08" + end  # offset=8, no add
    assert run_component(_FIELD_READ, 16) == run_component(folded, 16) == 42


def test_modules_below_the_size_threshold_are_left_alone() -> None:
    same, stats = inline_small_functions(bytearray(_COMPONENT), min_code=1 << 20)
    assert (stats.modules, same) == (0, _COMPONENT)


@pytest.mark.parametrize(
    ("package", "reason"),
    [("no_such_package_here", "is not installed"), ("json", "binaryen failed with exit status 1")],
    ids=["not-installed", "binaryen-fails"],
)
def test_without_binaryen_the_build_goes_on_unchanged_and_says_why(
    package: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otc.build"):
        same, stats = inline_small_functions(bytearray(_COMPONENT), min_code=0, package=package)
    assert same == _COMPONENT
    assert stats.modules == 0 and stats.skipped is not None and reason in stats.skipped
    assert "not inlined" in caplog.text


def test_a_runtime_directory_where_the_caller_stands_does_not_shadow_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "__init__.py").write_text("raise SystemExit('not the real runtime package')\n")
    monkeypatch.chdir(tmp_path)
    _, stats = inline_small_functions(bytearray(_COMPONENT), min_code=0)
    assert (stats.modules, stats.skipped) == (1, None)


def test_output_that_wasmtime_would_not_load_is_not_used(tmp_path: Path) -> None:
    target = tmp_path / "out.wasm"
    target.write_bytes(b"\0asm\x01\0\0\0\x0a\x04\x01\x02\x00\x0b")  # a body for a function that is not declared
    done = subprocess.CompletedProcess(["binaryen"], 0, "", "")
    reason = _failure(done, target)
    assert reason is not None and "does not validate" in reason
    target.write_bytes(wasmtime.wat2wasm("(module)"))
    assert _failure(done, target) is None
