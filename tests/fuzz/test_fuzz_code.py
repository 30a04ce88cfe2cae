"""Any text as code: a result (an error or a value), or ``InvalidCode``, never anything else.

``InvalidCode`` is documented for code that is not valid text (lone
surrogates) or too large; everything else reaches the guest and comes back
as a result, whatever it does (short limits stop the rare infinite loop).
"""

from __future__ import annotations

from fuzz_support import FUZZ, TEXT, assert_clean, assert_healthy, has_surrogates
from hypothesis import given
from hypothesis import strategies as st

from runtime import InvalidCode, Limits, Sandbox

QUICK = Limits(timeout=0.5, memory_mb=128, max_output_bytes=50_000)
TOKENS = st.sampled_from([
    "(", ")", "[", "]", "{", "}", ":", "=", "+", "*", "**", "-", "/", "%", ",", ".", ";", "@", "lambda", "def", "class",
    "while", "for", "in", "if", "else", "return", "yield", "await", "async", "import", "from", "raise", "try",
    "except", "finally", "with", "as", "del", "not", "and", "x", "y", "print", "range", "echo", "None", "True",
    "0", "1", "9" * 40, "1e999", "'s'", '"', "'", "#", "\\", "\n", "    ", "\t", "f'{x}'", "...",
])  # fmt: skip
CODE = st.one_of(
    TEXT,
    st.binary(max_size=300).map(lambda data: data.decode("latin-1")),
    st.lists(TOKENS, max_size=60).map(" ".join),
    st.lists(TOKENS, max_size=60).map("".join),
)


def test_any_text_as_code_gives_a_result(fuzz: Sandbox) -> None:
    @FUZZ
    @given(code=CODE)
    def ran(code: str) -> None:
        try:
            result = fuzz.run(code, limits=QUICK)
        except InvalidCode:
            assert has_surrogates(code)  # the only documented refusal for code this small
            return
        assert not has_surrogates(code)
        assert_clean(result, QUICK)

    ran()
    assert_healthy(fuzz)
