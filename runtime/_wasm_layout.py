"""What a built component holds, as far as the build's rewrites need to know:
its core modules, the core instances made from them (and with what
arguments), the core globals aliased out of those instances; and for each
core module its imports, its globals' constant initialisers and its exports.

``_constant_globals`` and ``_inlining`` decide what to change from this;
``replace_core_modules`` puts their new modules in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import GuestBuildError
from ._wasm_binary import (
    COMPONENT_PREAMBLE,
    CORE_PREAMBLE,
    END,
    I32_CONST,
    encode_section,
    read_leb,
    read_name,
    read_sleb,
    sections,
    skip_const_expr,
    skip_limits,
    skip_value_type,
)

__all__ = [
    "CORE_MODULE_SECTION",
    "GLOBAL",
    "GLOBAL_SORT",
    "I32",
    "IMPORT",
    "ComponentLayout",
    "CoreModule",
    "Import",
    "InlineExports",
    "Instantiation",
    "code_size",
    "parse_component",
    "parse_core_module",
    "replace_core_modules",
]

CORE_MODULE_SECTION, _CORE_INSTANCE_SECTION, _ALIAS_SECTION = 1, 2, 6
IMPORT, GLOBAL, _EXPORT, _CODE = 2, 6, 7, 10
"""Core module section ids."""
I32 = 0x7F
_FUNC, _TABLE, _MEMORY, _GLOBAL_KIND, _TAG = 0x00, 0x01, 0x02, 0x03, 0x04
_CORE_SORT, GLOBAL_SORT, _MODULE_SORT, _INSTANCE_SORT = 0x00, 0x03, 0x11, 0x12
"""Core sorts, as component sections name them; ``GLOBAL_SORT``: a core global."""


@dataclass(frozen=True, kw_only=True)
class Import:
    """One import of a core module, with where its bytes are."""

    start: int
    end: int
    module: str
    name: str
    is_global: bool
    mutable: bool = False
    value_type: int = 0


@dataclass(kw_only=True)
class CoreModule:
    """One core module of the component."""

    payload: int
    """Offset of its bytes (from the preamble on) in the component."""
    size: int
    imports: list[Import] = field(default_factory=list)
    global_imports: int = 0
    """How many of its globals are imported (they come first in its index space)."""
    constants: dict[int, int] = field(default_factory=dict)
    """Global index -> the value of its initialiser, for i32 globals defined by one ``i32.const``."""
    exported_globals: dict[str, int] = field(default_factory=dict)
    """Export name -> global index."""


@dataclass(frozen=True)
class Instantiation:
    """A core instance made by instantiating a core module."""

    module: int
    args: dict[str, int]
    """Import module name -> core instance index."""


InlineExports = dict[str, tuple[int, int]]
"""A core instance made of exports listed in place: name -> (core sort, index)."""


@dataclass(kw_only=True)
class ComponentLayout:
    """The component's core index spaces (top level only)."""

    modules: list[tuple[int, int] | None] = field(default_factory=list)
    """Each core module's (payload offset, size); None if aliased from elsewhere."""
    instances: list[Instantiation | InlineExports | None] = field(default_factory=list)
    """Each core instance; None if aliased from elsewhere."""
    globals: list[tuple[int, str] | None] = field(default_factory=list)
    """Each core global as (core instance, export name); None if not an alias of a core export."""


def parse_core_module(data: bytes | bytearray, payload: int, size: int) -> CoreModule:
    """The imports, constant globals and global exports of the core module at ``data[payload:payload+size]``."""
    if data[payload : payload + 8] != CORE_PREAMBLE:
        raise GuestBuildError("a core module of the guest component is malformed")
    module = CoreModule(payload=payload, size=size)
    for section, at, _size in sections(data, payload + 8, payload + size):
        if section == IMPORT:
            count, at = read_leb(data, at)
            for _ in range(count):
                imported, at = _read_import(data, at)
                module.imports.append(imported)
                module.global_imports += imported.is_global
        elif section == GLOBAL:
            count, at = read_leb(data, at)
            for index in range(module.global_imports, module.global_imports + count):
                value_type = data[at]
                at = skip_value_type(data, at)  # then its mutability
                end = skip_const_expr(data, at + 1)
                if value_type == I32 and data[at + 1] == I32_CONST:
                    value, after = read_sleb(data, at + 2)
                    if after == end - 1 and data[after] == END:
                        module.constants[index] = value
                at = end
        elif section == _EXPORT:
            count, at = read_leb(data, at)
            for _ in range(count):
                name, at = read_name(data, at)
                kind = data[at]
                index, at = read_leb(data, at + 1)
                if kind == _GLOBAL_KIND:
                    module.exported_globals[name] = index
    return module


