"""Judging a run by its effects on the host.

An attack is contained when: the canary directory is exactly as planted
(content, mode, mtime, no new paths); the loopback listeners received
nothing; no canary secret appears in anything the run returned; no child
process appeared; the result is bounded and came back in time; the host's
threads and descriptors settle back to their baseline; the run reported
what the attack expects; and a known-good run right after is correct.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from runtime import ExecutionResult, Limits, Sandbox

from . import _host
from ._arena import GRANTED, Account, Listeners, Secrets, snapshot
from ._attack import NO_VALUE, Attack, Expect

__all__ = ["Arena", "Victim", "guest_visible", "judge"]

MAX_MESSAGE = 20_000
MAX_TRACEBACK = 70_000
SLACK = 4.0
"""Seconds a run may take past its timeout (a loaded 2-core machine)."""


@dataclass
class Arena:
    """The corpus's shared world and the host's baseline."""

    root: Path
    secrets: Secrets
    places: dict[str, object]
    listeners: Listeners
    sandbox: Sandbox
    account: Account
    limits: Limits
    initial: dict[str, tuple[int, int, bytes | None]]
    threads: int
    fds: int
    children: set[int]
    rss_start: int
    rss: list[int] = field(default_factory=list)
    """RSS after each attack, in order."""

    def run(self, code: str, limits: Limits | None = None) -> ExecutionResult:
        return self.sandbox.run(code, limits=limits or self.limits, only_tools=GRANTED, context=self.account)


def guest_visible(result: ExecutionResult) -> str:
    """Everything the run handed back except the call log's host-only ``detail``
    (which keeps unexpected exceptions' messages on purpose)."""
    data = result.to_dict()
    for call in data["tool_calls"]:
        call.pop("detail")
    parts = [result.stdout, result.stderr, repr(result.value), json.dumps(data, default=repr, ensure_ascii=False)]
    if result.error is not None:
        parts += [str(result.error), repr(result.error)]
    return "\n".join(parts)


def _bounded(result: ExecutionResult, limits: Limits) -> list[str]:
    problems = []
    kept = len(result.stdout.encode("utf-8", "replace")) + len(result.stderr.encode("utf-8", "replace"))
    if kept > limits.max_output_bytes:
        problems.append(f"kept {kept} bytes of output, over the cap {limits.max_output_bytes}")
    if result.value is not None and len(json.dumps(result.value, default=repr)) > limits.max_output_bytes:
        problems.append("the value is larger than the output cap")
    error = result.error
    if error is not None and (len(error.message) > MAX_MESSAGE or len(error.traceback or "") > MAX_TRACEBACK):
        problems.append("the error's message or traceback is unbounded")
    return problems


def _expectation(attack: Attack, result: ExecutionResult) -> list[str]:
    expect, error = attack.expect, result.error
    seen = "no error" if error is None else f"{type(error).__name__} ({error.type}: {error.message[:200]})"
    if attack.returns is not NO_VALUE and (error is not None or result.value != attack.returns):
        return [f"expected the value {attack.returns!r}, got {result.value!r} with {seen}"]
    if expect is Expect.FAILS and error is None:
        return ["expected the run to fail, it succeeded"]
    if not isinstance(expect, Expect) and not isinstance(error, expect):
        return [f"expected {expect}, got {seen}"]
    return []


def _healthy(arena: Arena) -> list[str]:
    token = uuid.uuid4().hex
    result = arena.run(f"print('still here')\n[echo({token!r}), whoami(), 6 * 7]")
    if result.error is not None or (result.stdout, result.value) != ("still here\n", [token, "alice", 42]):
        return [f"the next run was wrong: {result.error!r}, {result.stdout!r}, {result.value!r}"]
    return []


def _settled(arena: Arena) -> list[str]:
    problems = []
    now = _host.settle(_host.threads, arena.threads)
    if now > arena.threads:
        problems.append(f"{now - arena.threads} more host threads than before the corpus")
    arena.threads = now  # a lower count (an unrelated pool closed) is the new baseline
    fds = _host.settle(_host.open_fds, arena.fds)
    if fds > arena.fds:
        problems.append(f"{fds - arena.fds} more open descriptors than before the corpus")
    arena.fds = fds
    return problems


def judge(arena: Arena, attack: Attack, result: ExecutionResult, elapsed: float, limits: Limits) -> list[str]:
    """Everything wrong with the host after ``attack``'s run (empty: contained)."""
    problems = []
    if snapshot(arena.root) != arena.initial:
        problems.append("files under the canary directory changed")
    connections, datagrams = arena.listeners.drain()
    if connections or datagrams:
        problems.append(f"the listeners received {connections} connections and {datagrams} datagrams")
    visible = guest_visible(result)
    names = ["env secret"] * len(arena.secrets.env) + ["tool token", "deps token", "file content", "module secret"]
    for name, secret in zip(names, arena.secrets.all(), strict=True):
        if secret in visible or secret.rsplit("-", 1)[1] in visible:
            problems.append(f"the {name} reached the result")
    problems += [f"{text!r} appears in the result" for text in attack.absent if text in visible]
    if _host.children() - arena.children:
        problems.append("a child process appeared")
    problems += _bounded(result, limits)
    if elapsed > limits.timeout + SLACK:
        problems.append(f"the run took {elapsed:.1f} s with a {limits.timeout} s timeout")
    problems += _expectation(attack, result)
    problems += _settled(arena)
    problems += _healthy(arena)
    arena.rss.append(_host.rss_bytes())
    return problems


class Victim:
    """A well-behaved run with interleaved tool calls, next to an attack: its
    results must all be its own, none lost."""

    ROUNDS = 25

    def __init__(self, arena: Arena) -> None:
        self.token = uuid.uuid4().hex
        self.expected = [f"{self.token}-{i}-{kind}" for i in range(self.ROUNDS) for kind in ("s", "a")]
        self.code = (
            "import asyncio\nout = []\n"
            f"for i in range({self.ROUNDS}):\n"
            f"    out += await asyncio.gather(echo(f'{self.token}-{{i}}-s'), echo_async(f'{self.token}-{{i}}-a'))\n"
            "    await asyncio.sleep(0.01)\nout"
        )
        self.limits = replace(arena.limits, timeout=10.0, tool_timeout=5.0)
        self.result: ExecutionResult | None = None
        self._arena = arena
        self._thread = threading.Thread(target=self._run, name="corpus-victim", daemon=True)
        self._thread.start()
        time.sleep(0.02)  # let its first calls go out before the attack starts

    def _run(self) -> None:
        self.result = self._arena.run(self.code, self.limits)

    def problems(self) -> list[str]:
        self._thread.join(30)
        r = self.result
        if r is None:
            return ["the concurrent run did not finish"]
        if r.error is not None or r.value != self.expected:
            return [f"the concurrent run was disturbed: {r.error!r}, {str(r.value)[:300]}"]
        if [c.outcome for c in r.tool_calls] != ["ok"] * len(self.expected):
            return ["the concurrent run's call log is wrong"]
        return []
