"""Build step: CPython's allocator calls go straight to its default allocator.

Every allocation in CPython enters through a front door (``PyObject_Malloc``,
``PyMem_Free``, ...) that calls the domain's current allocator through a
function pointer in ``_PyRuntime``, so that tools like tracemalloc can hook
it. The guest's CPython is built without pymalloc: the pointer is always
``_PyMem_RawMalloc`` and friends, one-line wrappers of libc's ``malloc``.
In wasm that is a ``call_indirect`` (table bounds, null and signature
checks) into a function that pays wasmtime's prologue (stack and epoch
checks) only to call on: per object, twice, on the busiest path there is.

Here each front door's indirect call becomes a guarded direct one::

    fp = <the pointer, loaded as before>
    if fp == <the table slot of _PyMem_RawMalloc>: call _PyMem_RawMalloc(...)
    else: call_indirect fp(...)

The operands are evaluated once and in wasm's order (operands, then the
pointer), so behaviour is the same: a hook installed later (``_tracemalloc``
does this) still gets every call, through the else branch. The fast branch
is plain code Binaryen's inliner can then fold (``_inlining``). It assumes
the table slot still holds the function its element segment put there:
nothing in the guest writes the table after the loader filled it, before the
snapshot. In ``benchmarks/test_compute.py``'s workloads (A/B, alternated,
with ``_forwarders``): json and strings 6-7 % faster, regex 5 %, sort 4 %,
the geometric mean 2 %. The loop workload, which allocates through a free
list instead, ran 1-12 % slower across eight builds (most 6-10 %), with
the same profile; keeping the functions' order or aligning every function
to 64 bytes did not change that.

This runs in the Binaryen child (``_inlining``), on the module already read:
``devirtualize_allocators(lib, module)`` with ``lib`` the loaded
``libbinaryen``. A front door whose code is not the expected shape (one
``call_indirect`` reached through blocks, local sets, drops and returns) is
left as it is.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

__all__ = ["FRONT_DOORS", "devirtualize_allocators"]

FRONT_DOORS: dict[str, str] = {
    door: f"_PyMem_Raw{verb}"
    for verb in ("Malloc", "Calloc", "Realloc", "Free")
    for door in (f"PyObject_{verb}", f"PyMem_{verb}", f"PyMem_Raw{verb}")
}
"""Each allocator front door and the default allocator it is expected to call."""

_P = ctypes.c_void_p
_TYPE = ctypes.c_size_t  # BinaryenType is a uintptr_t
_INDEX = ctypes.c_uint32


class _Literal(ctypes.Structure):
    """Binaryen's ``struct BinaryenLiteral``: a type, then a 16-byte union."""

    _fields_ = [("type", _TYPE), ("bytes", ctypes.c_uint8 * 16)]


