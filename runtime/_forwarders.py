"""Build step: an export that only forwards its arguments exports its callee.

wasi-libc's ``malloc`` is ``return dlmalloc(size)`` and its ``free`` is
``dlfree(ptr)``: CPython calls them across modules (libc is its own core
module in the component), so every allocation and free enters two wasm
functions, each with wasmtime's prologue (stack and epoch checks), where one
would do. Here each core module's function exports whose body is exactly
``local.get 0 .. local.get n-1; call X`` (no locals; X of the same type)
are re-pointed at X. Calling X directly with the same arguments is what the
forwarder did; only the frame in between is gone.

Only the export section changes; code, names and every index stay as they
were. Modules whose types the step does not read (anything but plain
function types) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._wasm_binary import (
    CORE_PREAMBLE,
    END,
    encode_section,
    encode_uleb,
    read_leb,
    read_name,
    sections,
    skip_limits,
    skip_value_type,
)
from ._wasm_layout import parse_component, replace_core_modules

__all__ = ["ForwardingStats", "forward_exports"]

_TYPE, _IMPORT, _FUNCTION, _EXPORT, _CODE = 1, 2, 3, 7, 10
_FUNC_KIND, _TABLE_KIND, _MEMORY_KIND, _GLOBAL_KIND = 0x00, 0x01, 0x02, 0x03
_FUNC_TYPE = 0x60
_LOCAL_GET, _CALL = 0x20, 0x10
_MAX_CHAIN = 8
"""Forwarders to forwarders are followed this far (a cycle cannot run forever)."""


@dataclass(frozen=True, kw_only=True)
class ForwardingStats:
    """What ``forward_exports`` did."""

    exports: int
    """Function exports re-pointed at the function their forwarder called."""


def forward_exports(component: bytes | bytearray) -> tuple[bytearray, ForwardingStats]:
    """The component with each forwarding function export re-pointed (see the module docstring)."""
    replacements: dict[int, bytes] = {}
    total = 0
    for index, where in enumerate(parse_component(component).modules):
        if where is None:
            continue
        payload, size = where
        module = bytes(component[payload : payload + size])
        rewritten, count = _forward_in_module(module)
        if count:
            replacements[index] = rewritten
            total += count
    return replace_core_modules(component, replacements), ForwardingStats(exports=total)


def _forward_in_module(module: bytes) -> tuple[bytes, int]:
    """``module`` with its forwarding exports re-pointed, and how many; unchanged with 0 if none."""
    if module[:8] != CORE_PREAMBLE:
        return module, 0
    found = {section: (at, size) for section, at, size in sections(module, 8, len(module))}
    if _EXPORT not in found or _CODE not in found:
        return module, 0
    params = _param_counts(module, *found.get(_TYPE, (0, 0)))
    if params is None:
        return module, 0
    types = _function_types(module, found)
    forwards = _forwarders(module, found[_CODE][0], types, params)
    exports, count = _repointed_exports(module, *found[_EXPORT], forwards)
    if not count:
        return module, 0
    out = bytearray(CORE_PREAMBLE)
    for section, at, size in sections(module, 8, len(module)):
        out += encode_section(section, exports if section == _EXPORT else module[at : at + size])
    return bytes(out), count


def _param_counts(module: bytes, at: int, size: int) -> list[int] | None:
    """Each type's parameter count; None if a type is not a plain function type."""
    if not size:
        return []
    count, at = read_leb(module, at)
    counts = []
    for _ in range(count):
        if module[at] != _FUNC_TYPE:
            return None  # a recursion group or subtype (GC proposal): not read here
        params, at = read_leb(module, at + 1)
        for _ in range(params):
            at = skip_value_type(module, at)
        results, at = read_leb(module, at)
        for _ in range(results):
            at = skip_value_type(module, at)
        counts.append(params)
    return counts


def _function_types(module: bytes, found: dict[int, tuple[int, int]]) -> list[int]:
    """The type index of every function, imported ones first (the function index space)."""
    types: list[int] = []
    if _IMPORT in found:
        count, at = read_leb(module, found[_IMPORT][0])
        for _ in range(count):
            _, at = read_name(module, at)
            _, at = read_name(module, at)
            kind, at = module[at], at + 1
            if kind == _FUNC_KIND:
                type_index, at = read_leb(module, at)
                types.append(type_index)
            elif kind == _TABLE_KIND:
                at = skip_limits(module, skip_value_type(module, at))
            elif kind == _MEMORY_KIND:
                at = skip_limits(module, at)
            elif kind == _GLOBAL_KIND:
                at = skip_value_type(module, at) + 1  # then its mutability
            else:  # a tag: its attribute, then its type
                _, at = read_leb(module, at + 1)
    if _FUNCTION in found:
        count, at = read_leb(module, found[_FUNCTION][0])
        for _ in range(count):
            type_index, at = read_leb(module, at)
            types.append(type_index)
    return types


def _forwarders(module: bytes, at: int, types: list[int], params: list[int]) -> dict[int, int]:
    """Function index -> the function it forwards to, for each pure forwarder."""
    count, at = read_leb(module, at)
    imported = len(types) - count
    forwards: dict[int, int] = {}
    for defined in range(count):
        size, at = read_leb(module, at)
        body, at = module[at : at + size], at + size
        index = imported + defined
        if index < len(types):
            target = _forwarded(body, params[types[index]])
            if target is not None and target < len(types) and types[target] == types[index] and target != index:
                forwards[index] = target
    return forwards


def _forwarded(body: bytes, params: int) -> int | None:
    """X if ``body`` is exactly: no locals; local.get 0 .. params-1; call X; end."""
    if not body or body[0] != 0:  # one byte: zero local declarations
        return None
    at = 1
    for expected in range(params):
        if at >= len(body) or body[at] != _LOCAL_GET:
            return None
        local, at = read_leb(body, at + 1)
        if local != expected:
            return None
    if at >= len(body) or body[at] != _CALL:
        return None
    target, at = read_leb(body, at + 1)
    return target if at == len(body) - 1 and body[at] == END else None


def _repointed_exports(module: bytes, at: int, size: int, forwards: dict[int, int]) -> tuple[bytes, int]:
    """The export section's payload with forwarding function exports re-pointed, and how many."""
    count, at = read_leb(module, at)
    out = bytearray(encode_uleb(count))
    changed = 0
    for _ in range(count):
        start = at
        _, at = read_name(module, at)
        kind = module[at]
        index, end = read_leb(module, at + 1)
        target = index
        for _ in range(_MAX_CHAIN):
            if kind != _FUNC_KIND or target not in forwards:
                break
            target = forwards[target]
        out += module[start : at + 1] + encode_uleb(target)
        changed += target != index
        at = end
    return bytes(out), changed
