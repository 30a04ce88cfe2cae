"""LEB128 numbers as the build steps write and read them back."""

from __future__ import annotations

import pytest

from runtime import GuestBuildError
from runtime._wasm_binary import encode_sleb, encode_uleb, read_leb, read_sleb, skip_const_expr

_SIGNED = [0, 1, -1, 63, 64, -64, -65, 127, 128, -128, 2**31 - 1, -(2**31), 3_152_988]


@pytest.mark.parametrize("value", _SIGNED, ids=str)
def test_a_signed_number_reads_back_as_written(value: int) -> None:
    encoded = encode_sleb(value) + b"\xff"
    assert read_sleb(encoded, 0) == (value, len(encoded) - 1)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16_383, 16_384, 2**32 - 1], ids=str)
def test_an_unsigned_number_reads_back_as_written(value: int) -> None:
    encoded = encode_uleb(value)
    assert read_leb(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize(
    ("expr", "length"),
    [
        (b"\x41\x80\x01\x0b", 4),  # i32.const 128
        (b"\x23\x01\x41\x10\x6a\x0b", 6),  # global.get 1; i32.const 16; i32.add
        (b"\x44" + bytes(8) + b"\x0b", 10),  # f64.const 0 (its bytes hold an 0x0b-free zero)
        (b"\x43\x0b\x0b\x0b\x0b\x0b", 6),  # f32.const whose bytes are all `end`
        (b"\xd0\x70\x0b", 3),  # ref.null func
        (b"\xd0\x0b\x0b", 3),  # ref.null of type 11, whose index is an `end` byte
    ],
    ids=["i32", "extended", "f64", "f32-of-end-bytes", "ref-null-abstract", "ref-null-type-index"],
)
def test_a_constant_expression_ends_after_its_own_end(expr: bytes, length: int) -> None:
    assert skip_const_expr(expr + b"\x0b\x0b", 0) == length


def test_an_instruction_a_constant_expression_cannot_hold_fails_the_build() -> None:
    with pytest.raises(GuestBuildError, match="unsupported instruction"):
        skip_const_expr(b"\x10\x00\x0b", 0)  # call 0
