"""``run(code, context=...)`` reaches tools as ``ToolContext`` and never the guest."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from host_functions import ToolContext, ToolSet, tool
from runtime import ExecutionResult, Sandbox

TOKEN = "tok-" + "91c2e7d4-CONTEXT-SECRET"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    token: str


SEEN: list[tuple[object, str, int]] = []
LOCK = threading.Lock()


@tool
def whoami(ctx: ToolContext[User], greeting: str = "hi") -> str:
    """Greet the user the run is for."""
    with LOCK:
        SEEN.append((ctx.deps, ctx.tool, ctx.call_id))
    return f"{greeting} {ctx.deps.name}" if ctx.deps is not None else f"{greeting} nobody"


@tool
async def whoami_async(ctx: ToolContext[User]) -> int:
    """The user's id, from an async tool."""
    await asyncio.sleep(0.01)
    with LOCK:
        SEEN.append((ctx.deps, ctx.tool, ctx.call_id))
    return ctx.deps.id


@tool
def no_context(x: int) -> int:
    return x


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    tools = ToolSet([whoami, whoami_async, no_context, ToolSet([whoami], namespace="acct")])
    with Sandbox(tools=tools, pool_size=2) as sandbox:
        sandbox.wait_ready()
        yield sandbox


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_context_reaches_every_kind_of_tool(sb: Sandbox) -> None:
    user = User(7, "Ada", TOKEN)
    code = (
        "import asyncio\n"
        "[whoami(), acct.whoami('yo'), await whoami_async(), *await asyncio.gather(whoami(), whoami_async())]"
    )
    r = sb.run(code, context=user)
    assert r.error is None, r.error
    assert r.value == ["hi Ada", "yo Ada", 7, "hi Ada", 7]
    assert all(deps is user for deps, _, _ in SEEN)
    log = {c.id: c.tool for c in r.tool_calls}
    assert sorted((call_id, name) for _, name, call_id in SEEN) == sorted(log.items())
    assert {name for _, name, _ in SEEN} == {"whoami", "acct.whoami", "whoami_async"}


def test_context_defaults_to_none(sb: Sandbox) -> None:
    assert sb.run("whoami()").value == "hi nobody"
    assert SEEN[0][0] is None


def test_context_parameter_is_invisible_to_the_guest(sb: Sandbox) -> None:
    r = sb.run("import inspect\nstr(inspect.signature(whoami)), str(inspect.signature(whoami_async))")
    assert r.value == ["(greeting: str = 'hi') -> str", "() -> int"]
    r = sb.run("whoami(ctx=1)", context=User(1, "x", TOKEN))
    assert r.error is not None and r.error.type == "ToolArgumentError"
    assert SEEN == []


def test_concurrent_runs_each_see_their_own_context(sb: Sandbox) -> None:
    users = [User(i, f"user{i}", TOKEN + str(i)) for i in range(8)]
    results: dict[int, ExecutionResult] = {}

    def one(user: User) -> None:
        results[user.id] = sb.run(
            "import asyncio\nawait asyncio.gather(*[whoami_async() for _ in range(5)])", context=user
        )

    workers = [threading.Thread(target=one, args=(u,)) for u in users]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert {uid: r.value for uid, r in results.items()} == {u.id: [u.id] * 5 for u in users}
    assert len(SEEN) == 40


HEAP_SEARCH = """\
import gc, sys
needle = 'tok-' + '91c2e7d4-CONTEXT-SECRET'  # built at run time: the code holds only halves
whoami()
canary = {'k': needle + '!'}  # proves the search finds a planted copy
found = 0
for o in gc.get_objects() + [sys.modules, vars(sys)]:
    items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()
    for v in list(items):
        if isinstance(v, bytes):
            v = v.decode('utf-8', 'replace')
        if isinstance(v, str) and v is not needle and needle in v:
            found += 1
print('found', found)
"""

PROBES = {
    "globals": "print(globals())",
    "tools-namespace": "print(tools, dir(tools), vars(tools))",
    "tool-reprs": "print(repr(whoami), repr(acct.whoami), str(whoami_async), vars(whoami))",
    "help": "help(whoami); help(whoami_async); help(tools)",
    "after-calls": "print(whoami(), whoami_async(), globals())",
    "tool-error": "try:\n    whoami(greeting=[1])\nexcept TypeError as e:\n    print(repr(e), e.args)",
    "heap-search": HEAP_SEARCH,
}


@pytest.mark.parametrize("probe", list(PROBES), ids=list(PROBES))
def test_context_secret_never_reaches_the_guest(
    sb: Sandbox, observable: Callable[[ExecutionResult], str], probe: str
) -> None:
    user = User(3, "Grace", TOKEN)
    r = sb.run(PROBES[probe], context=user)
    assert TOKEN not in observable(r)
    assert "91c2e7d4" not in observable(r)
    if probe == "heap-search":
        assert r.stdout == "found 1\n"  # the canary only
    else:
        assert r.error is None, r.error
