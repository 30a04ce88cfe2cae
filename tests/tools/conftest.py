"""Shared fixtures for the tool tests.

The costly objects (sandboxes, each with a warm pool) are made once per test
session. Every test judges tools by their effect on the host (what the CRM
recorded, what the call log says, what the guest could see), and by
structured fields of results, not by the wording of messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from host_functions import ExampleCRM, ToolSet
from runtime import ExecutionResult, Sandbox


def _observable(result: ExecutionResult) -> str:
    """Everything a caller (or the guest) could see of a result, as one string."""
    parts = [result.stdout, result.stderr, repr(result.value)]
    error = result.error
    if error is not None:
        parts += [error.type, error.message, error.traceback or "", json.dumps(error.to_dict(), default=repr)]
    return "\n".join(parts)


@pytest.fixture
def observable() -> Callable[[ExecutionResult], str]:
    """``observable(result)``: the guest-visible fields of a result as text."""
    return _observable


@pytest.fixture(scope="session")
def crm() -> Iterator[ExampleCRM]:
    """One CRM for the session: tests use their own tags and count call deltas."""
    with ExampleCRM(active=200) as crm:
        yield crm


@pytest.fixture(scope="session")
def crm_sandbox(crm: ExampleCRM) -> Iterator[Sandbox]:
    """The CRM's tools granted twice: at top level and under ``crm.``."""
    tools = ToolSet([crm.toolset(), crm.toolset(namespace="crm")])
    with Sandbox(tools=tools, pool_size=2) as sb:
        sb.wait_ready()
        yield sb
