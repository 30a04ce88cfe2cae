"""The raw host imports (``from wit_world.imports import host``) with arbitrary strings.

By contract every argument is hostile input: text that is not UTF-8 (a lone
surrogate) is refused by the component model itself (the guest traps:
``GuestCrashed``); anything else gets a JSON reply or a clean protocol error.
"""

from __future__ import annotations

import json

from fuzz_support import FUZZ, TEXT, assert_clean, assert_healthy, has_surrogates
from hypothesis import given
from hypothesis import strategies as st

from runtime import GuestCrashed, Sandbox

PREFIX = "from wit_world.imports import host\n"
NAMES = st.one_of(TEXT, st.sampled_from(["echo", "echo_async", "give", "tools.echo", "echo "]))
ARGUMENTS = st.one_of(
    TEXT,
    st.sampled_from(['{"value": 1}', "{}", "[]", "null", '{"value": NaN}', '{"value": 1e999}', '{"value": "\\ud800"}']),
)


def test_emit_with_any_stream_and_text(fuzz: Sandbox) -> None:
    @FUZZ
    @given(stream=st.one_of(st.sampled_from(["stdout", "stderr"]), TEXT), text=TEXT)
    def emitted(stream: str, text: str) -> None:
        result = fuzz.run(PREFIX + f"host.emit({stream!r}, {text!r})")
        assert_clean(result)
        if has_surrogates(stream) or has_surrogates(text) or stream not in ("stdout", "stderr"):
            assert isinstance(result.error, GuestCrashed)
        else:
            assert (result.error, result.value, getattr(result, stream)) == (None, True, text)

    emitted()
    assert_healthy(fuzz)


def test_call_tool_with_any_name_and_arguments(fuzz: Sandbox) -> None:
    @FUZZ
    @given(name=NAMES, arguments=ARGUMENTS, submit=st.booleans())
    def called(name: str, arguments: str, submit: bool) -> None:
        # Replies stay JSON text in the guest (a tool may answer NaN, which a Python value would not survive).
        call = "[host.submit_tool(n, a), host.wait_tools(1.0)]" if submit else "[host.call_tool(n, a)]"
        result = fuzz.run(PREFIX + f"n, a = {name!r}, {arguments!r}\n{call}")
        assert_clean(result)
        if has_surrogates(name) or has_surrogates(arguments):
            assert isinstance(result.error, GuestCrashed)
            return
        assert result.error is None, result.error
        reply = json.loads(result.value[0])
        assert list(reply) in (["ok"], ["error"])
        if submit:
            finished = json.loads(result.value[1])
            assert finished == [] if "error" in reply else [item["id"] for item in finished] == [reply["ok"]]
        if name not in ("echo", "echo_async", "give"):
            assert reply["error"]["kind"] == "unknown" and [c.outcome for c in result.tool_calls] == ["rejected"]

    called()
    assert_healthy(fuzz)


def test_submit_tools_with_any_batch(fuzz: Sandbox) -> None:
    texts = st.one_of(NAMES, ARGUMENTS)  # lone surrogates JSON-escaped in a batch included
    batches = st.one_of(
        TEXT,
        st.lists(texts, max_size=10).map(json.dumps),
        st.lists(st.tuples(texts, texts), max_size=10).map(lambda pairs: json.dumps([x for p in pairs for x in p])),
    )

    @FUZZ
    @given(batch=batches)
    def submitted(batch: str) -> None:
        result = fuzz.run(
            PREFIX + f"import json\nacks = json.loads(host.submit_tools({batch!r}))\n[acks, host.wait_tools(0.5)]"
        )
        assert_clean(result)
        try:
            flat = json.loads(batch)
        except ValueError:
            flat = None
        well_formed = isinstance(flat, list) and len(flat) % 2 == 0 and all(isinstance(x, str) for x in flat)
        if has_surrogates(batch) or not well_formed:
            assert isinstance(result.error, GuestCrashed)
        else:
            assert result.error is None, result.error
            assert len(result.value[0]) == len(flat) // 2

    submitted()
    assert_healthy(fuzz)
