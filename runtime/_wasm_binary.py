"""Reading and writing the few parts of the WebAssembly binary format that the
build steps after componentize-py touch (``_immortal``, ``_constant_globals``,
``_inlining``, through ``_wasm_layout``).

Only what those steps need: LEB128 numbers, names, section framing, constant
expressions and value types. Anything else a reader meets raises
``GuestBuildError``, so an unexpected encoding stops the build instead of
producing a broken component.
"""

from __future__ import annotations

from ._errors import GuestBuildError

__all__ = [
    "COMPONENT_PREAMBLE",
    "CORE_PREAMBLE",
    "END",
    "GLOBAL_GET",
    "I32_CONST",
    "encode_section",
    "encode_sleb",
    "encode_uleb",
    "read_leb",
    "read_name",
    "read_sleb",
    "read_sleb32",
    "sections",
    "skip_const_expr",
    "skip_limits",
    "skip_value_type",
]

COMPONENT_PREAMBLE = b"\0asm\x0d\x00\x01\x00"
CORE_PREAMBLE = b"\0asm\x01\x00\x00\x00"
I32_CONST, I64_CONST, F32_CONST, F64_CONST = 0x41, 0x42, 0x43, 0x44
GLOBAL_GET, REF_NULL, REF_FUNC = 0x23, 0xD0, 0xD2
END = 0x0B
_ARITHMETIC = frozenset({0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E})  # i32/i64 add, sub, mul (extended-const)
_SIMD_PREFIX, _V128_CONST = 0xFD, 12
_TYPED_REF = frozenset({0x63, 0x64})  # (ref null ht), (ref ht)


def read_leb(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """An unsigned LEB128 at ``at``: (value, the offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def read_sleb(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """A signed LEB128 at ``at``: (value, the offset after it)."""
    value, end = read_leb(data, at)
    bits = 7 * (end - at)
    if value & (1 << (bits - 1)):
        value -= 1 << bits
    return value, end


def read_sleb32(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """A signed LEB128 read as an i32's bit pattern (an address): (value, the offset after it)."""
    value, end = read_sleb(data, at)
    return value & 0xFFFFFFFF, end


def encode_uleb(value: int) -> bytes:
    """``value`` (>= 0) as an unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_sleb(value: int) -> bytes:
    """``value`` as a signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def encode_section(section: int, payload: bytes | bytearray) -> bytes:
    """A section: its id, its size, then ``payload``."""
    return bytes([section]) + encode_uleb(len(payload)) + bytes(payload)


def read_name(data: bytes | bytearray, at: int) -> tuple[str, int]:
    """A length-prefixed UTF-8 name at ``at``: (name, the offset after it)."""
    size, at = read_leb(data, at)
    return bytes(data[at : at + size]).decode("utf-8"), at + size


def sections(data: bytes | bytearray, start: int, end: int) -> list[tuple[int, int, int]]:
    """(id, payload offset, payload size) of each section in ``data[start:end]``."""
    found = []
    at = start
    while at < end:
        section = data[at]
        size, at = read_leb(data, at + 1)
        found.append((section, at, size))
        at += size
    if at != end:
        raise GuestBuildError("the guest component is malformed: a section runs past its end")
    return found


def skip_value_type(data: bytes | bytearray, at: int) -> int:
    """The offset after the value type at ``at``."""
    if data[at] in _TYPED_REF:
        return read_sleb(data, at + 1)[1]
    return at + 1


def skip_limits(data: bytes | bytearray, at: int) -> int:
    """The offset after the table or memory limits at ``at``."""
    flags = data[at]
    at = read_leb(data, at + 1)[1]
    if flags & 0x01:
        at = read_leb(data, at)[1]
    if flags & 0x08:  # custom page size
        at = read_leb(data, at)[1]
    return at


def skip_const_expr(data: bytes | bytearray, at: int) -> int:
    """The offset after the constant expression (with its ``end``) at ``at``."""
    while True:
        opcode = data[at]
        at += 1
        if opcode == END:
            return at
        if opcode in (I32_CONST, I64_CONST):
            at = read_sleb(data, at)[1]
        elif opcode == F32_CONST:
            at += 4
        elif opcode == F64_CONST:
            at += 8
        elif opcode in (GLOBAL_GET, REF_FUNC):
            at = read_leb(data, at)[1]
        elif opcode == REF_NULL:
            at = read_sleb(data, at)[1]  # a heap type: abstract (one byte) or a type index
        elif opcode in _ARITHMETIC:
            pass
        elif opcode == _SIMD_PREFIX and read_leb(data, at)[0] == _V128_CONST:
            at = read_leb(data, at)[1] + 16
        else:
            raise GuestBuildError(f"a constant expression uses an unsupported instruction (opcode {opcode:#x})")
