"""The guest cannot start processes, native code or threads that act on the host.

Every script tries to create a marker file on the host by some means of
escape (a shell, a subprocess, a fork, native code, a thread). The marker
must not exist afterwards, the host process must have no new child, and the
host must still run the next script correctly.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

# Formatted with MARKER (absolute path of the marker file on the host).
ATTACKS = {
    "os-system": "import os\nos.system('touch {MARKER}')",
    "os-popen": "import os\nos.popen('touch {MARKER}').read()",
    "subprocess-run": "import subprocess\nsubprocess.run(['touch', '{MARKER}'])",
    "subprocess-shell": "import subprocess\nsubprocess.run('touch {MARKER}', shell=True)",
    "subprocess-popen": "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'touch {MARKER}']).wait()",
    "subprocess-check-output": "import subprocess\nsubprocess.check_output(['touch', '{MARKER}'])",
    "os-fork": "import os\nif os.fork() == 0:\n    open('{MARKER}', 'w').close()",
    "os-forkpty": "import os\nos.forkpty()",
    "os-posix-spawn": "import os\nos.posix_spawn('/usr/bin/touch', ['touch', '{MARKER}'], {{}})",
    "os-execv": "import os\nos.execv('/usr/bin/touch', ['touch', '{MARKER}'])",
    "os-spawnv": "import os\nos.spawnv(os.P_WAIT, '/usr/bin/touch', ['touch', '{MARKER}'])",
    "pty-spawn": "import pty\npty.spawn(['touch', '{MARKER}'])",
    "ctypes-libc": "import ctypes\nctypes.CDLL(None).system(b'touch {MARKER}')",
    "ctypes-util": "import ctypes.util\nctypes.CDLL(ctypes.util.find_library('c')).system(b'touch {MARKER}')",
    "multiprocessing": (
        "import multiprocessing\np = multiprocessing.Process(target=open, args=('{MARKER}', 'w'))\np.start()\np.join()"
    ),
    "concurrent-process-pool": (
        "from concurrent.futures import ProcessPoolExecutor\n"
        "ProcessPoolExecutor().submit(open, '{MARKER}', 'w').result()"
    ),
    "threading-thread": (
        "import threading\nt = threading.Thread(target=open, args=('{MARKER}', 'w'))\nt.start()\nt.join()"
    ),
    "thread-start-new": "import _thread\n_thread.start_new_thread(open, ('{MARKER}', 'w'))",
    "thread-pool-executor": (
        "from concurrent.futures import ThreadPoolExecutor\nThreadPoolExecutor().submit(open, '{MARKER}', 'w').result()"
    ),
    "os-kill-host": "import os\nos.kill(1, 9)\nos.kill(os.getppid(), 9)",
    "signal": "import signal, os\nsignal.raise_signal(signal.SIGKILL)",
    "os-abort": "import os\nos.abort()",
    "os-exit": "import os\nos._exit(3)",
    "sys-exit": "import sys\nsys.exit(3)",
    "raise-systemexit-base": "raise SystemExit(0)",
    "raise-keyboardinterrupt": "raise KeyboardInterrupt",
    "swallow-and-retry": (
        "import os, subprocess\nerrors = []\n"
        "for attempt in (lambda: os.system('touch {MARKER}'), lambda: subprocess.run(['touch', '{MARKER}']),\n"
        "                lambda: os.fork()):\n"
        "    try:\n        attempt()\n    except BaseException as e:\n        errors.append(type(e).__name__)\n"
        "errors"
    ),
}


def _children() -> set[int]:
    """Process ids whose parent is this (test) process, from /proc."""
    mine = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == mine:
            found.add(int(entry))
    return found


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_no_process_thread_or_native_escape(attack, tmp_path, sandbox, check_healthy):
    marker = tmp_path / f"marker-{uuid.uuid4().hex}"
    children_before = _children() if os.path.isdir("/proc") else set()

    sandbox.run(attack.format(MARKER=marker))

    assert not marker.exists(), "the script created a file on the host"
    if os.path.isdir("/proc"):
        assert _children() <= children_before, "the script started a process on the host"
    check_healthy(sandbox)  # the host process is alive and not signalled


@pytest.mark.parametrize(
    "code",
    [
        "import threading\nran = []\nt = threading.Thread(target=ran.append, args=(1,))\ntry:\n    t.start()\n"
        "except RuntimeError:\n    pass\nran",
        "import _thread\nran = []\ntry:\n    _thread.start_new_thread(ran.append, (1,))\n"
        "except RuntimeError:\n    pass\nran",
    ],
    ids=["threading", "_thread"],
)
def test_guest_threads_never_run(code, sandbox):
    # Stronger than "no marker": the thread body never ran at all.
    result = sandbox.run(code)
    assert result.error is None
    assert result.value == []


def test_session_survives_exit_attempts(sandbox):
    # sys.exit and SystemExit end only the script, never the host or the session.
    with sandbox.session() as session:
        session.run("keep = 41")
        session.run("import sys\nsys.exit(0)")
        session.run("raise SystemExit(5)")
        assert session.run("keep + 1").value == 42
