"""Interpreter internals: introspection reaches nothing of the host, and
tampering never outlives the run that did it.

``Sandbox.run`` gives each run a fresh interpreter, so a run that breaks
builtins, modules, the runner or the GC leaves nothing behind: proven by a
second run (on the same sandbox) that relies on what the first one broke.
"""

from __future__ import annotations

import uuid

import pytest

from runtime import GuestException

# (tampering run, checking run, value the checking run must produce)
TAMPERING = {
    "builtins-len": ("import builtins\nbuiltins.len = None", "len([1, 2, 3])", 3),
    "builtins-print": ("import builtins\nbuiltins.print = lambda *a, **k: None", "print('seen')\n'done'", "done"),
    "builtins-import": ("import builtins\nbuiltins.__import__ = None", "import json\njson.dumps([1])", "[1]"),
    "builtins-deleted": ("import builtins\ndel builtins.range, builtins.str", "str(sum(range(4)))", "6"),
    "sys-modules-none": ("import sys\nsys.modules['json'] = None", "import json\njson.loads('[2]')", [2]),
    "sys-modules-cleared": ("import sys\nsys.modules.clear()", "import math\nmath.floor(2.5)", 2),
    "module-attribute": (
        "import json\njson.dumps = lambda *a, **k: 'forged'",
        "import json\njson.dumps({'a': 1})",
        '{"a": 1}',
    ),
    "time-sleep": ("import time\ntime.sleep = None", "import time\ntime.sleep(0)\n'slept'", "slept"),
    "recursion-limit": ("import sys\nsys.setrecursionlimit(50)", "def f(n):\n    return n and f(n - 1)\nf(500)", 0),
    "stdout-replaced": ("import sys\nsys.stdout = None\nsys.__stdout__ = None", "print('x', end='')\n1", 1),
    "runner-envelope": ("import guest_runner\nguest_runner._envelope = None", "'runner fine'", "runner fine"),
    "runner-entry": ("import guest_main\nguest_main._run = lambda c, o: 'broken'", "'entry fine'", "entry fine"),
    "host-import-wrapper": (
        "from wit_world.imports import host\nhost.emit = lambda s, t: True",
        "print('via host')\n'ok'",
        "ok",
    ),
    "object-subclass-attr": (
        "import json\nfor c in ().__class__.__base__.__subclasses__():\n    if c.__name__ == 'JSONEncoder':\n"
        "        c.default = lambda self, o: 'forged'",
        "import json\ntry:\n    json.dumps(object())\n    r = 'forged'\nexcept TypeError:\n    r = 'raised'\nr",
        "raised",
    ),
    "gc-disabled": ("import gc\ngc.disable()\ngc.set_threshold(0)", "import gc\ngc.isenabled()", True),
    "codec-registry": (
        "import codecs\ncodecs.register(lambda name: codecs.lookup('rot13') if name == 'utf_8' else None)",
        "'h\\u00e9'.encode('utf-8').hex()",
        "68c3a9",
    ),
}


@pytest.mark.parametrize(("tamper", "check", "expected"), list(TAMPERING.values()), ids=list(TAMPERING))
def test_tampering_does_not_outlive_its_run(tamper, check, expected, sandbox):
    sandbox.run(tamper)
    result = sandbox.run(check)
    assert result.error is None, result.error
    assert result.value == expected


def test_objects_of_one_run_are_gone_in_the_next(sandbox):
    token = f"leak-{uuid.uuid4().hex}"
    sandbox.run(f"import builtins, sys\nbuiltins.stash = {token!r}\nsys.modules['stash'] = type(sys)({token!r})")
    result = sandbox.run(
        "import gc, builtins, sys\n"
        "[hasattr(builtins, 'stash'), 'stash' in sys.modules,\n"
        " [o for o in gc.get_objects() if isinstance(o, str) and o.startswith('leak-') and len(o) > 5]]"
    )
    assert result.error is None
    assert result.value == [False, False, []]
    assert token not in repr(result)


def test_introspection_reaches_no_host_object(sandbox):
    host_secret = f"host-only-{uuid.uuid4().hex}"  # lives only in this (host) process
    # Host-only class names (the guest has classes of its own called Store, Session...).
    names = {
        "RunState",
        "OutputCapture",
        "GuestInstance",
        "InstancePool",
        "GuestRuntime",
        "ExecutionResult",
        "HostTrap",
    }
    result = sandbox.run(
        "import gc, sys\n"
        "def all_subclasses(cls, seen):\n"
        "    for sub in type.__subclasses__(cls):\n"
        "        if sub not in seen:\n"
        "            seen.add(sub)\n"
        "            all_subclasses(sub, seen)\n"
        "    return seen\n"
        "classes = sorted({c.__name__ for c in all_subclasses(object, set())})\n"
        "strings = [o for o in gc.get_objects() if isinstance(o, str) and o.startswith('host-only-') and len(o) > 10]\n"
        "[classes, strings, sorted(sys.modules)]"
    )
    assert result.error is None
    classes, strings, modules = result.value
    assert not names & set(classes)
    assert strings == []
    assert "runtime" not in modules and "wasmtime" not in modules
    assert host_secret not in repr(result)


def test_session_tampering_stays_in_its_session(sandbox):
    with sandbox.session() as first, sandbox.session() as second:
        first.run("import builtins\nbuiltins.sorted = None\nsecret_value = 'only-in-first'")
        assert second.run("sorted('cba')").value == ["a", "b", "c"]
        assert second.run("secret_value").error is not None
        assert first.run("secret_value").value == "only-in-first"  # the first session kept its own state
        assert first.run("sorted is None").value is True
    assert sandbox.run("sorted('dcba')").value == ["a", "b", "c", "d"]


JSON_SABOTAGE = (
    "import json, json.decoder, json.encoder\n"
    "json.dumps = json.loads = json.JSONEncoder = json.JSONDecoder = None\n"
    "json.encoder.c_make_encoder = json.encoder.encode_basestring = json.encoder.encode_basestring_ascii = None\n"
    "json.decoder.scanstring = json.decoder.c_scanstring = json.decoder.WHITESPACE = None\n"
)


@pytest.mark.parametrize(
    ("final", "kind", "value"),
    [
        ("{'nested': [1, 2.5, 'h\u00e9', None, True]}", "json", {"nested": [1, 2.5, "h\u00e9", None, True]}),
        ("{3}", "repr", "{3}"),
    ],
    ids=["json-value", "repr-value"],
)
def test_breaking_json_does_not_break_the_runs_own_reply(final, kind, value, sandbox):
    result = sandbox.run(JSON_SABOTAGE + "print('still here')\n" + final)
    assert result.error is None, result.error
    assert (result.stdout, result.value_kind, result.value) == ("still here\n", kind, value)


def test_breaking_json_keeps_errors_and_later_session_runs_intact(sandbox):
    failed = sandbox.run(JSON_SABOTAGE + "1 / 0")
    assert isinstance(failed.error, GuestException)
    assert (failed.error.type, failed.error.line) == ("ZeroDivisionError", 5)
    with sandbox.session() as session:
        assert session.run(JSON_SABOTAGE).ok
        assert session.run("[json.dumps, {'after': [1]}]").value == [None, {"after": [1]}]
