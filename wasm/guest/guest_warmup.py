"""Warm the interpreter at build time, so the snapshot every instance starts from is warm.

An interpreter's first script pays for a lot of one-time work: the compiler's
and the traceback machinery's first use, json's encoders, asyncio's loop
set-up, caches filled on first lookup. Done here, before componentize-py
snapshots the interpreter, that work is in every instance for free, instead
of being redone per instance (it took ~13 ms of host-driven warm-up each).

No host import may be called at build time, so output goes to a stream that
keeps it instead of handing it to the host, and no script calls a tool.
"""

import gc
import json

import guest_compile
import guest_runner

SCRIPTS = (
    "print(1+1)",
    "x = 1",
    "import json\nprint(json.dumps([1]))\n[1, 2]",
    "x = 1\nfor i in range(100):\n    x += i\nprint(x)\nx",
    "total = 0\nfor i in range(3):\n    total += i\n    print(total)",
    "try:\n    1 / 0\nexcept Exception as e:\n    print(e)\n{'a': [1.5, None], 'b': 'text'}",
    "1 / 0",
    "undefined_name",
    "def f(:\n    pass",
    "'x'.no_such_method()",
    "import asyncio\nasync def step():\n    await asyncio.sleep(0)\nawait asyncio.gather(step(), step())",
    "(1, 2.5, 'é', None, True)",
    "object()",
)


class _KeptStream(guest_runner._HostStream):
    """Keeps what is printed: flushing would call the host, which does not exist yet."""

    def flush(self) -> None:
        pass


def warm() -> None:
    for fresh in (True, False):
        options = json.dumps({"recursion_limit": 1000, "fresh": fresh})
        for code in SCRIPTS:
            reply = json.loads(guest_runner.run(code, options, stream=_KeptStream))
            assert "fatal" not in reply, reply
    # Leave nothing of the warm-up behind but the warmth: no cached scripts, options or names.
    guest_compile._compiled.clear()
    guest_runner._session_namespace.clear()
    guest_runner._streams.clear()
    guest_runner._options_cache[0] = guest_runner._DEFAULT_OPTIONS
    guest_runner._options_seen.clear()
    gc.collect()


_FILLER: list[object] = []
"""Objects that occupy every free gap of the snapshot's heap; never used."""

_FILLER_CHUNK = 16
"""Bytes the guest's malloc (wasi-libc dlmalloc, wasm32) gives an ``object()``."""

_FROM_THE_TOP = 4096
"""Consecutive new objects past every existing one that show malloc is taking new memory."""


def fill_free_memory() -> None:
    """Occupy the heap's free gaps, so a run allocates from one fresh region.

    Imports leave free chunks scattered across the snapshot's heap, and malloc
    fills those before it takes new memory. Each is on a page the instance
    shares copy-on-write with the snapshot, so a run's first allocations
    fault in pages all over the heap (~45 of a trivial run's ~190 copied
    pages). Filled with 16-byte objects (the smallest chunk, so they tile
    any gap), a run allocates from the top of the heap instead: contiguous
    pages, each faulted once.

    Allocation comes from the top once malloc has no free chunk left; that
    is when new objects land past every existing one, one after another.
    """
    gc.unfreeze()
    gc.collect()
    end = 0
    for obj in gc.get_objects():
        end = max(end, id(obj), *map(id, gc.get_referents(obj)))
    filler = _FILLER
    past_end = 0
    last = 0
    while past_end < _FROM_THE_TOP:
        obj = object()
        filler.append(obj)
        at = id(obj)
        past_end = past_end + 1 if at > end and at == last + _FILLER_CHUNK else 0
        last = at
    # The last ones came from the top: give them back.
    del filler[-past_end:]


warm()
fill_free_memory()
gc.freeze()
