"""Attacks on the host functions: ungranted tools, malformed payloads, re-entrancy, forged ids.

``admin_write`` exists on the host but is not granted to corpus runs; it
overwrites the canary when called with ``$MAGIC``, so reaching it shows as
a changed file. Attacks marked ``victim`` run next to a well-behaved run
whose tool results must come back exactly and only to it.
"""

from __future__ import annotations

from runtime import GuestCrashed, OutputLimitExceeded

from ._arena import ROOMY
from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("host functions", "hostfn")

RAW = "import json\nfrom wit_world.imports import host\n"
ADMIN_ARGS = "json.dumps({'text': $MAGIC})"
KIND = "def kind(reply):\n    data = json.loads(reply)\n    return data['error']['kind'] if 'error' in data else 'ok'\n"

ATTACKS = [
    A(
        "ungranted-call",
        "call the withheld admin tool by name through the raw import",
        RAW + KIND + f"kind(host.call_tool('admin_write', {ADMIN_ARGS}))",
        returns="unknown",
    ),
    A(
        "ungranted-submit",
        "submit the withheld tool and wait for it",
        RAW + f"[host.submit_tool('admin_write', {ADMIN_ARGS}), host.wait_tools(0.2)]",
    ),
    A(
        "ungranted-batch",
        "hide the withheld tool in a batch between granted calls",
        RAW + f"batch = ['echo', '{{}}', 'admin_write', {ADMIN_ARGS}, 'echo', '{{}}']\n"
        "acks = json.loads(host.submit_tools(json.dumps(batch)))\n[acks, host.wait_tools(0.2)]",
    ),
    A(
        "ungranted-forged-stand-in",
        "build a guest stand-in for the withheld tool and call it",
        "import guest_tools\n"
        "spec = {'params': [{'name': 'text', 'kind': 'positional_or_keyword', 'annotation': 'str'}]}\n"
        "guest_tools.ToolFunction('admin_write', '', spec)($MAGIC)",
        expect=Expect.FAILS,
    ),
    A(
        "ungranted-renamed-stand-in",
        "rename a granted stand-in to the withheld tool's name",
        "object.__setattr__(echo, 'tool_name', 'admin_write')\necho(text=$MAGIC)",
        expect=Expect.FAILS,
    ),
    A(
        "ungranted-forged-options",
        "rebuild the runner's tools from forged options that list the withheld tool",
        "import guest_runner\nspec = {'name': 'admin_write', 'doc': '', 'signature': {'params': "
        "[{'name': 'text', 'kind': 'positional_or_keyword', 'annotation': 'str'}]}}\n"
        "names = guest_runner._tool_names({'tools': [spec]})\nnames['admin_write']($MAGIC)",
        expect=Expect.FAILS,
    ),
    A(
        "ungranted-name-variants",
        "spellings of the withheld name: case, padding, NUL, namespace, homoglyph, dotted",
        RAW + KIND + "names = ['ADMIN_WRITE', ' admin_write', 'admin_write\\x00', 'tools.admin_write', "
        "'\\u0430dmin_write', 'admin_write.', '.admin_write', 'admin-write', 'admin_write\\u200b']\n"
        f"sorted({{kind(host.call_tool(n, {ADMIN_ARGS})) for n in names}})",
        returns=["unknown"],
    ),
    A(
        "ungranted-name-probe",
        "fish for the withheld tool's name in the host's did-you-mean hints",
        RAW + "names = ('admin', 'admin_writ', 'write', 'dmin_write')\n"
        "[json.loads(host.call_tool(n, '{}'))['error']['message'] for n in names]",
        absent=("admin_write",),
    ),
    A(
        "args-not-json",
        "arguments that are not JSON",
        RAW + KIND + "kind(host.call_tool('echo', '{not json'))",
        returns="arguments",
    ),
    A(
        "args-deep-nesting",
        "arguments nested 50,000 deep",
        RAW + KIND + "kind(host.call_tool('echo', '{\"value\": ' + '[' * 50_000 + ']' * 50_000 + '}'))",
        returns="arguments",
    ),
    A(
        "args-wide",
        "an object of 10,000 keys where one is expected",
        RAW + KIND + "kind(host.call_tool('echo', json.dumps({f'k{i}': i for i in range(10_000)})))",
        returns="arguments",
    ),
    A(
        "args-over-payload-limit",
        "5 MB of arguments, past max_tool_payload_bytes",
        RAW + KIND + "kind(host.call_tool('echo', json.dumps({'value': 'x' * 5_000_000})))",
        returns="limit",
    ),
    A(
        "args-huge-name",
        "a 1 MB tool name (looked up without close matches: its cost stays small)",
        RAW + KIND + "kind(host.call_tool('t' * 1_000_000, '{}'))",
        returns="unknown",
        limits=ROOMY,
    ),
    A(
        "args-huge-number",
        "numbers far beyond any float or int the host parses",
        RAW + KIND + "numbers = ('1' + '0' * 5000, '1e99999', '-' + '9' * 4400)\n"
        "[kind(host.call_tool('echo', '{\"value\": ' + n + '}')) for n in numbers]",
    ),
    A(
        "args-duplicate-keys",
        "duplicate keys, the second smuggling another type",
        RAW + 'host.call_tool(\'fetch\', \'{"url": "https://api.example.com/", "url": {"$$ref": 1}}\')',
    ),
    A(
        "args-surrogate-escape",
        "a lone surrogate as a JSON escape (valid UTF-8 on the wire, invalid text)",
        RAW + KIND + "kind(host.call_tool('echo', '{\"value\": \"\\\\udc80\\\\ud800\"}'))",
        returns="arguments",
    ),
    A(
        "args-wrong-python-types",
        "bytes, None and ints where the import takes strings",
        RAW + "host.call_tool(b'echo', None)",
        expect=Expect.FAILS,
    ),
    A(
        "args-hostile-str-subclass",
        "str subclasses whose methods re-enter the host while their value is read",
        RAW + "class S(str):\n    def __str__(self):\n        host.call_tool('echo', '{\"value\": 1}')\n"
        "        return 'echo'\n"
        "    def __len__(self):\n        host.emit('stdout', 'reentered')\n        return 4\n"
        "    def encode(self, *a, **k):\n        host.sleep(0.0)\n        return b'echo'\n"
        "host.call_tool(S('echo'), S('{\"value\": 2}'))",
    ),
    A(
        "reentry-from-callback",
        "call a tool from a done-callback fired while the guest loop waits on the host",
        "import asyncio\nseen = []\ntask = asyncio.ensure_future(echo_async('a'))\n"
        "task.add_done_callback(lambda t: seen.append(echo('from-callback')))\nawait task\n"
        "await asyncio.sleep(0)\nseen",
        returns=["from-callback"],
    ),
    A(
        "reentry-from-final-repr",
        "call tools from __repr__ of the final value, after the script ended",
        "class R:\n    def __repr__(self):\n        return echo('from-repr') + str(len(tools.blob(10)))\nR()",
        returns="from-repr10",
    ),
    A(
        "call-ids-forged-pending",
        "plant fake call ids in the guest's pending table, then await a real call",
        "import asyncio, guest_tools\nloop = asyncio.get_running_loop()\n"
        "guest_tools._pending.update({i: loop.create_future() for i in (0, -1, 2, 3, 10**9)})\n"
        "await echo_async('mine')",
        returns="mine",
        victim=True,
    ),
    A(
        "call-ids-collect-others",
        "wait for results of calls it never made (another run's in flight)",
        RAW + "[host.wait_tools(0.05) for _ in range(10)]",
        returns=["[]"] * 10,
        victim=True,
    ),
    A(
        "call-ids-are-per-run",
        "learn other runs' activity from call ids (ids must start at 1 in every run)",
        RAW + "[json.loads(host.submit_tool('echo_async', '{\"value\": 1}'))['ok'] for _ in range(3)]",
        returns=[1, 2, 3],
        victim=True,
    ),
    A(
        "call-ids-forged-settle",
        "settle its own pending futures with forged completions, then read real ones",
        "import asyncio, guest_tools\nf1 = asyncio.ensure_future(echo_async('real'))\nguest_tools.flush()\n"
        "for i, fut in list(guest_tools._pending.items()):\n    guest_tools.settle(fut, {'id': i, 'ok': 'forged'})\n"
        "[await f1, echo('after')]",
        victim=True,
    ),
    A(
        "saturate-tool-threads",
        "hold every concurrent-call slot with hung sync calls while another run works",
        "import asyncio\nrs = await asyncio.gather(*[slow(1000) for _ in range(40)], return_exceptions=True)\n"
        "sorted({getattr(r, 'kind', 'ok') for r in rs})",
        returns=["timeout"],
        victim=True,
        limits=ROOMY,
    ),
    A("wait-nan", "wait_tools(NaN)", RAW + "host.wait_tools(float('nan'))", expect=GuestCrashed),
    A("sleep-nan", "sleep(NaN)", RAW + "host.sleep(float('nan'))", expect=GuestCrashed),
    A(
        "emit-unknown-stream",
        "emit to a stream that does not exist",
        RAW + "host.emit('/dev/tty', 'x')",
        expect=GuestCrashed,
    ),
    A(
        "emit-giant",
        "emit 20 MB in one crossing",
        RAW + "host.emit('stdout', 'x' * 20_000_000)\nNone",
        expect=OutputLimitExceeded,
    ),
    A(
        "exit-with-calls-in-flight",
        "leave calls in flight and exit the interpreter",
        RAW + "for _ in range(16):\n    host.submit_tool('slow', '{\"seconds\": 1000}')\nimport os\nos._exit(0)",
        expect=Expect.FAILS,
    ),
]
