"""A guest that forges its own reply to the host.

The guest-side runner is guest code like any other: a script can replace the
function that builds its reply (for the current run) or the entry point (for
the rest of a session). Whatever the reply says, the host must turn it into
a clean result: bounded output, bounded error fields, host alive, and the
next normal run correct.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from runtime import ExecutionError, ExecutionResult, GuestCrashed, Limits, SessionBroken

CAP = 10_000
LIMITS = Limits(timeout=5.0, max_output_bytes=CAP)

# Python expressions (evaluated in the guest) for the reply text it sends.
FORGED = {
    "not-json": "'not json'",
    "empty": "''",
    "json-null": "'null'",
    "json-list": "'[1, 2, 3]'",
    "fatal": "json.dumps({'fatal': 'x' * 1_000_000})",
    "missing-fields": "json.dumps({'stdout': 'hi'})",
    "extra-fields": "json.dumps({**OK, 'admin': True})",
    "wrong-types": "json.dumps({**OK, 'stdout': 5, 'error': 'nope'})",
    "bad-value-kind": "json.dumps({**OK, 'value_kind': 'pickle', 'value': 'gASV'})",
    "repr-not-string": "json.dumps({**OK, 'value_kind': 'repr', 'value': [1]})",
    "stdout-over-cap": "json.dumps({**OK, 'stdout': 'a' * 30_000, 'stderr': 'b' * 30_000})",
    "stdout-far-over-cap": "json.dumps({**OK, 'stdout': 'a' * 5_000_000})",
    "value-over-cap": "json.dumps({**OK, 'value_kind': 'json', 'value': ['v' * 1000] * 100})",
    "value-deep-nesting": '\'{"stdout": "", "stderr": "", "error": null, "value_kind": "json", "value": \' '
    "+ '[' * 100_000 + ']' * 100_000 + '}'",
    "value-huge-int": "json.dumps(OK)[:-5] + '9' * 100_000 + '}'",
    "value-nonfinite": "json.dumps({**OK, 'value_kind': 'json', 'value': [float('inf'), float('nan')]})",
    "error-giant-fields": (
        "json.dumps({**OK, 'error': {'type': 'T' * 1_000_000, 'message': 'm' * 1_000_000, "
        "'traceback': 't' * 1_000_000, 'line': 10**4000, 'column': -1}})"
    ),
    "error-large-fields": (
        "json.dumps({**OK, 'error': {'type': 'T' * 100_000, 'message': 'm' * 300_000, "
        "'traceback': 't' * 300_000, 'line': 10**4000, 'column': -1}})"
    ),
    "error-forged-memory": "json.dumps({**OK, 'error': {'type': 'MemoryError', 'message': 'x'}})",
    "error-forged-syntax": "json.dumps({**OK, 'error': {'type': 'SyntaxError', 'message': 'x', 'line': -5}})",
    "invalid-escape": '\'{"stdout": "\\\\ud800", "stderr": "", "error": null, "value_kind": "none", "value": null}\'',
    "duplicate-keys": '\'{"stdout": "a", "stdout": "\' + \'b\' * 50_000 + \'", "stderr": "", "error": null, '
    '"value_kind": "none", "value": null}\'',
}

SETUP = (
    "import json, guest_runner\n"
    "OK = {'stdout': '', 'stderr': '', 'error': None, 'value_kind': 'none', 'value': None}\n"
    "REPLY = {reply}\n"
    "guest_runner._envelope = lambda *args: REPLY\n"
)


def assert_clean(result: ExecutionResult) -> None:
    assert isinstance(result, ExecutionResult)
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= CAP
    error = result.error
    if error is not None:
        assert isinstance(error, ExecutionError)
        assert len(error.message) <= 20_000 and len(error.type) <= 200
        assert error.traceback is None or len(error.traceback) <= 70_000
    if result.value_kind == "repr":
        assert isinstance(result.value, str)
    if result.value is not None:
        assert len(json.dumps(result.value)) <= CAP


@pytest.mark.parametrize("reply", list(FORGED.values()), ids=list(FORGED))
def test_forged_reply_in_a_fresh_run(reply, sandbox, check_healthy):
    result = sandbox.run(SETUP.replace("{reply}", reply), limits=LIMITS)
    assert_clean(result)
    check_healthy(sandbox)


def test_forged_reply_cannot_exceed_the_output_cap(sandbox):
    # The reply claims 30 000 bytes of stdout and 30 000 of stderr: the host keeps the first CAP.
    result = sandbox.run(SETUP.replace("{reply}", FORGED["stdout-over-cap"]), limits=LIMITS)
    assert result.stdout == "a" * CAP
    assert result.stderr == ""
    assert not result.ok


@pytest.mark.parametrize(
    "takeover",
    [
        "import guest_runner\nguest_runner.run = lambda code, options: 'not json'",
        "import guest_main\nguest_main._run = lambda code, options: 'not json'",
        "import guest_main\ndef boom(code, options):\n    raise SystemExit\nguest_main._run = boom",
        "import guest_main\nguest_main._run = lambda code, options: 'x' * 10_000_000",
        "import guest_runner\nguest_runner._envelope = lambda *args: '{\"stdout\": \"' + 'f' * 50_000 + '\"}'",
        "import guest_main\nguest_main.WitWorld.run = lambda self, code, options: None",
    ],
    ids=["replace-runner-run", "replace-entry", "entry-raises", "entry-giant-reply", "envelope", "witworld-method"],
)
def test_session_that_hijacks_its_runner(takeover, sandbox, check_healthy):
    with sandbox.session(limits=LIMITS) as session:
        session.run("kept = 1")
        assert_clean(session.run(takeover))
        for _ in range(3):  # later runs in the hijacked session: still clean, or a refused session
            with contextlib.suppress(SessionBroken):  # the one acceptable refusal
                assert_clean(session.run("kept"))
    check_healthy(sandbox)


def test_forged_non_json_numbers_are_refused(sandbox):
    result = sandbox.run(SETUP.replace("{reply}", FORGED["value-nonfinite"]), limits=LIMITS)
    assert isinstance(result.error, GuestCrashed)
    assert result.value is None
    json.dumps(result.to_dict(), allow_nan=False)  # what the host hands on stays strict JSON


def test_malformed_reply_breaks_the_session(sandbox):
    with sandbox.session(limits=LIMITS) as session:
        session.run("import guest_main\nguest_main._run = lambda code, options: 'not json'")
        crashed = session.run("1")
        assert crashed.error is not None and crashed.error.fatal
        with pytest.raises(SessionBroken):
            session.run("2")
