"""Secrets: the host's environment and the tokens tools hold.

The host's environment holds canary secrets under ``$ENV_NAMES``; ``fetch``
holds an API token in its closure (and puts it in the message of the
exception it raises on a bad URL); ``whoami`` receives an account with a
token as ``ToolContext.deps``. None of them may appear in anything a run
returns, however the script asks.
"""

from __future__ import annotations

from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("secrets", "secret")

ATTACKS = [
    A("environ-dump", "dump the host's environment", "import os\ndict(os.environ)", returns={}),
    A(
        "getenv-by-name",
        "read each secret variable by its name",
        "import os\n[os.getenv(n) for n in $ENV_NAMES]",
        returns=[None] * 3,
    ),
    A(
        "environb-posix",
        "the bytes environment and posix.environ",
        "import os, posix\n[dict(os.environb), dict(posix.environ)]",
        returns=[{}, {}],
    ),
    A(
        "proc-environ",
        "read /proc/self/environ and /proc/1/environ",
        "[open(p, 'rb').read() for p in ('/proc/self/environ', '/proc/1/environ')]",
    ),
    A(
        "process-facts",
        "argv, executable, config and flags that could carry host values",
        "import sys, sysconfig\n[sys.argv, getattr(sys, 'orig_argv', None), sys.executable, sys._xoptions, "
        "sys.path, repr(sorted(sysconfig.get_config_vars().items()))[:20_000]]",
    ),
    A(
        "gc-string-scan",
        "scan every live object for token-looking strings",
        "import gc\nfound = []\nfor o in gc.get_objects():\n"
        "    items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple, set)) else ()\n"
        "    found += [s for s in items if isinstance(s, str) and ('canary-' in s or 'Bearer ' in s)]\nfound[:200]",
    ),
    A(
        "tool-error-message",
        "make the token-holding tool fail and read everything on its exception",
        "try:\n    fetch('ftp://internal/')\nexcept ToolError as e:\n"
        "    print(str(e), repr(e), e.args, vars(e), e.__cause__, e.__context__)",
    ),
    A(
        "tool-error-uncaught",
        "let the token-holding tool's failure end the run (its traceback)",
        "fetch('ftp://internal/')",
        expect=Expect.FAILS,
    ),
    A(
        "tool-error-gathered",
        "gather failing calls concurrently and dump each exception",
        "import asyncio\n"
        "rs = await asyncio.gather(*[fetch(f'gopher://{i}') for i in range(8)], return_exceptions=True)\n"
        "[[type(r).__name__, str(r), r.args, vars(r)] for r in rs]",
    ),
    A(
        "tool-error-frames",
        "walk the tool error's traceback frames for host locals",
        "out = []\ntry:\n    fetch('file:///etc/passwd')\nexcept ToolError as e:\n    tb = e.__traceback__\n"
        "    while tb is not None:\n        out.append(repr(tb.tb_frame.f_locals))\n        tb = tb.tb_next\nout",
    ),
    A(
        "tool-error-via-raw-reply",
        "read the raw host reply of a failing call, bypassing the guest wrapper",
        "from wit_world.imports import host\nhost.call_tool('fetch', '{\"url\": \"ftp://x\"}')",
    ),
    A(
        "tool-error-in-batch",
        "fail the token-holding tool inside a raw batch and collect the replies",
        "import json\nfrom wit_world.imports import host\n"
        "acks = host.submit_tools(json.dumps(['fetch', '{\"url\": \"ftp://a\"}', 'fetch', '{\"url\": \"ftp://b\"}']))\n"
        "[acks, host.wait_tools(1.0), host.wait_tools(0.2)]",
    ),
    A(
        "tool-stand-in",
        "reach the tool's closure through its guest stand-in",
        "names = ('__closure__', '__wrapped__', '__globals__', 'function', '__dict__', '_spec')\n"
        "[repr(getattr(fetch, a, None)) for a in names]",
    ),
    A(
        "tool-help",
        "read the token-holding tool's documentation and signature",
        "help(fetch)\nhelp(whoami)\nimport inspect\nstr(inspect.signature(fetch))",
    ),
    A(
        "context-as-argument",
        "pass the context parameter explicitly to read or replace deps",
        "whoami(ctx={'user': 'mallory', 'token': 'x'})",
        expect=Expect.FAILS,
    ),
    A(
        "context-raw-keys",
        "send raw arguments naming the context parameter and its fields",
        "from wit_world.imports import host\n"
        "[host.call_tool('whoami', a) for a in ('{\"ctx\": null}', '{\"deps\": {}}', '{\"token\": \"\"}')]",
    ),
    A("context-echo", "ask the context-holding tool repeatedly", "[whoami() for _ in range(3)]", returns=["alice"] * 3),
    A(
        "runner-state",
        "read the runner's options, namespaces and caches for anything the host sent",
        "import guest_compile, guest_runner, guest_tools\n"
        "[repr(guest_runner._options_cache), repr(guest_runner._session_namespace), "
        "repr(guest_compile._compiled)[:5000], repr(guest_tools._pending)]",
    ),
    A(
        "tool-name-introspection",
        "hidden attributes of the tools namespace",
        "[repr(getattr(tools, n, None)) for n in ('_members', '__dict__', '_path', 'fetch', 'admin_write')]",
    ),
    A(
        "ask-the-tool",
        "talk the token-holding tool into echoing its credentials (paths, headers)",
        "[fetch(u) for u in ('https://api.example.com/echo?headers=1', 'https://api.example.com/../token')]",
    ),
]
