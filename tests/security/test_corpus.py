"""The hostile-script corpus (``corpus/``), each attack judged by its effect on the host.

Every attack runs in one shared sandbox granted the arena's tools (see
``corpus/_arena.py`` and the ``arena`` fixture in ``conftest.py``), with small
limits, in the canary directory as the host's working directory and with
canary secrets in the host's environment. ``corpus/_judge.py`` decides
containment from the host's side only; the outcomes feed the table
``conftest.py`` prints by family. The positive controls first prove that each
detector does fire.
"""

from __future__ import annotations

import socket
import time

import pytest
from corpus import ATTACKS, FAMILIES, NOTES, OUTCOMES, Attack, Outcome
from corpus import _host as host
from corpus._arena import ENV_NAMES, GRANTED, LIMITS, MAGIC, restore_canary, snapshot
from corpus._judge import Arena, Victim, judge

from runtime import ExecutionResult

RSS_GROWTH_BOUND = 128 << 20
"""Bytes the host's RSS (after ``malloc_trim``) may grow over the whole corpus. Threads and
descriptors are judged after each attack, exactly; RSS only over the corpus: it is noisy, and
glibc keeps a few large blocks per thread arena (the sync-tool pool's threads that handled
multi-megabyte results keep theirs), which is bounded but not returned."""


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
