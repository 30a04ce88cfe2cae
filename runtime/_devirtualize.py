"""Build step: CPython's busiest indirect calls get a guarded direct path.

CPython calls through function pointers on its hottest paths: every
allocation through the domain's allocator (so tracemalloc can hook it),
every deallocation through the type's ``tp_dealloc`` and ``tp_free``, every
comparison, hash and arithmetic operator through the type's slot. In wasm
each is a ``call_indirect``
(table bounds, null and signature checks) into a function that pays
wasmtime's prologue (stack and epoch checks, the memory base): the loop
workload spent a third of its time entering ``_Py_Dealloc`` and then
``long_dealloc``. Here such a call becomes::

    fp = <the pointer, loaded as before>
    if fp == <the table slot of long_dealloc>: call long_dealloc'(...)
    elif fp == <the table slot of unicode_dealloc>: call unicode_dealloc'(...)
    ...
    else: call_indirect fp(...)

where ``long_dealloc'`` is a private copy of ``long_dealloc`` whose only
caller is this branch, which Binaryen's inliner (``_inlining``, run next)
therefore folds into it. The operands are evaluated once and in wasm's order
(operands, then the pointer), so behaviour is the same: any other pointer,
a hook installed later (``_tracemalloc``), a subclass's ``tp_dealloc``,
still gets its call through the else branch. It assumes a function's table
slot still holds the function its element segment (or, for a function the
module exports, the dynamic loader, through its ``GOT.func`` entry: see
``_constant_globals``) put there: nothing in the guest writes the table
after the loader filled it, before the snapshot.

``CALLS`` lists the calls and targets, most frequent target first (each miss
costs a comparison). In ``benchmarks/test_compute.py``'s workloads (A/B,
alternated, the median of six processes each): the allocator front doors
alone made json and strings 6-7 % faster; the rest made the loop workload
28 % faster (39.0 -> 28.1 ms), sort 14 %, json 9 %, strings 6 %, regex 3 %,
the geometric mean 10 %.

This runs in the Binaryen child (``_inlining``), on the module already read:
``devirtualize(lib, module)`` with ``lib`` the loaded ``libbinaryen``. A
caller or target that is not in the module, or a call that is not there, is
left as it is.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from ._binaryen import Site, bind, walk

__all__ = ["CALLS", "FRONT_DOORS", "GuardedCalls", "devirtualize"]


@dataclass(frozen=True, kw_only=True)
class GuardedCalls:
    """Indirect calls of one function to give a direct path to each target."""

    caller: str
    """The function whose ``call_indirect`` of the targets' type are rewritten, ..."""
    which: int | None = None
    """... only the one at this index among them (in code order), or all."""
    targets: tuple[str, ...]
    """The functions given a direct path, tried in this order; all of one type."""


FRONT_DOORS: dict[str, str] = {
    door: f"_PyMem_Raw{verb}"
    for verb in ("Malloc", "Calloc", "Realloc", "Free")
    for door in (f"PyObject_{verb}", f"PyMem_{verb}", f"PyMem_Raw{verb}")
}
"""Each allocator front door and its default allocator: this CPython has no
pymalloc, so the pointer is always a one-line wrapper of libc's."""

_DEALLOCS = ("long_dealloc", "unicode_dealloc", "tuple_dealloc", "float_dealloc", "list_dealloc", "dict_dealloc")
_COMPARES = ("long_richcompare", "PyUnicode_RichCompare")

CALLS: tuple[GuardedCalls, ...] = (
    *(GuardedCalls(caller=door, targets=(target,)) for door, target in FRONT_DOORS.items()),
    # Before _Py_Dealloc's rule: its copies of these deallocators get the direct tp_free too.
    *(GuardedCalls(caller=dealloc, targets=("PyObject_Free", "PyObject_GC_Del")) for dealloc in _DEALLOCS),
    GuardedCalls(caller="_Py_Dealloc", which=0, targets=_DEALLOCS),  # (*dealloc)(op), not the trash chain's
    GuardedCalls(caller="PyObject_RichCompare", which=1, targets=_COMPARES),  # v's tp_richcompare
    GuardedCalls(caller="unsafe_object_compare", targets=_COMPARES),  # list.sort's
    GuardedCalls(caller="PyObject_Hash", targets=("unicode_hash", "long_hash")),
    GuardedCalls(caller="binary_op1", which=1, targets=("long_mod", "long_add", "long_mul", "long_sub")),  # v's slot
)
"""What ``devirtualize`` rewrites, in this order."""


