"""The seed scenario for a model: "tag the 200 active candidates as reviewed".

Three scripted agents (``runtime.llm._crm_agents``) do the same job through
the same agent loop: one tool call per model turn, the batch tool, and one
code action. Expected: 201 vs 2 vs 1 tool round trips, and the code action
returning only the aggregate. Recorded per strategy: model calls, tool round
trips, bytes of tool output entering the model's context, bytes of history
sent over all model calls (input a provider bills before caching), and the
host-side wall time of the whole loop (no model latency: the model is
scripted, so this is the runtime's own cost).

Every run's effect is checked (200 candidates tagged); timings are never asserted.
"""

from __future__ import annotations

import pytest
from bench_support import Record, median_of
from pytest_benchmark.fixture import BenchmarkFixture

from runtime.llm._crm_agents import STRATEGIES, Strategy, run_crm_agent
from runtime.llm.providers import anthropic

SECTION = "agent loop, 200-candidate tagging job (scripted model, Anthropic format)"
ROUND_TRIPS = {"one_per_turn": 201, "batch": 2, "code": 1}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_agent_strategy(benchmark: BenchmarkFixture, figure: Record, strategy: Strategy) -> None:
    runs = []

    def once() -> None:
        run, crm = run_crm_agent(strategy, anthropic)
        assert len(crm.tagged("reviewed")) == 200
        runs.append(run)

    benchmark.pedantic(once, rounds=3, iterations=1)
    run = runs[-1]
    assert run.tool_round_trips == ROUND_TRIPS[strategy]
    figure(SECTION, f"{strategy}: model calls", run.model_calls, "calls")
    figure(SECTION, f"{strategy}: tool round trips", run.tool_round_trips, "trips", goal=str(ROUND_TRIPS[strategy]))
    figure(SECTION, f"{strategy}: tool output to the model", run.tool_output_bytes, "bytes")
    figure(SECTION, f"{strategy}: history sent, all calls", run.history_bytes_sent, "bytes")
    median = median_of(benchmark)
    if median is not None:
        figure(SECTION, f"{strategy}: host time, whole loop", median, "s")