_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "BinaryenGetFunction": (_P, [_P, ctypes.c_char_p]),
    "BinaryenFunctionGetBody": (_P, [_P]),
    "BinaryenFunctionGetParams": (_TYPE, [_P]),
    "BinaryenFunctionGetResults": (_TYPE, [_P]),
    "BinaryenFunctionGetNumVars": (_INDEX, [_P]),
    "BinaryenFunctionGetVar": (_TYPE, [_P, _INDEX]),
    "BinaryenRemoveFunction": (None, [_P, ctypes.c_char_p]),
    "BinaryenAddFunction": (_P, [_P, ctypes.c_char_p, _TYPE, _TYPE, ctypes.POINTER(_TYPE), _INDEX, _P]),
    "BinaryenExpressionGetId": (_INDEX, [_P]),
    "BinaryenBlockGetNumChildren": (_INDEX, [_P]),
    "BinaryenBlockGetChildAt": (_P, [_P, _INDEX]),
    "BinaryenBlockSetChildAt": (None, [_P, _INDEX, _P]),
    "BinaryenLocalSetGetValue": (_P, [_P]),
    "BinaryenLocalSetSetValue": (None, [_P, _P]),
    "BinaryenDropGetValue": (_P, [_P]),
    "BinaryenDropSetValue": (None, [_P, _P]),
    "BinaryenReturnGetValue": (_P, [_P]),
    "BinaryenReturnSetValue": (None, [_P, _P]),
    "BinaryenCallIndirectGetTarget": (_P, [_P]),
    "BinaryenCallIndirectGetNumOperands": (_INDEX, [_P]),
    "BinaryenCallIndirectGetOperandAt": (_P, [_P, _INDEX]),
    "BinaryenCallIndirectGetTable": (ctypes.c_char_p, [_P]),
    "BinaryenCallIndirectGetParams": (_TYPE, [_P]),
    "BinaryenCallIndirectGetResults": (_TYPE, [_P]),
    "BinaryenCallIndirectIsReturn": (ctypes.c_bool, [_P]),
    "BinaryenTypeArity": (_INDEX, [_TYPE]),
    "BinaryenTypeExpand": (None, [_TYPE, ctypes.POINTER(_TYPE)]),
    "BinaryenTypeInt32": (_TYPE, []),
    "BinaryenTypeAuto": (_TYPE, []),
    "BinaryenLocalSet": (_P, [_P, _INDEX, _P]),
    "BinaryenLocalGet": (_P, [_P, _INDEX, _TYPE]),
    "BinaryenLiteralInt32": (_Literal, [ctypes.c_int32]),
    "BinaryenConst": (_P, [_P, _Literal]),
    "BinaryenConstGetValueI32": (ctypes.c_int32, [_P]),
    "BinaryenEqInt32": (ctypes.c_int32, []),
    "BinaryenBinary": (_P, [_P, ctypes.c_int32, _P, _P]),
    "BinaryenCall": (_P, [_P, ctypes.c_char_p, ctypes.POINTER(_P), _INDEX, _TYPE]),
    "BinaryenCallIndirect": (_P, [_P, ctypes.c_char_p, _P, ctypes.POINTER(_P), _INDEX, _TYPE, _TYPE]),
    "BinaryenIf": (_P, [_P, _P, _P, _P]),
    "BinaryenBlock": (_P, [_P, ctypes.c_char_p, ctypes.POINTER(_P), _INDEX, _TYPE]),
    "BinaryenGetNumElementSegments": (_INDEX, [_P]),
    "BinaryenGetElementSegmentByIndex": (_P, [_P, _INDEX]),
    "BinaryenElementSegmentIsPassive": (ctypes.c_bool, [_P]),
    "BinaryenElementSegmentGetOffset": (_P, [_P]),
    "BinaryenElementSegmentGetLength": (_INDEX, [_P]),
    "BinaryenElementSegmentGetData": (ctypes.c_char_p, [_P, _INDEX]),
    "BinaryenElementSegmentGetTable": (ctypes.c_char_p, [_P]),
    "BinaryenGlobalGetGetName": (ctypes.c_char_p, [_P]),
    "BinaryenGetGlobal": (_P, [_P, ctypes.c_char_p]),
    "BinaryenGlobalIsMutable": (ctypes.c_bool, [_P]),
    "BinaryenGlobalImportGetModule": (ctypes.c_char_p, [_P]),
    "BinaryenGlobalGetInitExpr": (_P, [_P]),
}
_KINDS = ("Block", "LocalSet", "Drop", "Return", "CallIndirect", "Const", "GlobalGet")
_WRAPPERS = ("LocalSet", "Drop", "Return")
"""Nodes with one child (``value``) the walk looks through."""

_Replace = Callable[[int], None]


def devirtualize_allocators(lib: Any, module: int) -> int:
    """Guard and make direct each front door's allocator call (see the module
    docstring); returns how many front doors were changed."""
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return _Devirtualizer(lib, module).run()


