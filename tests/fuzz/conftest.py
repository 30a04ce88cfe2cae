"""The fuzzed sandbox: an echo tool (sync and async) and a tool returning what the test hands it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzz_support import LIMITS, Handout, make_tools

from runtime import Sandbox


@pytest.fixture(scope="session")
def handout() -> Handout:
    return Handout()


@pytest.fixture(scope="session")
def fuzz(handout: Handout) -> Iterator[Sandbox]:
    with Sandbox(tools=make_tools(handout), limits=LIMITS, pool_size=2) as sb:
        sb.wait_ready()
        yield sb
