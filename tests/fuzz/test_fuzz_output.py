"""Printed text crossing guest -> host: arbitrary Unicode round-trips, or fails cleanly.

A lone surrogate cannot be encoded as UTF-8: CPython's own text streams raise
``UnicodeEncodeError`` for it, and so does the guest's stream, before anything
reaches the host. Bytes written below the text layer (``os.write``) arrive
decoded with replacement characters.
"""

from __future__ import annotations

import pytest
from fuzz_support import FUZZ, TEXT, assert_clean, assert_healthy, has_surrogates
from hypothesis import given
from hypothesis import strategies as st

from runtime import Sandbox

STREAMS = {"stdout": "", "stderr": ", file=__import__('sys').stderr"}


@pytest.mark.parametrize("stream", list(STREAMS), ids=list(STREAMS))
def test_printed_text_round_trips_or_fails_cleanly(fuzz: Sandbox, stream: str) -> None:
    @FUZZ
    @given(text=TEXT)
    def printed(text: str) -> None:
        result = fuzz.run(f"print({text!r}, end=''{STREAMS[stream]})")
        assert_clean(result)
        if has_surrogates(text):
            assert result.error is not None and result.error.type == "UnicodeEncodeError"
            assert (result.stdout, result.stderr) == ("", "")
        else:
            assert result.error is None, result.error
            assert getattr(result, stream) == text

    printed()
    assert_healthy(fuzz)


def test_many_lines_arrive_whole_and_in_order(fuzz: Sandbox) -> None:
    lines = st.lists(TEXT.filter(lambda text: not has_surrogates(text)), max_size=300)

    @FUZZ
    @given(parts=lines)
    def printed(parts: list[str]) -> None:
        result = fuzz.run(f"for part in {parts!r}:\n    print(part)")
        assert_clean(result)
        assert (result.error, result.stdout) == (None, "".join(part + "\n" for part in parts))

    printed()
    assert_healthy(fuzz)


def test_raw_bytes_on_fd_1_arrive_with_replacement_characters(fuzz: Sandbox) -> None:
    @FUZZ
    @given(data=st.binary(max_size=2000))
    def written(data: bytes) -> None:
        result = fuzz.run(f"import os\nos.write(1, {data!r})")
        assert_clean(result)
        assert result.error is None, result.error
        assert result.value == len(data)
        assert result.stdout == data.decode("utf-8", "replace")

    written()
    assert_healthy(fuzz)
