"""Build step: give Cranelift the guest libraries' link-time constants as constants.

componentize-py links CPython and the libraries around it as position-
independent shared libraries. Each access to a C static goes through an
imported global: ``__memory_base`` (where the library's data lies) or a GOT
entry (the address of a symbol), and each indirect call's target through
``__table_base``. The linker fixed every one of those values when it laid the
component out; they sit as constant initialisers of globals that the
component's main module exports. But wasmtime compiles a ``global.get`` of an
*imported* global as two loads from the instance, in every function, on
every access: the interpreter's loop pays them on nearly every bytecode.

This step rewrites each core module's imports of such globals into defined
immutable globals holding the same constant, and folds the module's own
initialisers built on them (``global.get __memory_base; i32.const k;
i32.add``) into single constants. wasmtime compiles a ``global.get`` of an
immutable global with a constant initialiser as an immediate.

What is replaced: imported globals that resolve, through the component's
core instances and aliases, to a defined global of another core module whose
initialiser is one ``i32.const``, and that cannot change after that: the
import is immutable, or it is a GOT entry (``GOT.mem`` / ``GOT.func``).
By the dynamic-linking convention only the loader writes GOT entries, and
componentize-py ran the loader (the linker's ``__init`` module) before it
took the snapshot; the snapshot's main module holds the results and writes
none of them. Global indices stay as they were: only a trailing run of a
module's global imports is replaced, and the new definitions go first in its
global section, so every ``global.get`` in its code still names the same value.

The result is checked by wasmtime's validator when it is compiled; the whole
test suite runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import GuestBuildError
from ._wasm_binary import (
    CORE_PREAMBLE,
    END,
    GLOBAL_GET,
    I32_CONST,
    encode_section,
    encode_sleb,
    encode_uleb,
    read_leb,
    read_sleb,
    sections,
    skip_const_expr,
    skip_value_type,
)
from ._wasm_layout import (
    GLOBAL,
    GLOBAL_SORT,
    I32,
    IMPORT,
    ComponentLayout,
    CoreModule,
    Import,
    Instantiation,
    parse_component,
    parse_core_module,
    replace_core_modules,
)

__all__ = ["ConstantStats", "inline_constant_globals"]

_AFTER_GLOBALS = frozenset({7, 8, 9, 10, 11, 12})
"""Core sections that come after the global section: export, start, elem, code, data, datacount."""
_I32_ADD = 0x6A
_GOT = frozenset({"GOT.mem", "GOT.func"})


@dataclass(frozen=True, kw_only=True)
class ConstantStats:
    """What ``inline_constant_globals`` did."""

    modules: int
    """Core modules rewritten."""
    imports: int
    """Imported globals replaced by constants."""
    folded: int
    """Defined globals whose initialiser became a single constant."""


def inline_constant_globals(component: bytes | bytearray) -> tuple[bytearray, ConstantStats]:
    """The component with its modules' constant imported globals made constants (see the module docstring).

    Raises ``GuestBuildError`` when the component is malformed or uses an
    encoding this step does not know.
    """
    try:
        return _inline(component)
    except (IndexError, UnicodeDecodeError) as exc:  # a length or name that runs off the end
        raise GuestBuildError(f"the guest component is malformed: {exc}") from exc


def _inline(component: bytes | bytearray) -> tuple[bytearray, ConstantStats]:
    layout = parse_component(component)
    uses: dict[int, int] = {}
    for instance in layout.instances:
        if isinstance(instance, Instantiation):
            uses[instance.module] = uses.get(instance.module, 0) + 1
    parsed: dict[int, CoreModule] = {}
    for index in uses:
        where = layout.modules[index] if index < len(layout.modules) else None
        if where is not None:
            parsed[index] = parse_core_module(component, *where)
    rewritten: dict[int, bytes] = {}
    imports = folded = 0
    for instance in layout.instances:
        if not isinstance(instance, Instantiation) or uses[instance.module] != 1 or instance.module not in parsed:
            continue  # a module instantiated twice may be linked to different values
        module = parsed[instance.module]
        values = _constant_tail(module, instance, layout, parsed)
        if values:
            rewritten[instance.module], done = _rewrite(component, module, values)
            imports += len(values)
            folded += done
    return replace_core_modules(component, rewritten), ConstantStats(
        modules=len(rewritten), imports=imports, folded=folded
    )


def _constant_tail(
    module: CoreModule, instance: Instantiation, layout: ComponentLayout, parsed: dict[int, CoreModule]
) -> dict[int, int]:
    """Global index -> constant, for the longest trailing run of the module's
    global imports that all hold constants (a run that ends the imports keeps
    every other global's index)."""
    global_imports = [i for i in module.imports if i.is_global]
    values: dict[int, int] = {}
    for index in range(len(global_imports) - 1, -1, -1):
        value = _resolve(global_imports[index], instance, layout, parsed)
        if value is None:
            break
        values[index] = value
    return values


def _resolve(
    imported: Import, instance: Instantiation, layout: ComponentLayout, parsed: dict[int, CoreModule]
) -> int | None:
    """The constant an imported global always holds, or None if it is not one."""
    if imported.value_type != I32 or (imported.mutable and imported.module not in _GOT):
        return None
    provider = layout.instances[instance.args[imported.module]] if imported.module in instance.args else None
    if not isinstance(provider, dict):
        return None
    sort, index = provider.get(imported.name, (-1, -1))
    source = layout.globals[index] if sort == GLOBAL_SORT and 0 <= index < len(layout.globals) else None
    if source is None:
        return None
    origin = layout.instances[source[0]]
    if not isinstance(origin, Instantiation) or origin.module not in parsed:
        return None
    exporter = parsed[origin.module]
    return exporter.constants.get(exporter.exported_globals.get(source[1], -1))


def _rewrite(data: bytes | bytearray, module: CoreModule, values: dict[int, int]) -> tuple[bytes, int]:
    """The module with the global imports in ``values`` (a trailing run) defined
    as constants, and how many of its own initialisers folded."""
    first = module.global_imports - len(values)
    imports = bytearray()
    kept = globals_seen = 0
    for imported in module.imports:
        if imported.is_global:
            globals_seen += 1
            if globals_seen > first:
                continue
        imports += data[imported.start : imported.end]
        kept += 1
    definitions = bytearray()
    for index in range(first, module.global_imports):
        definitions += bytes([I32, 0x00]) + _i32_const(values[index])
    out = bytearray(CORE_PREAMBLE)
    folded = 0
    wrote_globals = False
    for section, at, size in sections(data, module.payload + 8, module.payload + module.size):
        payload: bytes | bytearray = data[at : at + size]
        if section == IMPORT:
            payload = encode_uleb(kept) + imports
        elif section == GLOBAL:
            count, at = read_leb(data, at)
            body = bytearray(definitions)
            for _ in range(count):
                start = at
                at = skip_value_type(data, at) + 1  # the type and its mutability
                end = skip_const_expr(data, at)
                value = _fold(data, at, end, values)
                body += data[start:end] if value is None else data[start:at] + _i32_const(value)
                folded += value is not None
                at = end
            payload = encode_uleb(count + len(values)) + body
            wrote_globals = True
        elif section in _AFTER_GLOBALS and not wrote_globals:
            out += encode_section(GLOBAL, encode_uleb(len(values)) + definitions)
            wrote_globals = True
        out += encode_section(section, payload)
    return bytes(out), folded


def _fold(data: bytes | bytearray, at: int, end: int, values: dict[int, int]) -> int | None:
    """The constant an initialiser ``global.get g [i32.const k i32.add]`` comes to, if g's value is known."""
    if data[at] != GLOBAL_GET:
        return None
    index, at = read_leb(data, at + 1)
    if index not in values:
        return None
    if at == end - 1:
        return values[index]
    if data[at] != I32_CONST:
        return None
    offset, at = read_sleb(data, at + 1)
    if data[at] != _I32_ADD or at + 2 != end:
        return None
    return values[index] + offset


def _i32_const(value: int) -> bytes:
    """``i32.const value; end``, with ``value`` wrapped to an i32 as wasm arithmetic would."""
    value &= 0xFFFFFFFF
    return bytes([I32_CONST]) + encode_sleb(value - (1 << 32) if value & 0x80000000 else value) + bytes([END])
