"""``run_agent``: the classic agent loop over any provider format, measured.

The loop sends the history and the tool list, appends the model's turn,
answers its tool requests through a ``Conversation``, appends the results,
and stops at the first turn without tool requests. It counts what matters
for cost: model calls, tool round trips, and the bytes of tool output that
entered the model's context.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._conversation import Conversation
    from .providers import ProviderFormat

__all__ = ["AgentRun", "Model", "run_agent"]

Model = Callable[..., Mapping[str, Any]]
"""``model(messages=[...], tools=[...])`` -> a provider response body
(a ``ScriptedModel``, or a thin wrapper around a real client)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentRun:
    """What one agent loop cost and produced."""

    text: str
    """The model's final answer."""
    model_calls: int
    """Requests made to the model, the final answer's included."""
    tool_round_trips: int
    """Model turns that asked for tools (each one waits for the model)."""
    tool_calls: int
    """Tool requests the model made (meta-tools count once each)."""
    tool_output_bytes: int
    """UTF-8 bytes of tool results sent back into the model's context."""
    history_bytes_sent: int
    """UTF-8 bytes of JSON history sent over all model calls: every call
    re-sends the conversation so far (what a provider bills as input
    before any prompt caching)."""
    messages: list[dict[str, Any]]
    """The whole conversation history, in the provider's format."""


def run_agent(
    model: Model,
    conversation: Conversation,
    provider: ProviderFormat,
    prompt: str,
    *,
    context: Any = None,
    max_turns: int = 1000,
    history: Sequence[dict[str, Any]] = (),
) -> AgentRun:
    """Run the loop from ``prompt`` until the model answers without tools.
    Raises ``RuntimeError`` when it takes more than ``max_turns`` model calls."""
    messages = [*history, *provider.user_message(prompt)]
    tools = provider.tools(conversation.specs())
    calls = output = sent = 0
    for turn in range(1, max_turns + 1):
        sent += len(json.dumps(messages, ensure_ascii=False).encode("utf-8"))
        response = model(messages=messages, tools=tools)
        messages += provider.assistant_message(response)
        requests = provider.tool_requests(response)
        if not requests:
            return AgentRun(
                text=provider.text(response),
                model_calls=turn,
                tool_round_trips=turn - 1,  # every turn before the answer asked for tools
                tool_calls=calls,
                tool_output_bytes=output,
                history_bytes_sent=sent,
                messages=messages,
            )
        calls += len(requests)
        results = conversation.handle_all(requests, context=context)
        output += sum(len(result.content.encode("utf-8")) for result in results)
        messages += provider.tool_results(results)
    raise RuntimeError(f"the agent did not finish within {max_turns} model calls")
