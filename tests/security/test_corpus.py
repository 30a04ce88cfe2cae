"""The hostile-script corpus (``corpus/``), each attack judged by its effect on the host.

Every attack runs in one shared sandbox granted the arena's tools (see
``corpus/_arena.py``), with small limits, in the canary directory as the
host's working directory and with canary secrets in the host's environment.
``corpus/_judge.py`` decides containment from the host's side only; the
outcomes feed the table ``conftest.py`` prints by family. The positive
controls first prove that each detector does fire.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from corpus import ATTACKS, FAMILIES, NOTES, OUTCOMES, Attack, Outcome
from corpus import _host as host
from corpus._arena import (
    ENV_NAMES,
    GRANTED,
    LIMITS,
    MAGIC,
    Account,
    Listeners,
    Secrets,
    make_tools,
    plant_canaries,
    restore_canary,
    snapshot,
)
from corpus._judge import Arena, Victim, judge

from runtime import ExecutionResult, Sandbox
from runtime._tool_loop import SYNC_TOOL_THREADS

WAKE_WASI_SOCKETS = (
    "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nexcept OSError:\n    pass"
)
RSS_GROWTH_BOUND = 128 << 20
"""Bytes the host's RSS (after ``malloc_trim``) may grow over the whole corpus. Threads and
descriptors are judged after each attack, exactly; RSS only over the corpus: it is noisy, and
glibc keeps a few large blocks per thread arena (the sync-tool pool's threads that handled
multi-megabyte results keep theirs), which is bounded but not returned."""


def _fill_tool_threads(sandbox: Sandbox) -> None:
    """Start every thread of the process-wide sync-tool pool before the baseline is
    taken: the pool grows on demand, which is not a leak."""
    limits = replace(LIMITS, timeout=20.0, tool_timeout=10.0, max_concurrent_tool_calls=SYNC_TOOL_THREADS)
    code = f"import asyncio\nlen(await asyncio.gather(*[slow(0.5) for _ in range({SYNC_TOOL_THREADS})]))"
    result = sandbox.run(code, limits=limits, only_tools=GRANTED)
    assert (result.error, result.value) == (None, SYNC_TOOL_THREADS)


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    root = tmp_path_factory.mktemp("corpus")
    secrets = Secrets()
    listeners = Listeners()
    with contextlib.closing(listeners), pytest.MonkeyPatch.context() as patch:
        for name, value in zip(ENV_NAMES, secrets.env, strict=True):
            patch.setenv(name, value)
        patch.chdir(root)  # a leaked preopen of "." would be the canary's directory
        places = plant_canaries(root, secrets) | {"TCP": listeners.tcp_port, "UDP": listeners.udp_port}
        with Sandbox(tools=make_tools(root / "canary.txt", secrets), limits=LIMITS, pool_size=2) as sandbox:
            sandbox.wait_ready()
            _fill_tool_threads(sandbox)
            # wasmtime-wasi starts its process-wide tokio runtime (a worker per core, epoll and
            # eventfd descriptors) the first time any guest touches a socket: once per process,
            # not per run, so it is started before the baseline.
            sockets = sandbox.run(WAKE_WASI_SOCKETS, only_tools=GRANTED)
            assert sockets.error is None, sockets.error
            account = Account(user="alice", token=secrets.deps_token)
            warm = sandbox.run("[echo(1), whoami()]", only_tools=GRANTED, context=account)
            assert (warm.error, warm.value) == (None, [1, "alice"])
            gc.collect()
            yield Arena(
                root=root,
                secrets=secrets,
                places=places,
                listeners=listeners,
                sandbox=sandbox,
                account=account,
                limits=LIMITS,
                initial=snapshot(root),
                threads=host.threads(),
                fds=host.open_fds(),
                children=host.children(),
                rss_start=host.live_rss_bytes(),
            )


def test_corpus_shape() -> None:
    ids = [attack.id for attack in ATTACKS]
    assert len(ids) == len(set(ids)) >= 150
    for family in FAMILIES:
        members = [a for a in ATTACKS if a.family == family]
        assert len(members) >= 10, family
        assert len({a.code for a in members}) == len(members), f"{family}: two attacks share a script"
    assert all(attack.effect for attack in ATTACKS)


def test_control_the_withheld_tool_would_show(arena: Arena) -> None:
    # Granted on purpose, admin_write does change the canary: the file check can fail.
    result = arena.sandbox.run(f"admin_write({MAGIC!r})", only_tools=[*GRANTED, "admin_write"], context=arena.account)
    try:
        assert (result.error, result.value) == (None, "written")
        assert snapshot(arena.root) != arena.initial
    finally:
        restore_canary(arena.root, arena.secrets)
    assert snapshot(arena.root) == arena.initial


def test_control_the_listeners_count(arena: Arena) -> None:
    socket.create_connection(("127.0.0.1", arena.listeners.tcp_port), timeout=2).close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"x", ("127.0.0.1", arena.listeners.udp_port))
    assert arena.listeners.drain() == (1, 1)
    assert arena.listeners.drain() == (0, 0)


@pytest.mark.parametrize("secret", range(7), ids=[*ENV_NAMES, "tool-token", "deps-token", "file", "module"])
def test_control_a_leaked_secret_is_seen(arena: Arena, secret: int) -> None:
    leaked = arena.secrets.all()[secret]
    attack = Attack(id="control", family="control", effect="print a secret", code="1")
    problems = judge(arena, attack, ExecutionResult(stderr=f"... {leaked} ..."), 0.0, LIMITS)
    arena.rss.pop()  # a control, not an attack
    assert any("reached the result" in problem for problem in problems)


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.id for attack in ATTACKS])
def test_attack_is_contained(attack: Attack, arena: Arena, request: pytest.FixtureRequest) -> None:
    seen, problems = "raised", ["the run raised"]
    try:
        victim = Victim(arena) if attack.victim else None
        limits = attack.limits or LIMITS
        started = time.monotonic()
        result = arena.run(attack.render(arena.places), limits)
        elapsed = time.monotonic() - started
        seen = "ok" if result.error is None else type(result.error).__name__
        problems = victim.problems() if victim is not None else []
        problems += judge(arena, attack, result, elapsed, limits)
    finally:
        outcomes = request.config.stash.setdefault(OUTCOMES, [])
        outcomes.append(Outcome(attack.family, attack.id, not problems, seen))
    assert not problems, f"{attack.id} ({attack.effect}): " + "; ".join(problems)


def test_corpus_left_host_memory_bounded(arena: Arena, request: pytest.FixtureRequest) -> None:
    if len(arena.rss) < len(ATTACKS):
        pytest.skip("only part of the corpus ran (a selection)")
    end = host.live_rss_bytes()
    growth = end - arena.rss_start
    request.config.stash.setdefault(NOTES, []).append(
        f"host over the corpus: RSS {arena.rss_start / 2**20:.0f} -> {end / 2**20:.0f} MiB after malloc_trim "
        f"(untrimmed peak after an attack {max(arena.rss) / 2**20:.0f} MiB; bound +{RSS_GROWTH_BOUND >> 20} MiB); "
        f"threads and descriptors back to the baseline after every attack ({arena.threads} and {arena.fds})"
    )
    assert growth <= RSS_GROWTH_BOUND, f"RSS grew {growth >> 20} MiB over {len(ATTACKS)} attacks"
