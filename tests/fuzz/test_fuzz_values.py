"""Final values crossing guest -> host: the value itself when it is JSON, else its repr.

``ExecutionResult.value`` promises the value when it is JSON (``value_kind``
"json") and otherwise its repr as a string ("repr"). NaN, infinities and
lone surrogates are not JSON; integers past CPython's 4300-digit str limit
cannot even be printed. Whatever the value, the result itself stays strict JSON.
"""

from __future__ import annotations

from typing import Any

from fuzz_support import (
    FUZZ,
    VALUES,
    assert_clean,
    assert_healthy,
    json_safe,
    parse_repr,
    same_json,
    same_value,
    source,
)
from hypothesis import given
from hypothesis import strategies as st

from runtime import OutputLimitExceeded, Sandbox

MAX_REPR = 64 * 1024
"""The guest cuts a repr value here (and says so)."""


def _check_repr(result_value: Any, value: Any) -> None:
    """The guest's repr stands for ``value`` (or is cut, and says so)."""
    assert isinstance(result_value, str)
    if "... [repr truncated," in result_value:
        assert len(repr(value)) > MAX_REPR // 2  # only a long repr is cut
    else:
        assert same_value(parse_repr(result_value), value)


def test_final_value_is_json_or_its_repr(fuzz: Sandbox) -> None:
    @FUZZ
    @given(value=VALUES)
    def returned(value: Any) -> None:
        result = fuzz.run(source(value))
        assert_clean(result)
        assert result.error is None, result.error
        if value is None:
            assert (result.value_kind, result.value) == ("none", None)
        elif json_safe(value):
            assert result.value_kind == "json" and same_json(result.value, value)
        else:
            assert result.value_kind == "repr"
            _check_repr(result.value, value)

    returned()
    assert_healthy(fuzz)


def test_huge_integers_cross_exactly_or_as_a_marker(fuzz: Sandbox) -> None:
    @FUZZ
    @given(exponent=st.integers(min_value=0, max_value=60_000), sign=st.sampled_from([1, -1]))
    def returned(exponent: int, sign: int) -> None:
        result = fuzz.run(f"{sign} * 2 ** {exponent}")
        assert_clean(result)
        assert result.error is None, result.error
        if exponent < 14_000:  # under 4300 decimal digits
            assert (result.value_kind, result.value) == ("json", sign * 2**exponent)
        elif exponent > 14_300:
            assert (result.value_kind, result.value) == ("repr", "<unrepresentable int: ValueError>")

    returned()
    assert_healthy(fuzz)


def test_deep_and_wide_values_are_json_or_repr_or_over_budget(fuzz: Sandbox) -> None:
    @FUZZ
    @given(depth=st.integers(min_value=0, max_value=600), width=st.integers(min_value=0, max_value=40_000))
    def returned(depth: int, width: int) -> None:
        result = fuzz.run(f"x = list(range({width}))\nfor _ in range({depth}):\n    x = [x]\nx")
        assert_clean(result)
        expected: Any = list(range(width))
        for _ in range(depth):
            expected = [expected]
        if isinstance(result.error, OutputLimitExceeded):
            assert len(repr(expected)) > 100_000  # only a value near the 200 kB budget may hit it
        elif result.value_kind == "json":
            assert result.error is None and result.value == expected
        else:  # too deep for the guest's JSON check: the repr, which holds only ints and brackets
            assert result.error is None and result.value_kind == "repr"
            text = repr(expected)
            assert result.value == text if len(text) <= MAX_REPR else result.value.startswith(text[:MAX_REPR])

    returned()
    assert_healthy(fuzz)