def devirtualize(lib: Any, module: int, calls: tuple[GuardedCalls, ...] = CALLS) -> int:
    """Give each of ``calls`` its direct paths (see the module docstring);
    returns how many call sites were rewritten."""
    return _Devirtualizer(lib, module).run(calls)


class _Devirtualizer:
    def __init__(self, lib: Any, module: int) -> None:
        self.lib, self.module = lib, module
        self.kinds = bind(lib)
        self.slots = self._table_slots()
        self.copies = 0

    def run(self, calls: tuple[GuardedCalls, ...]) -> int:
        return sum(self._rewrite(rule) for rule in calls)

    def _table_slots(self) -> dict[tuple[bytes, bytes], int]:
        """(table, function name) -> its slot: where an active segment at a constant
        offset puts it, or, for an exported function, its ``GOT.func`` entry."""
        lib, slots = self.lib, dict[tuple[bytes, bytes], int]()
        tables = set()
        for index in range(lib.BinaryenGetNumElementSegments(self.module)):
            segment = lib.BinaryenGetElementSegmentByIndex(self.module, index)
            if lib.BinaryenElementSegmentIsPassive(segment):
                continue
            base = self._constant(lib.BinaryenElementSegmentGetOffset(segment))
            if base is None:
                continue
            table = lib.BinaryenElementSegmentGetTable(segment)
            tables.add(table)
            for at in range(lib.BinaryenElementSegmentGetLength(segment)):
                slots.setdefault((table, lib.BinaryenElementSegmentGetData(segment, at)), base + at)
        if len(tables) == 1:  # a position-independent library: one table, its GOT.func entries name slots in it
            (table,) = tables
            for index in range(lib.BinaryenGetNumGlobals(self.module)):
                found = lib.BinaryenGetGlobalByIndex(self.module, index)
                name = lib.BinaryenGlobalGetName(found)
                if self._exports_function(name) and not lib.BinaryenGlobalIsMutable(found):
                    value = self._constant(lib.BinaryenGlobalGetInitExpr(found))
                    if value is not None:
                        slots.setdefault((table, name), value)
        return slots

    def _exports_function(self, name: bytes) -> bool:
        """Whether the module exports its function ``name`` under that name. A global
        named as such a function is its ``GOT.func`` entry (``_constant_globals``
        keeps the names): a C symbol is a function or data, never both."""
        export = self.lib.BinaryenGetExport(self.module, name)
        return bool(export) and (
            self.lib.BinaryenExportGetKind(export) == self.lib.BinaryenExternalFunction()
            and self.lib.BinaryenExportGetValue(export) == name
        )

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

    def _rewrite(self, rule: GuardedCalls) -> int:
        lib, module = self.lib, self.module
        function = lib.BinaryenGetFunction(module, rule.caller.encode())
        signature = next(filter(None, map(self._signature, rule.targets)), None)
        if not function or signature is None:
            return 0
        body = [lib.BinaryenFunctionGetBody(function)]
        sites = [
            site
            for site in walk(lib, self.kinds, body[0], lambda new: body.__setitem__(0, new))
            if lib.BinaryenExpressionGetId(site.expression) == self.kinds["CallIndirect"]
            and not lib.BinaryenCallIndirectIsReturn(site.expression)
            and self._call_signature(site.expression) == signature
        ]
        if rule.which is not None:
            sites = sites[rule.which : rule.which + 1]
        params = lib.BinaryenFunctionGetParams(function)
        variables = [lib.BinaryenFunctionGetVar(function, at) for at in range(lib.BinaryenFunctionGetNumVars(function))]
        rewritten = 0
        for site in reversed(sites):  # a call nested in another's operand before the other
            new_locals = self._guard(site, rule.targets, lib.BinaryenTypeArity(params) + len(variables))
            variables += new_locals
            rewritten += bool(new_locals)
        if rewritten:
            # Binaryen 116's C API cannot add a local to a function: the function is
            # replaced by one with the same name, signature and body, plus the new locals.
            results = lib.BinaryenFunctionGetResults(function)
            lib.BinaryenRemoveFunction(module, rule.caller.encode())
            local_types = (ctypes.c_size_t * max(len(variables), 1))(*variables)
            lib.BinaryenAddFunction(module, rule.caller.encode(), params, results, local_types, len(variables), body[0])
        return rewritten

    def _guard(self, site: Site, targets: tuple[str, ...], first_local: int) -> list[int]:
        """Replace the call at ``site`` with its guarded form, in locals from
        ``first_local`` on; returns their types (none if no target is known)."""
        lib, module, call = self.lib, self.module, site.expression
        table = lib.BinaryenCallIndirectGetTable(call)
        params, results = self._call_signature(call)
        known = [
            (self.slots[(table, name.encode())], name)
            for name in targets
            if (table, name.encode()) in self.slots and self._signature(name) == (params, results)
        ]
        if not known:
            return []
        count = lib.BinaryenCallIndirectGetNumOperands(call)
        types = (ctypes.c_size_t * max(count, 1))()
        lib.BinaryenTypeExpand(params, types)
        i32 = lib.BinaryenTypeInt32()
        pointer = first_local + count
        steps = [
            lib.BinaryenLocalSet(module, first_local + at, lib.BinaryenCallIndirectGetOperandAt(call, at))
            for at in range(count)
        ]
        steps.append(lib.BinaryenLocalSet(module, pointer, lib.BinaryenCallIndirectGetTarget(call)))

        def arguments() -> Any:
            values = [lib.BinaryenLocalGet(module, first_local + at, types[at]) for at in range(count)]
            return (ctypes.c_void_p * max(count, 1))(*values)

        chain = lib.BinaryenCallIndirect(
            module, table, lib.BinaryenLocalGet(module, pointer, i32), arguments(), count, params, results
        )
        for slot, name in reversed(known):
            expected = lib.BinaryenConst(module, lib.BinaryenLiteralInt32(slot))
            guard = lib.BinaryenBinary(
                module, lib.BinaryenEqInt32(), lib.BinaryenLocalGet(module, pointer, i32), expected
            )
            direct = lib.BinaryenCall(module, self._copy(name), arguments(), count, results)
            chain = lib.BinaryenIf(module, guard, direct, chain)
        steps.append(chain)
        site.replace(
            lib.BinaryenBlock(module, None, (ctypes.c_void_p * len(steps))(*steps), len(steps), lib.BinaryenTypeAuto())
        )
        return [types[at] for at in range(count)] + [i32]

    def _signature(self, name: str) -> tuple[int, int] | None:
        """A function's (params, results), or None if the module has no such function.
        Only a target of the call's own type gets a path: the call would trap for another."""
        function = self.lib.BinaryenGetFunction(self.module, name.encode())
        if not function:
            return None
        return self.lib.BinaryenFunctionGetParams(function), self.lib.BinaryenFunctionGetResults(function)

    def _call_signature(self, call: int) -> tuple[int, int]:
        return self.lib.BinaryenCallIndirectGetParams(call), self.lib.BinaryenCallIndirectGetResults(call)

    def _copy(self, name: str) -> bytes:
        """A new private copy of function ``name``: its one caller will be the inliner's cue."""
        lib, module = self.lib, self.module
        original = lib.BinaryenGetFunction(module, name.encode())
        variables = [lib.BinaryenFunctionGetVar(original, at) for at in range(lib.BinaryenFunctionGetNumVars(original))]
        self.copies += 1
        copy = f"{name}$direct{self.copies}".encode()
        lib.BinaryenAddFunction(
            module, copy, lib.BinaryenFunctionGetParams(original), lib.BinaryenFunctionGetResults(original),
            (ctypes.c_size_t * max(len(variables), 1))(*variables), len(variables),
            lib.BinaryenExpressionCopy(lib.BinaryenFunctionGetBody(original), module),
        )  # fmt: skip
        return copy
