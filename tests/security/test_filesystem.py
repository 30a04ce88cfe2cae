"""The guest can neither read nor change host files.

A canary file and a canary directory are made in ``tmp_path`` (which is also
the host's working directory during the run, so a leaked preopen of ``.``
would expose them). Each script attacks them; afterwards the test checks, on
the host, that nothing changed and that the canary's content is nowhere in
what the run returned.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

# Each script is formatted with CANARY (the file), DIR (the directory), ROOT
# (tmp_path) and REL (the canary's path relative to the guest's cwd, "/",
# spelled with ".." so it climbs out of wherever the guest thinks it is).
ATTACKS = {
    "open-absolute": "print(open({CANARY!r}).read())",
    "open-relative": "print(open('canary.txt').read())",
    "dotdot-climb": "print(open({REL!r}).read())",
    "dotdot-from-cwd": "import os\nos.chdir('..')\nprint(open({CANARY!r}).read())",
    "os-open-read": "import os\nfd = os.open({CANARY!r}, os.O_RDONLY)\nprint(os.read(fd, 1000))",
    "io-open": "import io\nprint(io.open({CANARY!r}, 'rb').read())",
    "pathlib-read": "import pathlib\npathlib.Path({CANARY!r}).read_text()",
    "pathlib-glob": "import pathlib\n[p.read_text() for p in pathlib.Path({ROOT!r}).rglob('*') if p.is_file()]",
    "listdir-root": "import os\nos.listdir('/')",
    "listdir-cwd": "import os\nos.listdir('.')",
    "listdir-canary-dir": "import os\nos.listdir({DIR!r})",
    "walk-root": "import os\n[(d, f) for d, _, f in os.walk('/')]",
    "proc-environ": "print(open('/proc/self/environ', 'rb').read())",
    "proc-cmdline": "print(open('/proc/self/cmdline', 'rb').read())",
    "etc-passwd": "print(open('/etc/passwd').read())",
    "write-absolute": "open({CANARY!r}, 'w').write('pwned')",
    "append": "open({CANARY!r}, 'a').write('pwned')",
    "truncate": "import os\nos.truncate({CANARY!r}, 0)",
    "os-open-create": "import os\nos.write(os.open({ROOT!r} + '/new.txt', os.O_WRONLY | os.O_CREAT), b'x')",
    "pathlib-write-new": "import pathlib\npathlib.Path({ROOT!r}, 'new.txt').write_text('x')",
    "relative-create": "open('new.txt', 'w').write('x')",
    "mkdir": "import os\nos.mkdir({ROOT!r} + '/newdir')",
    "remove": "import os\nos.remove({CANARY!r})",
    "rename": "import os\nos.rename({CANARY!r}, {ROOT!r} + '/moved.txt')",
    "utime": "import os\nos.utime({CANARY!r}, (0, 0))",
    "chmod": "import os\nos.chmod({CANARY!r}, 0o777)",
    "symlink": "import os\nos.symlink('/etc/passwd', {ROOT!r} + '/link')",
    "shutil-copy": "import shutil\nshutil.copy({CANARY!r}, {ROOT!r} + '/copy.txt')",
    "shutil-rmtree": "import shutil\nshutil.rmtree({DIR!r})",
    "shutil-move": "import shutil\nshutil.move({DIR!r}, {ROOT!r} + '/moved')",
    "swallow-errors": (
        "import os\nfound = []\n"
        "for p in ({CANARY!r}, 'canary.txt', {REL!r}, '/proc/self/environ'):\n"
        "    try:\n        found.append(open(p).read())\n"
        "    except BaseException as e:\n        found.append(repr(e))\n"
        "found"
    ),
}


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under ``root`` with its mode, mtime and (for files) content."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, content)
    return state


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    secret = f"canary-file-content-{uuid.uuid4().hex}"
    (tmp_path / "canary.txt").write_text(secret)
    (tmp_path / "canary_dir").mkdir()
    (tmp_path / "canary_dir" / "inner.txt").write_text(secret)
    os.utime(tmp_path / "canary.txt", ns=(1_000_000_000, 1_000_000_000))  # a distinctive mtime
    monkeypatch.chdir(tmp_path)
    canary = str(tmp_path / "canary.txt")
    return {
        "secret": secret,
        "CANARY": canary,
        "DIR": str(tmp_path / "canary_dir"),
        "ROOT": str(tmp_path),
        "REL": "../" * 30 + canary.lstrip("/"),
    }


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_host_files_untouched_and_unread(attack, canary, tmp_path, fresh_sandbox, observable, check_healthy):
    before = _snapshot(tmp_path)
    code = attack.format(**{k: v for k, v in canary.items() if k != "secret"})

    result = fresh_sandbox.run(code)

    assert _snapshot(tmp_path) == before, "the script changed files on the host"
    assert canary["secret"] not in observable(result), "the script read the canary file"
    check_healthy(fresh_sandbox)


def test_warm_pool_guest_sees_no_host_files(canary, sandbox, observable):
    # The shared, pre-warmed sandbox too (its guests were made before chdir).
    result = sandbox.run(ATTACKS["swallow-errors"].format(**{k: v for k, v in canary.items() if k != "secret"}))
    assert canary["secret"] not in observable(result)
    assert isinstance(result.value, list) and len(result.value) == 4  # every attempt failed, none hung


def test_guest_filesystem_writes_do_not_reach_host(canary, tmp_path, fresh_sandbox):
    # Whatever the guest believes it wrote, nothing appears anywhere the host can see.
    name = f"otc-escape-{uuid.uuid4().hex}"
    code = (
        "import os\nresults = []\n"
        "for path in ('/tmp/{NAME}', '{NAME}', {ROOT!r} + '/{NAME}'):\n"
        "    try:\n        open(path, 'w').write('x')\n        results.append('wrote')\n"
        "    except OSError:\n        results.append('denied')\n"
        "results"
    ).format(ROOT=canary["ROOT"], NAME=name)
    before = _snapshot(tmp_path)
    fresh_sandbox.run(code)
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / name).exists()
    assert not (Path("/tmp") / name).exists()
