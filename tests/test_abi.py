"""The export call's arguments: pointed at their encoded bytes where the layout allows, copied otherwise."""

from __future__ import annotations

import pytest

import runtime._abi as abi
from runtime import Sandbox

SCRIPTS = {
    "ascii": ("print('plain')\n'ok'", "plain\n"),
    "non-ascii": ("s = 'héllo wörld ✓'\nprint(s)\n'ok'", "héllo wörld ✓\n"),
    "large": ("x = " + repr("z" * 200_000) + "\nprint(len(x))\n'ok'", "200000\n"),
}


BYTES = [b"", b"x", "é✓".encode(), bytes(range(256)) * 40]


@pytest.mark.parametrize("data", BYTES, ids=["empty", "one", "utf8", "10k"])
def test_bytes_data_is_found_from_the_object_address(data: bytes) -> None:
    assert abi._BYTES_AT is not None, "this CPython's bytes layout was not recognised: arguments are copied"
    at = id(data) + abi._BYTES_AT
    assert bytes(abi.MEMORY[at : at + len(data)]) == data


@pytest.mark.parametrize("copied", [False, True], ids=["pointed", "copied"])
@pytest.mark.parametrize("script", list(SCRIPTS), ids=list(SCRIPTS))
def test_both_ways_of_passing_arguments_run_the_script(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, copied: bool, script: str
) -> None:
    if copied:
        monkeypatch.setattr(abi, "_BYTES_AT", None)
    code, stdout = SCRIPTS[script]
    for _ in range(3):  # the same argument buffers, reused call after call
        result = sandbox.run(code)
        assert result.error is None, result.error
        assert (result.stdout, result.value) == (stdout, "ok")