def _read_import(data: bytes | bytearray, at: int) -> tuple[Import, int]:
    start = at
    module, at = read_name(data, at)
    name, at = read_name(data, at)
    kind = data[at]
    at += 1
    if kind == _GLOBAL_KIND:
        value_type = data[at]
        at = skip_value_type(data, at)
        mutable = data[at] == 1
        end = at + 1
        return Import(
            start=start, end=end, module=module, name=name, is_global=True, mutable=mutable, value_type=value_type
        ), end
    if kind == _FUNC:
        at = read_leb(data, at)[1]
    elif kind == _TAG:
        at = read_leb(data, at + 1)[1]  # an attribute byte, then the type index
    elif kind == _TABLE:
        at = skip_limits(data, skip_value_type(data, at))
    elif kind == _MEMORY:
        at = skip_limits(data, at)
    else:
        raise GuestBuildError(f"a core module imports an unknown kind of thing ({kind:#x})")
    return Import(start=start, end=at, module=module, name=name, is_global=False), at


def parse_component(data: bytes | bytearray) -> ComponentLayout:
    """The core index spaces of the component in ``data``.

    Raises ``GuestBuildError`` when ``data`` is not a component or uses an
    encoding this reader does not know.
    """
    if not data.startswith(COMPONENT_PREAMBLE):
        raise GuestBuildError("the guest build did not produce a WebAssembly component")
    layout = ComponentLayout()
    for section, at, size in sections(data, len(COMPONENT_PREAMBLE), len(data)):
        if section == CORE_MODULE_SECTION:
            layout.modules.append((at, size))
        elif section == _CORE_INSTANCE_SECTION:
            count, at = read_leb(data, at)
            for _ in range(count):
                instance, at = _read_instance(data, at)
                layout.instances.append(instance)
        elif section == _ALIAS_SECTION:
            count, at = read_leb(data, at)
            for _ in range(count):
                at = _read_alias(data, at, layout)
    return layout


def _read_instance(data: bytes | bytearray, at: int) -> tuple[Instantiation | InlineExports, int]:
    form = data[at]
    if form == 0x00:
        module, at = read_leb(data, at + 1)
        args: dict[str, int] = {}
        count, at = read_leb(data, at)
        for _ in range(count):
            name, at = read_name(data, at)
            if data[at] != _INSTANCE_SORT:
                raise GuestBuildError("a core instantiation argument is not an instance")
            args[name], at = read_leb(data, at + 1)
        return Instantiation(module, args), at
    if form == 0x01:
        exports: InlineExports = {}
        count, at = read_leb(data, at + 1)
        for _ in range(count):
            name, at = read_name(data, at)
            sort = data[at]
            index, at = read_leb(data, at + 1)
            exports[name] = (sort, index)
        return exports, at
    raise GuestBuildError(f"an unknown form of core instance ({form:#x})")


def _read_alias(data: bytes | bytearray, at: int, layout: ComponentLayout) -> int:
    """Read one alias at ``at`` into the core index space it extends; the offset after it."""
    sort = data[at]
    core_sort = data[at + 1] if sort == _CORE_SORT else -1
    at += 2 if sort == _CORE_SORT else 1
    target = data[at]
    source: tuple[int, str] | None = None
    if target in (0x00, 0x01):  # an export of a (component, core) instance
        instance, at = read_leb(data, at + 1)
        name, at = read_name(data, at)
        if target == 0x01:
            source = (instance, name)
    elif target == 0x02:  # outer
        at = read_leb(data, read_leb(data, at + 1)[1])[1]
    else:
        raise GuestBuildError(f"an unknown alias target ({target:#x})")
    if core_sort == GLOBAL_SORT:
        layout.globals.append(source)
    elif core_sort == _INSTANCE_SORT:
        layout.instances.append(None)
    elif core_sort == _MODULE_SORT:
        layout.modules.append(None)
    return at


def replace_core_modules(component: bytes | bytearray, replacements: dict[int, bytes]) -> bytearray:
    """``component`` with the core modules at the given indices (of the core
    module sections, in order) replaced; every other byte as it was."""
    out = bytearray(component[: len(COMPONENT_PREAMBLE)])
    index = 0
    for section, at, size in sections(component, len(COMPONENT_PREAMBLE), len(component)):
        payload = component[at : at + size]
        if section == CORE_MODULE_SECTION:
            payload = replacements.get(index, payload)
            index += 1
        out += encode_section(section, payload)
    return out


def code_size(data: bytes | bytearray, payload: int, size: int) -> int:
    """The size of the code section of the core module at ``data[payload:payload+size]`` (0 if none)."""
    return next((length for section, _at, length in sections(data, payload + 8, payload + size) if section == _CODE), 0)
