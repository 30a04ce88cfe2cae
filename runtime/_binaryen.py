"""Binaryen's C API as the build steps use it: ctypes bindings and a walk over code.

The build steps that rewrite the interpreter's code (``_devirtualize``) run in
the Binaryen child of ``_inlining``, on a module Binaryen has read. This module
binds the C functions they call (``bind``) and walks a function's expression
tree (``walk``), yielding every expression with a way to replace it in its
parent. The walk knows the children of the expression kinds clang emits for
C code (blocks, branches, calls, loads and stores, arithmetic, bulk memory);
it does not descend into any other kind, so a step can miss what lies below
one, never misplace it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Literal", "Site", "bind", "walk"]

_P = ctypes.c_void_p
_TYPE = ctypes.c_size_t  # BinaryenType is a uintptr_t
_INDEX = ctypes.c_uint32
_NAME = ctypes.c_char_p


class Literal(ctypes.Structure):
    """Binaryen's ``struct BinaryenLiteral``: a type, then a 16-byte union."""

    _fields_ = [("type", _TYPE), ("bytes", ctypes.c_uint8 * 16)]


_CHILDREN: dict[str, tuple[str, ...]] = {
    # kind: its single children, in evaluation order (Binaryen{kind}Get{child} / Set{child})
    "If": ("Condition", "IfTrue", "IfFalse"),
    "Loop": ("Body",),
    "Break": ("Value", "Condition"),
    "Switch": ("Value", "Condition"),
    "LocalSet": ("Value",),
    "GlobalSet": ("Value",),
    "Load": ("Ptr",),
    "Store": ("Ptr", "Value"),
    "Unary": ("Value",),
    "Binary": ("Left", "Right"),
    "Select": ("IfTrue", "IfFalse", "Condition"),
    "Drop": ("Value",),
    "Return": ("Value",),
    "MemoryGrow": ("Delta",),
    "MemoryCopy": ("Dest", "Source", "Size"),
    "MemoryFill": ("Dest", "Value", "Size"),
}
_LISTS: dict[str, tuple[str, str]] = {
    "Block": ("Children", "Child"),
    "Call": ("Operands", "Operand"),
    "CallIndirect": ("Operands", "Operand"),
}
"""Kinds with a list of children: Binaryen{kind}GetNum{plural}, Get{item}At, Set{item}At."""

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "BinaryenGetFunction": (_P, [_P, _NAME]),
    "BinaryenFunctionGetBody": (_P, [_P]),
    "BinaryenFunctionGetParams": (_TYPE, [_P]),
    "BinaryenFunctionGetResults": (_TYPE, [_P]),
    "BinaryenFunctionGetNumVars": (_INDEX, [_P]),
    "BinaryenFunctionGetVar": (_TYPE, [_P, _INDEX]),
    "BinaryenRemoveFunction": (None, [_P, _NAME]),
    "BinaryenAddFunction": (_P, [_P, _NAME, _TYPE, _TYPE, ctypes.POINTER(_TYPE), _INDEX, _P]),
    "BinaryenExpressionGetId": (_INDEX, [_P]),
    "BinaryenExpressionCopy": (_P, [_P, _P]),
    "BinaryenCallIndirectGetTarget": (_P, [_P]),
    "BinaryenCallIndirectSetTarget": (None, [_P, _P]),
    "BinaryenCallIndirectGetTable": (_NAME, [_P]),
    "BinaryenCallIndirectGetParams": (_TYPE, [_P]),
    "BinaryenCallIndirectGetResults": (_TYPE, [_P]),
    "BinaryenCallIndirectIsReturn": (ctypes.c_bool, [_P]),
    "BinaryenTypeArity": (_INDEX, [_TYPE]),
    "BinaryenTypeExpand": (None, [_TYPE, ctypes.POINTER(_TYPE)]),
    "BinaryenTypeInt32": (_TYPE, []),
    "BinaryenTypeAuto": (_TYPE, []),
    "BinaryenLocalSet": (_P, [_P, _INDEX, _P]),
    "BinaryenLocalGet": (_P, [_P, _INDEX, _TYPE]),
    "BinaryenLiteralInt32": (Literal, [ctypes.c_int32]),
    "BinaryenConst": (_P, [_P, Literal]),
    "BinaryenConstGetValueI32": (ctypes.c_int32, [_P]),
    "BinaryenEqInt32": (ctypes.c_int32, []),
    "BinaryenBinary": (_P, [_P, ctypes.c_int32, _P, _P]),
    "BinaryenCall": (_P, [_P, _NAME, ctypes.POINTER(_P), _INDEX, _TYPE]),
    "BinaryenCallIndirect": (_P, [_P, _NAME, _P, ctypes.POINTER(_P), _INDEX, _TYPE, _TYPE]),
    "BinaryenIf": (_P, [_P, _P, _P, _P]),
    "BinaryenBlock": (_P, [_P, _NAME, ctypes.POINTER(_P), _INDEX, _TYPE]),
    "BinaryenGetNumElementSegments": (_INDEX, [_P]),
    "BinaryenGetElementSegmentByIndex": (_P, [_P, _INDEX]),
    "BinaryenElementSegmentIsPassive": (ctypes.c_bool, [_P]),
    "BinaryenElementSegmentGetOffset": (_P, [_P]),
    "BinaryenElementSegmentGetLength": (_INDEX, [_P]),
    "BinaryenElementSegmentGetData": (_NAME, [_P, _INDEX]),
    "BinaryenElementSegmentGetTable": (_NAME, [_P]),
    "BinaryenGetNumGlobals": (_INDEX, [_P]),
    "BinaryenGetGlobalByIndex": (_P, [_P, _INDEX]),
    "BinaryenGlobalGetName": (_NAME, [_P]),
    "BinaryenGlobalGetGetName": (_NAME, [_P]),
    "BinaryenGetGlobal": (_P, [_P, _NAME]),
    "BinaryenGlobalIsMutable": (ctypes.c_bool, [_P]),
    "BinaryenGlobalImportGetModule": (_NAME, [_P]),
    "BinaryenGlobalGetInitExpr": (_P, [_P]),
    "BinaryenGetExport": (_P, [_P, _NAME]),
    "BinaryenExportGetKind": (ctypes.c_uint32, [_P]),
    "BinaryenExportGetValue": (_NAME, [_P]),
    "BinaryenExternalFunction": (ctypes.c_uint32, []),
    **{
        f"Binaryen{kind}{verb}{child}": (_P, [_P]) if verb == "Get" else (None, [_P, _P])
        for kind, children in _CHILDREN.items()
        for child in children
        for verb in ("Get", "Set")
    },
    **{
        name: signature
        for kind, (plural, item) in _LISTS.items()
        for name, signature in (
            (f"Binaryen{kind}GetNum{plural}", (_INDEX, [_P])),
            (f"Binaryen{kind}Get{item}At", (_P, [_P, _INDEX])),
            (f"Binaryen{kind}Set{item}At", (None, [_P, _INDEX, _P])),
        )
    },
}

