"""The seed scenario end to end: one tool per turn vs batch vs code action, per provider."""

from __future__ import annotations

import pytest

from runtime.llm import ScriptedModel, Turn, call, run_agent
from runtime.llm._crm_agents import run_crm_agent
from runtime.llm.providers import PROVIDERS, by_name

ACTIVE = 200


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "strategy, round_trips",
    [("one_per_turn", ACTIVE + 1), ("batch", 2), ("code", 1)],
    ids=["one-per-turn", "batch", "code"],
)
def test_each_strategy_tags_everyone_in_its_number_of_turns(provider: str, strategy: str, round_trips: int) -> None:
    run, crm = run_crm_agent(strategy, by_name(provider), active=ACTIVE)  # type: ignore[arg-type]
    assert len(crm.tagged("reviewed")) == ACTIVE
    assert run.tool_round_trips == round_trips
    assert run.model_calls == round_trips + 1
    assert str(ACTIVE) in run.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_code_action_returns_only_the_aggregate(provider: str) -> None:
    runs = {strategy: run_crm_agent(strategy, by_name(provider))[0] for strategy in ("batch", "code")}
    code = runs["code"]
    assert code.tool_output_bytes == len("tagged 200 candidates\n")
    assert runs["batch"].tool_output_bytes > 100 * code.tool_output_bytes  # the list and 200 results


def test_the_loop_stops_a_model_that_never_answers() -> None:
    from runtime.llm import Toolkit
    from runtime.llm.providers import anthropic

    model = ScriptedModel(anthropic, [Turn(calls=[call("execute_code", code="1")])] * 5)
    with Toolkit(code_action=True, pool_size=0) as kit, pytest.raises(RuntimeError, match="within 3 model calls"):
        run_agent(model, kit.conversation(), anthropic, "loop", max_turns=3)


def test_the_scripted_model_refuses_to_improvise() -> None:
    from runtime.llm.providers import openai_chat

    model = ScriptedModel(openai_chat, [Turn(text="hi")])
    assert openai_chat.text(model(messages=[])) == "hi"
    with pytest.raises(RuntimeError, match="has 1 turns"):
        model(messages=[])
