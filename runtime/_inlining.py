"""Build step: inline the interpreter's small functions with Binaryen.

Under wasmtime every call between wasm functions pays a prologue that
native code does not: a stack-limit check, an epoch check (what lets a
timeout stop a run) and, because CPython's memory is imported, a reload of
the memory's base. Clang compiled CPython for a target where calls are
cheap, so it left many small functions out of line. Binaryen's inliner,
with size limits above its defaults (``_ALWAYS``, ``_FLEXIBLE``), folds them
into their callers and optimises the result: the compute suite ran 9 %
faster in an A/B measured in one process (``benchmarks/test_compute.py``
has the suite). Only modules with at least ``_MIN_CODE`` bytes of code are
treated: the interpreter, not the small glue modules around it. Before
inlining, the same child gives the interpreter's busiest indirect calls
(allocation, deallocation, comparison) guarded direct paths
(``_devirtualize``), so the inliner can fold them too.

Then constants added to an address move into the access's offset field
(``optimize-added-constants-propagate``): ``i32.load (i32.add p 8)`` becomes
``i32.load offset=8 p``, which Cranelift folds into the x86 addressing mode,
one instruction and one dependency fewer per struct field. The two differ
only where ``p + 8`` wraps past 4 GiB; Binaryen makes the fold for constants
below 1024 under its "low memory unused" assumption, that no access means
to reach the first 1024 bytes by wrapping around. No C pointer arithmetic
wraps; a wrapped garbage pointer now traps instead of reading the far end of
the guest's own stack. The regex workload ran 7 % faster, the suite's
geometric mean 2 % (A/B, alternated, three rounds).

Binaryen comes from ``icpp-binaryen`` (its official shared library,
bundled), in the ``speed`` extra: it has wheels for few platforms. It runs
in a child process: it writes warnings on stderr, and a crash in it must
not take the building process down. Where the package is not installed,
or the child fails, the step is skipped with a warning; the guest is then
correct, only slower.
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

import wasmtime

from ._devirtualize import devirtualize
from ._wasm_layout import code_size, parse_component, replace_core_modules

__all__ = ["InliningStats", "inline_small_functions"]

log = logging.getLogger("otc.build")

_ALWAYS = 20
"""Functions up to this size (Binaryen's measure) are inlined everywhere (its default: 2)."""
_FLEXIBLE = 60
"""... and up to this size where Binaryen judges it pays (its default: 20, 5.7 % faster).
40/150 and 30/60 measured no faster, nor did dead-argument elimination first."""
_MIN_CODE = 1 << 20
"""Bytes of code a module needs to be treated: libpython has ~6 MB, the next largest ~0.4 MB."""
_TIMEOUT = 900.0
"""Seconds the child may take (it takes ~45 s for libpython here)."""
_PASSES = (b"inlining-optimizing", b"optimize-added-constants-propagate")


@dataclass(frozen=True, kw_only=True)
class InliningStats:
    """What ``inline_small_functions`` did."""

    modules: int
    """Core modules optimised."""
    direct_calls: int = 0
    """Indirect calls given guarded direct paths first (``_devirtualize``)."""
    skipped: str | None = None
    """Why nothing was done, if so."""


def inline_small_functions(
    component: bytearray, *, min_code: int = _MIN_CODE, package: str = "icpp_binaryen"
) -> tuple[bytearray, InliningStats]:
    """The component with small functions of its large modules inlined (see the module docstring)."""
    if find_spec(package) is None:
        reason = f"{package.replace('_', '-')} is not installed: pip install 'otc-runtime[speed]'"
        log.warning("guest build: small functions not inlined (%s): the guest computes ~20%% slower", reason)
        return component, InliningStats(modules=0, skipped=reason)
    layout = parse_component(component)
    targets = {
        index: where
        for index, where in enumerate(layout.modules)
        if where is not None and code_size(component, *where) >= min_code
    }
    replacements: dict[int, bytes] = {}
    direct_calls = 0
    with tempfile.TemporaryDirectory(prefix="otc-inline-") as tmp:
        for index, (payload, size) in targets.items():
            source, target = Path(tmp) / f"{index}.wasm", Path(tmp) / f"{index}.out.wasm"
            source.write_bytes(component[payload : payload + size])
            command = [sys.executable, "-m", __name__, package, str(source), str(target)]
            try:
                # cwd: a `runtime` directory wherever the caller stands must not shadow this package.
                done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                done = subprocess.CompletedProcess(command, -1, "", str(exc))
            failure = _failure(done, target)
            if failure is not None:
                log.warning("guest build: small functions not inlined (%s): the guest computes ~20%% slower", failure)
                return component, InliningStats(modules=0, skipped=failure)
            replacements[index] = target.read_bytes()
            direct_calls += _reported_count(done.stdout)
    stats = InliningStats(modules=len(replacements), direct_calls=direct_calls)
    return replace_core_modules(component, replacements), stats


def _reported_count(stdout: str) -> int:
    """The count the child printed last (anything else on its stdout is Binaryen's)."""
    lines = stdout.split()
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def _failure(done: subprocess.CompletedProcess[str], target: Path) -> str | None:
    """Why the child's module cannot be used, or None. Its output must pass
    wasmtime's validator: Binaryen reads with every feature enabled, so an
    optimisation could use one that wasmtime does not enable by default."""
    if done.returncode != 0 or not target.exists():
        return f"binaryen failed with exit status {done.returncode}: {done.stderr.strip()[-500:]}"
    try:
        wasmtime.Module.validate(wasmtime.Engine(), target.read_bytes())
    except wasmtime.WasmtimeError as exc:
        return f"binaryen's output does not validate: {str(exc)[:500]}"
    return None


class _AllocatedBinary(ctypes.Structure):
    _fields_ = [("binary", ctypes.c_void_p), ("size", ctypes.c_size_t), ("source_map", ctypes.c_char_p)]


def _optimise(package: str, source: Path, target: Path) -> None:
    """In the child: read ``source``, inline and optimise, write ``target``."""
    name = "libbinaryen.dylib" if sys.platform == "darwin" else "libbinaryen.so"
    lib = ctypes.CDLL(str(resources.files(package).joinpath("lib", name)))
    lib.BinaryenModuleRead.restype = ctypes.c_void_p
    lib.BinaryenModuleRead.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.BinaryenFeatureAll.restype = ctypes.c_uint32
    lib.BinaryenModuleSetFeatures.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.BinaryenModuleRunPasses.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_uint32]
    lib.BinaryenModuleAllocateAndWrite.restype = _AllocatedBinary
    lib.BinaryenModuleAllocateAndWrite.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for setting in (
        "BinaryenSetOptimizeLevel", "BinaryenSetShrinkLevel", "BinaryenSetDebugInfo",
        "BinaryenSetAlwaysInlineMaxSize", "BinaryenSetFlexibleInlineMaxSize", "BinaryenSetLowMemoryUnused",
    ):  # fmt: skip
        getattr(lib, setting).argtypes = [ctypes.c_int]
    data = source.read_bytes()
    module = lib.BinaryenModuleRead(data, len(data))
    if not module:
        raise SystemExit("binaryen could not read the module")
    lib.BinaryenModuleSetFeatures(module, lib.BinaryenFeatureAll())
    direct_calls = devirtualize(lib, module)  # first: the inliner then folds the direct paths
    lib.BinaryenSetOptimizeLevel(3)
    lib.BinaryenSetShrinkLevel(0)
    lib.BinaryenSetDebugInfo(1)  # keep the function names: wasmtime's backtraces and profiles show them
    lib.BinaryenSetAlwaysInlineMaxSize(_ALWAYS)
    lib.BinaryenSetFlexibleInlineMaxSize(_FLEXIBLE)
    lib.BinaryenSetLowMemoryUnused(1)  # for optimize-added-constants: see the module docstring
    lib.BinaryenModuleRunPasses(module, (ctypes.c_char_p * len(_PASSES))(*_PASSES), len(_PASSES))
    written = lib.BinaryenModuleAllocateAndWrite(module, None)
    target.write_bytes(ctypes.string_at(written.binary, written.size))
    print(direct_calls)


if __name__ == "__main__":
    _optimise(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
