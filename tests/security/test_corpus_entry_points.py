"""Corpus attacks through the other ways in: ``Sandbox.arun`` and a ``Session``.

``test_corpus.py`` runs every attack through ``Sandbox.run``. ``arun`` differs in
where async tools run (the caller's own event loop) and a session in what
outlives a run (the interpreter, whatever the attack did to it). One or two
attacks per family go through each, judged by their effects on the host exactly
as the corpus is (``corpus._judge``). In a session, the run after the attack must
be refused with ``SessionBroken`` if the attack's run was fatal, and otherwise
be contained too (its value is the attacker's business: it is their interpreter).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from corpus import ATTACKS, FAMILIES, Attack
from corpus._arena import GRANTED
from corpus._judge import Arena, Victim, judge

from host_functions import ToolSet
from runtime import Session, SessionBroken

PICKED = (
    "fs-read-absolute",
    "fs-overwrite",
    "net-tcp-create-connection",
    "net-udp-sendto",
    "secret-environ-dump",
    "secret-tool-error-gathered",
    "native-subprocess-run",
    "native-abort",
    "internals-host-wrapper-swap",
    "internals-event-loop-tamper",
    "exhaust-cpu-busy-loop",
    "exhaust-output-huge-value",
    "block-sleep-long",
    "block-hung-async-tools-gathered",
    "hostfn-ungranted-call",
    "hostfn-call-ids-collect-others",
)
BY_ID = {attack.id: attack for attack in ATTACKS}
AFTER = Attack(id="session-after", family="session", effect="the session's next run", code="[kept, echo('after')]")


def test_the_pick_covers_every_family() -> None:
    assert {BY_ID[name].family for name in PICKED} == set(FAMILIES)


@pytest.mark.parametrize("name", PICKED)
def test_attack_through_arun_is_contained(name: str, arena: Arena) -> None:
    attack = BY_ID[name]
    victim = Victim(arena) if attack.victim else None
    limits = attack.limits or arena.limits
    started = time.monotonic()
    result = asyncio.run(
        arena.sandbox.arun(attack.render(arena.places), limits=limits, only_tools=GRANTED, context=arena.account)
    )
    elapsed = time.monotonic() - started
    problems = victim.problems() if victim is not None else []
    problems += judge(arena, attack, result, elapsed, limits)
    assert not problems, f"{attack.id} ({attack.effect}) through arun: " + "; ".join(problems)


@pytest.mark.parametrize("name", PICKED)
def test_attack_in_a_session_is_contained(name: str, arena: Arena) -> None:
    attack = BY_ID[name]
    limits = attack.limits or arena.limits
    # The corpus runs' grant: admin_write stays withheld.
    granted = ToolSet(tool for tool in arena.sandbox.tools or () if tool.name in GRANTED)
    with Session(tools=granted, limits=limits) as session:
        assert session.run("kept = 41").error is None
        victim = Victim(arena) if attack.victim else None
        started = time.monotonic()
        result = session.run(attack.render(arena.places), context=arena.account)
        elapsed = time.monotonic() - started
        problems = victim.problems() if victim is not None else []
        problems += judge(arena, attack, result, elapsed, limits)
        fatal = result.error is not None and result.error.fatal
        try:
            started = time.monotonic()
            after = session.run(AFTER.code, limits=arena.limits, context=arena.account)
        except SessionBroken:
            if not fatal:
                problems.append("the session broke although the attack's run was not fatal")
        else:
            if fatal:
                problems.append("the session ran on after a fatal run")
            problems += judge(arena, AFTER, after, time.monotonic() - started, arena.limits)
    assert not problems, f"{attack.id} ({attack.effect}) in a session: " + "; ".join(problems)
