"""A pool learns the tool subsets its runs are often granted: later warm-ups parse their options."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from host_functions import ExampleCRM
from runtime import Sandbox
from runtime._driver import granted_tools
from runtime._learned_grants import LEARN_AFTER, MAX_LEARNED, LearnedGrants
from runtime._pool import InstancePool

ALL = ("crm.a", "crm.b", "crm.c", "crm.d", "crm.e", "crm.f")

# A run granted all tools lists the option texts (with tool names) its
# interpreter had parsed before it: the ones of the state restores return to.
PARSED = "import guest_runner\nsorted(k for k in guest_runner._options_seen if 'tool_names' in k)"


def test_a_subset_is_learned_on_its_third_grant_and_only_once() -> None:
    grants = LearnedGrants(ALL)
    assert [grants.note(("crm.a",)) for _ in range(LEARN_AFTER + 2)] == [False] * (LEARN_AFTER - 1) + [
        True,
        False,
        False,
    ]
    assert grants.grants == (("crm.a",),)


@pytest.mark.parametrize("names", [(), ALL, tuple(reversed(ALL))], ids=["none", "all", "all-reordered"])
def test_all_and_none_are_never_learned(names: tuple[str, ...]) -> None:
    grants = LearnedGrants(ALL)
    assert not any(grants.note(names) for _ in range(LEARN_AFTER * 2))
    assert grants.grants == ()


def test_learning_stops_at_the_cap() -> None:
    grants = LearnedGrants(ALL)
    for name in ALL:
        for _ in range(LEARN_AFTER):
            grants.note((name,))
    assert grants.grants == tuple((name,) for name in ALL[:MAX_LEARNED])


@pytest.fixture
def crm_sandbox() -> Iterator[Sandbox]:
    with Sandbox(tools=ExampleCRM(active=3).toolset(namespace="crm"), pool_size=1) as sb:
        assert sb.wait_ready(timeout=120)
        yield sb


def _parsed_after_refresh(sb: Sandbox, wanted: str, driver: str = "run") -> list[str]:
    """What a fresh run finds parsed, once the pool has replaced its stale interpreter (bounded wait)."""
    deadline = time.monotonic() + 60
    while True:
        assert sb.wait_ready(timeout=60)
        parsed = sb.run(PARSED).value if driver == "run" else asyncio.run(sb.arun(PARSED)).value
        assert isinstance(parsed, list)
        if any(wanted in text for text in parsed) or time.monotonic() > deadline:
            return parsed
        time.sleep(0.05)


@pytest.mark.parametrize("driver", ["run", "arun"])
def test_warm_ups_parse_a_subset_granted_often(crm_sandbox: Sandbox, driver: str) -> None:
    first = crm_sandbox.run(PARSED).value
    assert isinstance(first, list) and not any('["crm.get_candidate"]' in text for text in first)
    for _ in range(LEARN_AFTER):
        if driver == "run":
            assert crm_sandbox.run("1", only_tools=["crm.get_candidate"]).ok
        else:
            assert asyncio.run(crm_sandbox.arun("1", only_tools=["crm.get_candidate"])).ok
    parsed = _parsed_after_refresh(crm_sandbox, '["crm.get_candidate"]', driver)
    assert any(text.endswith('"tool_names": ["crm.get_candidate"]}') for text in parsed), parsed
    # A run granted the subset still gets exactly it.
    result = crm_sandbox.run(
        "sorted(k for k in dir(tools.crm) if not k.startswith('_'))", only_tools=["crm.get_candidate"]
    )
    assert result.value == ["get_candidate"]


def test_a_subset_granted_less_often_is_not_learned(crm_sandbox: Sandbox) -> None:
    for _ in range(LEARN_AFTER - 1):
        assert crm_sandbox.run("1", only_tools=["crm.tag_candidate"]).ok
    for _ in range(LEARN_AFTER):  # this one is learned: the pool refreshes its interpreter
        assert crm_sandbox.run("1", only_tools=["crm.get_candidate"]).ok
    parsed = _parsed_after_refresh(crm_sandbox, '["crm.get_candidate"]')
    assert any('["crm.get_candidate"]' in text for text in parsed)
    assert not any('["crm.tag_candidate"]' in text for text in parsed)


@pytest.mark.parametrize(("others_in_flight", "replaced"), [(0, True), (1, False)], ids=["idle", "busy"])
def test_an_interpreter_warmed_before_is_replaced_only_when_no_other_run_is_in_flight(
    others_in_flight: int, replaced: bool
) -> None:
    granted = granted_tools(ExampleCRM(active=3).toolset(namespace="crm"))
    assert granted is not None
    pool = InstancePool(fuel=False, size=2, tools_json=granted.guest_json, tool_names=granted.names)
    try:
        assert pool.wait_ready(timeout=120)
        for _ in range(LEARN_AFTER):
            pool.note_grant(("crm.get_candidate",))
        busy = [pool.acquire() for _ in range(others_in_flight)]
        used = pool.acquire()
        assert used.warmed and used.grants == ()
        pool.release(used, restore_here=True)  # as an arun's worker does
        # Kept: restored, warm, and back in line first. Replaced: handed to the
        # refill thread to be freed, and a new interpreter takes its place.
        following = pool.acquire()
        assert (following is used) != replaced
        for instance in [following, *busy]:
            pool.release(instance)
        deadline = time.monotonic() + 10
        while used.alive and replaced and time.monotonic() < deadline:
            time.sleep(0.01)
        assert used.alive != replaced
    finally:
        pool.close()