class _Devirtualizer:
    def __init__(self, lib: Any, module: int) -> None:
        self.lib, self.module = lib, module
        self.kinds = {kind: getattr(lib, f"Binaryen{kind}Id")() for kind in _KINDS}
        self.slots = self._table_slots()

    def run(self) -> int:
        changed = 0
        for door, target in FRONT_DOORS.items():
            function = self.lib.BinaryenGetFunction(self.module, door.encode())
            if function and self.lib.BinaryenGetFunction(self.module, target.encode()):
                changed += self._rewrite(door, function, target)
        return changed

    def _table_slots(self) -> dict[tuple[bytes, bytes], int]:
        """(table, function name) -> the slot an active segment at a constant offset fills."""
        lib, slots = self.lib, dict[tuple[bytes, bytes], int]()
        for index in range(lib.BinaryenGetNumElementSegments(self.module)):
            segment = lib.BinaryenGetElementSegmentByIndex(self.module, index)
            if lib.BinaryenElementSegmentIsPassive(segment):
                continue
            base = self._constant(lib.BinaryenElementSegmentGetOffset(segment))
            if base is None:
                continue
            table = lib.BinaryenElementSegmentGetTable(segment)
            for at in range(lib.BinaryenElementSegmentGetLength(segment)):
                slots.setdefault((table, lib.BinaryenElementSegmentGetData(segment, at)), base + at)
        return slots

    def _constant(self, expression: int) -> int | None:
        """An i32 constant, directly or through an immutable defined global; else None."""
        lib, kind = self.lib, self.lib.BinaryenExpressionGetId(expression)
        if kind == self.kinds["Const"]:
            return int(lib.BinaryenConstGetValueI32(expression))
        if kind == self.kinds["GlobalGet"]:
            found = lib.BinaryenGetGlobal(self.module, lib.BinaryenGlobalGetGetName(expression))
            if found and not lib.BinaryenGlobalIsMutable(found) and not lib.BinaryenGlobalImportGetModule(found):
                return self._constant(lib.BinaryenGlobalGetInitExpr(found))
        return None

    def _find(self, expression: int, replace: _Replace) -> tuple[int, _Replace] | None:
        """The one ``call_indirect`` under ``expression`` and how to replace it in its parent."""
        lib, kind = self.lib, self.lib.BinaryenExpressionGetId(expression)
        if kind == self.kinds["CallIndirect"]:
            return expression, replace
        if kind == self.kinds["Block"]:
            child, set_child = lib.BinaryenBlockGetChildAt, lib.BinaryenBlockSetChildAt
            children = range(lib.BinaryenBlockGetNumChildren(expression))
            found = [self._find(child(expression, at), _setter(set_child, expression, at)) for at in children]
            hits = [hit for hit in found if hit is not None]
            return hits[0] if len(hits) == 1 else None
        for wrapper in _WRAPPERS:
            child = getattr(lib, f"Binaryen{wrapper}GetValue")(expression) if kind == self.kinds[wrapper] else None
            if child:
                return self._find(child, _setter(getattr(lib, f"Binaryen{wrapper}SetValue"), expression))
        return None

    def _rewrite(self, door: str, function: int, target: str) -> int:
        lib, module = self.lib, self.module
        body = [lib.BinaryenFunctionGetBody(function)]
        found = self._find(body[0], lambda new: body.__setitem__(0, new))
        if found is None or lib.BinaryenCallIndirectIsReturn(found[0]):
            return 0
        call, replace = found
        table = lib.BinaryenCallIndirectGetTable(call)
        slot = self.slots.get((table, target.encode()))
        if slot is None:
            return 0
        params, results = lib.BinaryenCallIndirectGetParams(call), lib.BinaryenCallIndirectGetResults(call)
        count = lib.BinaryenCallIndirectGetNumOperands(call)
        types = (_TYPE * max(count, 1))()
        lib.BinaryenTypeExpand(params, types)
        own_params = lib.BinaryenFunctionGetParams(function)
        variables = [lib.BinaryenFunctionGetVar(function, at) for at in range(lib.BinaryenFunctionGetNumVars(function))]
        first_new = lib.BinaryenTypeArity(own_params) + len(variables)
        i32 = lib.BinaryenTypeInt32()
        variables += [types[at] for at in range(count)] + [i32]
        pointer = first_new + count
        steps = [
            lib.BinaryenLocalSet(module, first_new + at, lib.BinaryenCallIndirectGetOperandAt(call, at))
            for at in range(count)
        ]
        steps.append(lib.BinaryenLocalSet(module, pointer, lib.BinaryenCallIndirectGetTarget(call)))

        def arguments() -> Any:
            return (_P * max(count, 1))(
                *[lib.BinaryenLocalGet(module, first_new + at, types[at]) for at in range(count)]
            )

        expected = lib.BinaryenConst(module, lib.BinaryenLiteralInt32(slot))
        guard = lib.BinaryenBinary(module, lib.BinaryenEqInt32(), lib.BinaryenLocalGet(module, pointer, i32), expected)
        direct = lib.BinaryenCall(module, target.encode(), arguments(), count, results)
        hooked = lib.BinaryenCallIndirect(
            module, table, lib.BinaryenLocalGet(module, pointer, i32), arguments(), count, params, results
        )
        steps.append(lib.BinaryenIf(module, guard, direct, hooked))
        replace(lib.BinaryenBlock(module, None, (_P * len(steps))(*steps), len(steps), lib.BinaryenTypeAuto()))
        # Binaryen 116's C API cannot add a local to a function: the function is
        # replaced by one with the same name, signature and body, plus the new locals.
        own_results = lib.BinaryenFunctionGetResults(function)
        lib.BinaryenRemoveFunction(module, door.encode())
        local_types = (_TYPE * len(variables))(*variables)
        lib.BinaryenAddFunction(module, door.encode(), own_params, own_results, local_types, len(variables), body[0])
        return 1


def _setter(set_child: Callable[..., None], parent: int, *where: int) -> _Replace:
    return lambda new: set_child(parent, *where, new)
