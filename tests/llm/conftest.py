"""Fixtures for the meta-tool tests: one example CRM and one toolkit per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_tools import get_weather, refund_order, send_email, whoami

from host_functions import ExampleCRM, ToolSet
from runtime import Limits
from runtime.llm import Toolkit


@pytest.fixture(scope="session")
def crm() -> Iterator[ExampleCRM]:
    with ExampleCRM(active=30, others=5) as crm:
        yield crm


@pytest.fixture(scope="session")
def kit(crm: ExampleCRM) -> Iterator[Toolkit]:
    """CRM tools direct, three deferred tools behind search, one tool only for code."""
    with Toolkit(
        direct=crm.toolset(),
        deferred=ToolSet([send_email, refund_order, get_weather]),
        code_only=ToolSet([whoami]),
        limits=Limits(timeout=10.0),
        output_budget=4000,
    ) as toolkit:
        yield toolkit