Replace = Callable[[int], None]


@dataclass(frozen=True)
class Site:
    """An expression found by ``walk``."""

    expression: int
    replace: Replace
    """Puts another expression in its place in its parent."""


def bind(lib: Any) -> dict[str, int]:
    """Declare the signatures of the C functions used here on ``lib`` (the
    loaded libbinaryen); returns each expression kind's id, by name."""
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    kinds = (*_CHILDREN, *_LISTS, "Const", "GlobalGet")
    return {kind: int(getattr(lib, f"Binaryen{kind}Id")()) for kind in kinds}


def walk(lib: Any, kinds: dict[str, int], body: int, replace_body: Replace) -> Iterator[Site]:
    """Every expression under ``body`` (itself included), parents before children."""
    by_id = {number: kind for kind, number in kinds.items()}
    stack: list[tuple[int, Replace]] = [(body, replace_body)]
    while stack:
        expression, replace = stack.pop()
        yield Site(expression, replace)
        kind = by_id.get(lib.BinaryenExpressionGetId(expression))
        children: list[tuple[int, Replace]] = []
        if kind in _LISTS:
            plural, item = _LISTS[kind]
            get, put = getattr(lib, f"Binaryen{kind}Get{item}At"), getattr(lib, f"Binaryen{kind}Set{item}At")
            count = getattr(lib, f"Binaryen{kind}GetNum{plural}")(expression)
            children = [(get(expression, at), _setter(put, expression, at)) for at in range(count)]
            if kind == "CallIndirect":
                target = lib.BinaryenCallIndirectGetTarget(expression)
                children.append((target, _setter(lib.BinaryenCallIndirectSetTarget, expression)))
        elif kind in _CHILDREN:
            for child in _CHILDREN[kind]:
                found = getattr(lib, f"Binaryen{kind}Get{child}")(expression)
                put = getattr(lib, f"Binaryen{kind}Set{child}")
                children.append((found, _setter(put, expression)))
        stack.extend((child, put) for child, put in reversed(children) if child)


def _setter(put: Callable[..., None], parent: int, *where: int) -> Replace:
    return lambda new: put(parent, *where, new)
