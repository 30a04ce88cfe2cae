"""``ScriptedModel``: a model double that replays a conversation, offline.

It answers each request with the next step of its script, shaped as the
provider's real response body, so an agent loop written against a provider
runs unchanged without network. A step is a fixed ``Turn`` or a function of
what the model has seen so far (the tool results in the conversation), so a
script can read a result and act on it, as a model would.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._spec import ToolRequest, ToolResponse

if TYPE_CHECKING:
    from .providers import ProviderFormat

__all__ = ["ScriptedModel", "Turn", "call"]


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    arguments: dict[str, Any]


def call(name: str, /, **arguments: Any) -> _Call:
    """One tool call for a ``Turn``: ``call("execute_code", code="...")``."""
    return _Call(name, arguments)


@dataclass(frozen=True, kw_only=True, slots=True)
class Turn:
    """What the model says in one response."""

    text: str | None = None
    """Its text (the final answer, when there are no calls)."""
    calls: Sequence[_Call] = ()
    """The tool calls it asks for, in order."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Seen:
    """What a step function is given: the model's view of the conversation."""

    messages: Sequence[Mapping[str, Any]]
    """The whole history the model was sent."""
    results: list[ToolResponse]
    """The tool results of the latest turn (empty on the first)."""
    tools: Sequence[Mapping[str, Any]]
    """The tool definitions the model was sent."""

    def result(self, index: int = -1) -> Any:
        """A result's content parsed as JSON (the text itself if it is not JSON)."""
        content = self.results[index].content
        try:
            return json.loads(content)
        except ValueError:
            return content


Step = Turn | Callable[[Seen], Turn]


@dataclass
class ScriptedModel:
    """A provider-shaped model that plays ``steps`` in order.

    Usage::

        model = ScriptedModel(providers.anthropic, [
            Turn(calls=[call("execute_code", code="print(len(list_candidates('active')))")]),
            lambda seen: Turn(text=f"There are {seen.result()} active candidates."),
        ])
        response = model(messages=history, tools=tool_definitions)

    Raises ``RuntimeError`` when asked for more turns than the script has.
    ``requests`` records what it was sent, for tests and measurements.
    """

    format: ProviderFormat
    steps: Sequence[Step]
    requests: list[Seen] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def __call__(
        self, *, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """The next response, as the provider's API would return it."""
        turn_index = len(self.requests)
        if turn_index >= len(self.steps):
            raise RuntimeError(f"the scripted model has {len(self.steps)} turns and was asked for one more")
        seen = Seen(messages=list(messages), results=self.format.read_tool_results(messages), tools=list(tools))
        self.requests.append(seen)
        step = self.steps[turn_index]
        turn = step(seen) if callable(step) else step
        calls = [
            ToolRequest(id=f"call_{next(self._ids)}", name=c.name, arguments=json.dumps(c.arguments))
            for c in turn.calls
        ]
        return self.format.response(text=turn.text, calls=calls)

    @property
    def turns(self) -> int:
        """How many responses it has given."""
        return len(self.requests)
