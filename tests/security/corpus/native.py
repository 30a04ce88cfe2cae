"""Subprocesses, signals, threads, ctypes and native code.

Whatever a script does here, no process may appear on the host, no signal
reach it, no file appear in the canary directory, and the host's threads
and memory must be as before.
"""

from __future__ import annotations

from runtime import GuestCrashed

from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("native", "native")

TOUCH = "$ROOT + '/spawned'"

ATTACKS = [
    A("os-system", "run a shell command", f"import os\nos.system('touch ' + {TOUCH})"),
    A("os-popen", "run a shell command through a pipe", f"import os\nos.popen('touch ' + {TOUCH}).read()"),
    A("subprocess-run", "start a process with subprocess", f"import subprocess\nsubprocess.run(['touch', {TOUCH}])"),
    A(
        "subprocess-shell",
        "start a shell with subprocess",
        f"import subprocess\nsubprocess.Popen('touch ' + {TOUCH}, shell=True).wait()",
    ),
    A(
        "posixsubprocess",
        "fork_exec through the private _posixsubprocess module",
        "import _posixsubprocess\n_posixsubprocess.fork_exec",
    ),
    A("fork", "fork the interpreter", f"import os\nif os.fork() == 0:\n    open({TOUCH}, 'w').close()"),
    A(
        "posix-spawn",
        "os.posix_spawn a binary",
        f"import os\nos.posix_spawn('/usr/bin/touch', ['touch', {TOUCH}], {{}})",
    ),
    A("exec", "replace the process image (os.execv)", f"import os\nos.execv('/usr/bin/touch', ['touch', {TOUCH}])"),
    A("pty", "spawn a pseudo-terminal process", f"import pty\npty.spawn(['touch', {TOUCH}])"),
    A(
        "multiprocessing",
        "start a process with multiprocessing",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    ),
    A("ctypes", "call libc through ctypes", f"import ctypes\nctypes.CDLL(None).system(('touch ' + {TOUCH}).encode())"),
    A("ctypes-private", "the _ctypes extension directly", "import _ctypes\n_ctypes.dlopen('libc.so.6')"),
    A(
        "extension-loader",
        "load a host shared library as an extension module",
        "import importlib.machinery, importlib.util\npath = '/usr/lib/x86_64-linux-gnu/libc.so.6'\n"
        "loader = importlib.machinery.ExtensionFileLoader('libc', path)\n"
        "importlib.util.module_from_spec(importlib.util.spec_from_loader('libc', loader))",
    ),
    A(
        "sqlite-extension",
        "load native code through SQLite's extension loader",
        "import _sqlite3\nc = _sqlite3.connect(':memory:')\n"
        "c.execute(\"select load_extension('/usr/lib/x86_64-linux-gnu/libc.so.6')\")",
    ),
    A(
        "pickle-reduce",
        "a pickle whose __reduce__ runs a shell command when loaded",
        f"import os, pickle\nclass P:\n    def __reduce__(self):\n        return (os.system, ('touch ' + {TOUCH},))\n"
        "pickle.loads(pickle.dumps(P()))",
    ),
    A(
        "thread-start",
        "run code on a new thread, outside the run's control",
        "import threading\nran = []\nt = threading.Thread(target=ran.append, args=(1,))\n"
        "try:\n    t.start()\n    t.join()\nexcept RuntimeError:\n    pass\nran",
        returns=[],
    ),
    A(
        "thread-low-level",
        "_thread.start_new_thread",
        "import _thread\nran = []\ntry:\n    _thread.start_new_thread(ran.append, (1,))\nexcept RuntimeError:\n"
        "    pass\nran",
        returns=[],
    ),
    A(
        "signal-host",
        "signal the host process and its group",
        "import os, signal\nfor pid in (os.getpid(), 0, -1, 1):\n    try:\n        os.kill(pid, signal.SIGTERM)\n"
        "    except (OSError, AttributeError):\n        pass\nsignal.raise_signal(signal.SIGTERM)",
    ),
    A(
        "signal-alarm",
        "schedule a SIGALRM for the host",
        "import signal\nsignal.alarm(1)\nsignal.setitimer(signal.ITIMER_REAL, 0.1)",
    ),
    A("abort", "abort the process", "import os\nos.abort()", expect=GuestCrashed),
    A("exit-process", "exit the process (os._exit)", "import os\nos._exit(3)", expect=Expect.FAILS),
    A("setuid-chroot", "change user, group or root directory", "import os\nos.setuid(0)\nos.setgid(0)\nos.chroot('/')"),
    A(
        "bytecode-out-of-bounds",
        "run hand-made bytecode that reads far outside its frame (arbitrary memory access)",
        "import opcode\ndef f():\n    return 1\n"
        "op = opcode.opmap\ncode = bytes([op['RESUME'], 0, op['LOAD_FAST'], 250, op['RETURN_VALUE'], 0])\n"
        "f.__code__ = f.__code__.replace(co_code=code)\nrepr(f())",
    ),
    A(
        "marshal-garbage",
        "unmarshal corrupted code objects and run them",
        "import marshal, random\nrandom.seed(7)\nblob = bytearray(marshal.dumps(compile('x = [1, 2, 3]\\n"
        "x[1] + 1', 's', 'exec')))\n"
        "for i in range(300):\n    b = bytearray(blob)\n    b[random.randrange(len(b))] = random.randrange(256)\n"
        "    try:\n        exec(marshal.loads(bytes(b)), {})\n    except Exception:\n        pass",
    ),
]
