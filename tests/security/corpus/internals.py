"""Interpreter internals: introspection, tampering, and the guest's own plumbing.

``__subclasses__``, frames, ``gc``, ``sys.modules``, builtins, and the
guest-side runtime (``componentize_py_runtime``, ``wit_world``, the runner,
the tool stand-ins). None of it is trusted by the host: tampering may spoil
the run that does it, never the host or the next run.
"""

from __future__ import annotations

from runtime import GuestCrashed

from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("internals", "internals")

ALL_SUBCLASSES = (
    "def walk(cls, seen):\n    for sub in type.__subclasses__(cls):\n        if sub not in seen:\n"
    "            seen.add(sub)\n            walk(sub, seen)\n    return seen\n"
)

ATTACKS = [
    A(
        "subclasses-host-classes",
        "find host-side classes (the host's run state, sandbox, pool) among all subclasses",
        ALL_SUBCLASSES + "names = {c.__name__ for c in walk(object, set())}\nsorted(names & {"
        "'RunState', 'OutputCapture', 'GuestInstance', 'ToolDispatcher', 'InstancePool', 'Sandbox', 'HostTrap'})",
        returns=[],
    ),
    A(
        "subclasses-classic-escape",
        "the classic ().__class__.__base__.__subclasses__() walk to os.system / Popen / file wrappers",
        ALL_SUBCLASSES + "hits = []\nfor c in walk(object, set()):\n"
        "    g = getattr(getattr(c, '__init__', None), '__globals__', {})\n"
        "    for name in ('system', 'popen', 'Popen', 'open'):\n        f = g.get(name)\n"
        "        if callable(f):\n            try:\n                f('touch ' + $ROOT + '/escaped')\n"
        "            except BaseException as e:\n                hits.append(type(e).__name__)\nlen(hits) > 0",
    ),
    A(
        "frames-upward",
        "walk frames into the runner and read its globals and locals",
        "import sys\nf, chain = sys._getframe(), []\nwhile f is not None:\n"
        "    chain.append([f.f_code.co_filename, sorted(f.f_globals)[:40], sorted(f.f_locals)[:40]])\n"
        "    f = f.f_back\nchain",
    ),
    A(
        "frames-rewrite-runner",
        "rewrite the runner's locals from its frame (its output streams)",
        "import sys, io\nf = sys._getframe(1)\nfor name in ('out', 'err'):\n    if name in f.f_locals:\n"
        "        f.f_locals[name] = io.StringIO()\nprint('x' * 200_000)",
    ),
    A(
        "gc-referrers",
        "follow gc referrers from builtins to anything host-side",
        "import gc, builtins\nkinds = {type(o).__name__ for o in gc.get_referrers(builtins.__dict__)}\nsorted(kinds)",
    ),
    A(
        "gc-mutate-type-dicts",
        "mutate built-in types through gc.get_referents of their mappingproxy",
        "import gc\nd = gc.get_referents(int.__dict__)[0]\nd['__repr__'] = lambda self: 'forged'\n"
        "gc.get_referents(str.__dict__)[0]['__len__'] = lambda self: 0\n[1, 'abc']",
    ),
    A(
        "gc-callbacks-after-run",
        "register gc callbacks, finalizers and atexit hooks that act after the run",
        "import gc, weakref, atexit\ngc.callbacks.append(lambda *a: print('late' * 50_000))\n"
        "class X:\n    pass\nx = X()\nweakref.finalize(x, print, 'finalizer ' * 50_000)\n"
        "atexit.register(print, 'atexit ' * 50_000)\n'armed'",
    ),
    A(
        "builtins-tamper",
        "replace builtins the runner and the next run rely on",
        "import builtins\nbuiltins.print = None\nbuiltins.len = lambda x: 0\nbuiltins.repr = None\n"
        "builtins.__build_class__ = None\nbuiltins.__import__ = None\n'tampered'",
    ),
    A(
        "sys-modules-swap",
        "replace json, asyncio and the guest modules in sys.modules with impostors",
        "import sys, types\nfor name in ('json', 'asyncio', 'guest_tools', 'guest_loop', 'wit_world.imports.host'):\n"
        "    sys.modules[name] = types.ModuleType(name)\n'swapped'",
    ),
    A(
        "host-wrapper-swap",
        "replace the runner's host-import module so output bypasses the host's count",
        "import guest_runner, types\nfake = types.ModuleType('host')\nfake.emit = lambda stream, text: True\n"
        "guest_runner.host = fake\nfor i in range(200):\n    print('y' * 1000)",
    ),
    A(
        "call-import-bad-index",
        "componentize_py_runtime.call_import with an index past the imports",
        "import componentize_py_runtime as c\nc.call_import(10**6, [])",
        expect=GuestCrashed,
    ),
    A(
        "call-import-bad-arity",
        "call_import on the emit import with wrong argument counts and types",
        "import componentize_py_runtime as c\nc.call_import(0, [b'stdout', 5, None, object()])",
        expect=Expect.FAILS,
    ),
    A(
        "call-import-ungranted",
        "call-tool through call_import directly, naming the withheld admin tool",
        "import componentize_py_runtime as c, json\n"
        "json.loads(c.call_import(2, ['admin_write', json.dumps({'text': $MAGIC})]))['error']['kind']",
        returns="unknown",
    ),
    A(
        "drop-forged-resource",
        "drop a resource handle that was never handed out",
        "import componentize_py_runtime as c\nc.drop_resource(0, 12345)",
        expect=GuestCrashed,
    ),
    A(
        "trace-and-profile",
        "install trace and profile hooks that raise inside the runner",
        "import sys\ndef boom(*args):\n    raise RuntimeError('hook')\nsys.settrace(boom)\nsys.setprofile(boom)\n1",
    ),
    A(
        "audit-hook",
        "install an audit hook (cannot be removed) that raises on every event",
        "import sys\ndef hook(event, args):\n    raise RuntimeError(event)\nsys.addaudithook(hook)\n'installed'",
    ),
    A(
        "reload-guest-modules",
        "importlib.reload the runner and the tool stand-ins mid-run",
        "import importlib, guest_runner, guest_tools, guest_loop\nfor m in (guest_tools, guest_loop, guest_runner):\n"
        "    importlib.reload(m)\necho('after reload')",
    ),
    A(
        "replace-runner-code",
        "swap the code object of the runner's entry point",
        "import guest_runner, guest_main\nguest_runner.run.__code__ = (lambda code, options: 'not json').__code__\n"
        "guest_main._run = guest_runner.run\n1",
    ),
    A(
        "forge-reply",
        "forge the runner's reply to hide its error and claim another value",
        'import guest_runner\nguest_runner._envelope = lambda *a: \'{"stdout": "", "stderr": "", '
        '"error": null, "value_kind": "json", "value": "forged"}\'\nraise ValueError(\'hidden\')',
    ),
    A(
        "hostile-exception",
        "an exception whose __str__, __repr__ and traceback attack the runner's error report",
        "class E(Exception):\n    def __str__(self):\n        raise SystemExit\n    def __repr__(self):\n"
        "        raise KeyboardInterrupt\n    @property\n    def __traceback__(self):\n        return 42\nraise E()",
        expect=Expect.FAILS,
    ),
    A(
        "hostile-stdout",
        "replace sys.stdout with a writer that raises BaseExceptions",
        "import sys\nclass W:\n    def write(self, s):\n        raise SystemExit\n    def flush(self):\n"
        "        raise KeyboardInterrupt\nsys.stdout = sys.__stdout__ = W()\nprint('x')",
    ),
    A(
        "recursion-limit-floor",
        "set the recursion limit so low the runner itself cannot work",
        "import sys\nsys.setrecursionlimit(1)\n'low'",
    ),
    A(
        "event-loop-tamper",
        "replace the guest event loop's wait so it spins without waiting",
        "import guest_loop, asyncio\nguest_loop._HostSelector.select = lambda self, timeout=None: []\n"
        "await asyncio.gather(echo_async(1), slow_async(0.1))",
        expect=Expect.FAILS,
    ),
]
