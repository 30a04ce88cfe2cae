"""The guest's own JSON reader (``wasm/guest/guest_json.py``) accepts exactly one value, whitespace around it or not."""

from __future__ import annotations

import pytest

from runtime import Sandbox

CASES = {
    "bare": ('{"ok": true}', {"ok": True}),
    "leading-space": (' \n\t{"ok": 1}', {"ok": 1}),
    "trailing-space": ("[1, 2] \r\n", [1, 2]),
    "both": ("  7  ", 7),
    "two-values": ("1 2", "extra data after the JSON value"),
    "trailing-garbage": ("[1]x", "extra data after the JSON value"),
    "empty": ("", "not a JSON value"),
    "only-space": ("   ", "not a JSON value"),
    "not-json": ("nope", "not a JSON value"),
}


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_loads(sandbox: Sandbox, text: str, expected: object) -> None:
    code = (
        "import guest_json\n"
        "try:\n"
        f"    out = guest_json.loads({text!r})\n"
        "except ValueError as exc:\n"
        "    out = str(exc)\n"
        "out"
    )
    result = sandbox.run(code)
    assert result.ok, result.error
    assert result.value == expected
