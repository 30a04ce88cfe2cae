"""Shared helpers for the containment tests.

Every test in this directory judges containment by its effect on the host
(files untouched, no connection received, no secret in any result field, the
host process still answering), never by the wording of an error message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from corpus import FAMILIES, NOTES, OUTCOMES, table

from runtime import ExecutionResult, Sandbox


def _observable(result: ExecutionResult) -> str:
    """Everything a caller can see of a result, as one string."""
    parts = [result.stdout, result.stderr, repr(result.value), repr(result)]
    error = result.error
    if error is not None:
        parts += [type(error).__name__, error.type, error.message, error.traceback or "", str(error)]
        parts.append(json.dumps(error.to_dict(), default=repr))
        cause = error.__cause__
        if cause is not None:
            parts.append(str(cause))
    return "\n".join(parts)


@pytest.fixture
def observable() -> Callable[[ExecutionResult], str]:
    """``observable(result)``: every field of a result (and its error) as text."""
    return _observable


@pytest.fixture
def fresh_sandbox() -> Iterator[Sandbox]:
    """A sandbox without a warm pool: each run instantiates its guest on the
    spot, so a test that changes the host (environment, working directory)
    before running is seen by the guest's WASI configuration, if it leaked."""
    with Sandbox(pool_size=0) as sb:
        yield sb


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The corpus table by family, from the outcomes ``test_corpus`` recorded."""
    outcomes = config.stash.get(OUTCOMES, [])
    if not outcomes:
        return
    terminalreporter.section("hostile-script corpus: containment by family")
    for line in [*table(outcomes, FAMILIES), *config.stash.get(NOTES, [])]:
        terminalreporter.write_line(line)
