"""The guest sees none of the host's environment, arguments or memory.

A canary secret is put in the host's ``os.environ`` before the guest is
instantiated; the scripts hunt for it every way they can. The canary's
value must not appear in any field of any result.
"""

from __future__ import annotations

import sys
import uuid

import pytest

ATTACKS = {
    "os-environ": "import os\ndict(os.environ)",
    "os-environ-print": "import os\nprint(os.environ)\nprint(repr(os.environb))",
    "os-getenv": "import os\nos.getenv('OTC_TEST_CANARY')",
    "os-environ-raise": "import os\nraise RuntimeError(str(dict(os.environ)))",
    "environ-to-stderr": "import os, sys\nprint(os.environ.get('OTC_TEST_CANARY'), file=sys.stderr)",
    "proc-self-environ": "open('/proc/self/environ', 'rb').read()",
    "proc-1-environ": "open('/proc/1/environ', 'rb').read()",
    "sys-argv": "import sys\n[sys.argv, getattr(sys, 'orig_argv', None), sys.executable, sys.flags]",
    "sys-path": "import sys\n[sys.path, sys.prefix, sys.exec_prefix]",
    "posix-environ": "import posix\nposix.environ",
    "sysconfig": "import sysconfig\nsysconfig.get_config_vars()",
    "gc-strings": (
        "import gc\n[o for o in gc.get_objects() if isinstance(o, (str, bytes)) and b'canary' in "
        "(o if isinstance(o, bytes) else o.encode('utf-8', 'replace')).lower()][:50]"
    ),
    "gc-dicts": (
        "import gc\n[{k: v for k, v in o.items() if isinstance(k, str) and 'OTC' in k}"
        " for o in gc.get_objects() if isinstance(o, dict)][:5000]"
    ),
    "secrets-from-module-dicts": (
        "import sys\nfound = []\n"
        "for m in list(sys.modules.values()):\n"
        "    for k, v in list(vars(m).items()):\n"
        "        if 'environ' in k.lower():\n            found.append(repr(v)[:2000])\n"
        "found"
    ),
}

ENV_NAME = "OTC_TEST_CANARY"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"canary-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(ENV_NAME, value)
    return value


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_environment_secret_never_reaches_the_guest(attack, secret, fresh_sandbox, observable, check_healthy):
    result = fresh_sandbox.run(attack)

    assert secret not in observable(result)
    check_healthy(fresh_sandbox)


def test_guest_environment_is_empty(secret, fresh_sandbox):
    # Stronger than "no canary": the guest has no environment at all.
    result = fresh_sandbox.run("import os, sys\n[len(os.environ), os.getenv('OTC_TEST_CANARY'), len(sys.argv)]")
    assert result.error is None
    assert result.value == [0, None, 0]


def test_session_guest_does_not_see_the_secret(secret, sandbox, observable):
    with sandbox.session() as session:
        results = [session.run(code) for code in ATTACKS.values()]
    for result in results:
        assert secret not in observable(result)


def test_host_argv_never_reaches_the_guest(monkeypatch, fresh_sandbox, observable):
    token = f"canary-argv-{uuid.uuid4().hex}"
    monkeypatch.setattr(sys, "argv", [*sys.argv, token])
    result = fresh_sandbox.run(ATTACKS["sys-argv"])
    assert token not in observable(result)


def test_code_of_one_run_never_reaches_the_next(sandbox, observable):
    # A secret given to one run (in its code) is not visible to a later run.
    token = f"canary-run-{uuid.uuid4().hex}"
    first = sandbox.run(f"import builtins\nbuiltins.stash = {token!r}\nstash = {token!r}")
    assert first.error is None
    later = sandbox.run(ATTACKS["gc-strings"])
    assert later.error is None
    again = sandbox.run("import builtins\ngetattr(builtins, 'stash', None)")
    assert token not in observable(later)
    assert again.value is None
