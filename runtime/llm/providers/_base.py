"""``ProviderFormat``: the interface every chat-provider adapter implements,
and the small checks they share for reading a provider's JSON.

Adapters work on plain JSON values (dicts, lists, strings) exactly as the
provider's HTTP API sends and receives them, so no SDK is needed at runtime.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .._spec import ToolRequest, ToolResponse, ToolSpec

__all__ = [
    "ProviderFormat",
    "arguments_object",
    "call_name",
    "expect_list",
    "expect_object",
    "expect_str",
    "stable_id",
    "trailing",
    "without_none",
]


class ProviderFormat(abc.ABC):
    """One provider's wire format for tool calling.

    Every method takes and returns plain JSON values. Tool names always go out
    as ``wire_name(spec.name)`` and come back as ``canonical_name(wire)``.
    Methods that read a provider response raise ``ValueError`` naming the
    expected shape and where it was not found.
    """

    name: ClassVar[str]
    """The format's name, as ``by_name`` takes it."""

    @abc.abstractmethod
    def tools(self, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        """The tool definitions for the request body's ``tools`` field."""

    @abc.abstractmethod
    def tool_requests(self, response: Mapping[str, Any]) -> list[ToolRequest]:
        """The tool calls in a response body, in order (empty when there are none)."""

    @abc.abstractmethod
    def assistant_message(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What to append to the conversation to record the model's turn."""

    @abc.abstractmethod
    def tool_results(self, responses: Sequence[ToolResponse]) -> list[dict[str, Any]]:
        """What to append to the conversation to answer the model's tool calls."""

    @abc.abstractmethod
    def read_tool_results(self, messages: Sequence[Mapping[str, Any]]) -> list[ToolResponse]:
        """The tool results a history ends with (what ``tool_results`` appended
        after the model's last turn), names looked up from the calls they
        answer; empty when it does not end with results. For a scripted model
        reading its conversation. Raises ``ValueError`` for a result that
        answers no call in the history."""

    @abc.abstractmethod
    def user_message(self, text: str) -> list[dict[str, Any]]:
        """A user turn carrying ``text``."""

    @abc.abstractmethod
    def text(self, response: Mapping[str, Any]) -> str:
        """The model's text in a response body (its text parts joined; "" if none)."""

    @abc.abstractmethod
    def response(self, *, text: str | None = None, calls: Sequence[ToolRequest] = ()) -> dict[str, Any]:
        """A response body as the provider's API would send it, for replaying a
        conversation offline. ``tool_requests`` of it gives back ``calls``
        (arguments compare equal when written by ``json.dumps``). Raises
        ``ValueError`` when the provider needs object arguments and a call's
        arguments are not a JSON object."""

    def __repr__(self) -> str:
        return f"<ProviderFormat {self.name}>"


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def expect_object(value: object, where: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object; raises ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def expect_list(value: object, where: str) -> list[Any]:
    """``value`` if it is a JSON array; raises ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a JSON array, got {_kind(value)}")
    return list(value)


def expect_str(value: object, where: str) -> str:
    """``value`` if it is a string; raises ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {_kind(value)}")
    return value


def trailing(
    messages: Sequence[Mapping[str, Any]], is_result: Callable[[Mapping[str, Any]], bool]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """``messages`` checked to be objects, split into what comes before the
    results they end with and those results."""
    items = [expect_object(m, f"messages[{i}]") for i, m in enumerate(messages)]
    start = len(items)
    while start > 0 and is_result(items[start - 1]):
        start -= 1
    return items[:start], items[start:]


def call_name(names: Mapping[str, str], call_id: str, provider: str) -> str:
    """The name of the call ``call_id`` answers, from a map of call ids to
    names; raises ``ValueError`` when there is no such call."""
    if call_id not in names:
        raise ValueError(f"{provider} history: a tool result answers call {call_id!r}, which no assistant turn made")
    return names[call_id]


def arguments_object(call: ToolRequest, provider: str) -> dict[str, Any]:
    """A call's JSON-text arguments as the object a provider sends; raises
    ``ValueError`` when they are not a JSON object."""
    try:
        value = json.loads(call.arguments)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{provider}: arguments of call {call.id!r} are not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{provider}: arguments of call {call.id!r} must be a JSON object, got {_kind(value)}")
    return value


def without_none(value: Any) -> Any:
    """``value`` with null-valued object keys dropped, recursively. A response
    dumped from an SDK model spells every absent optional field as null, and
    some APIs reject those nulls when the item is sent back as history."""
    if isinstance(value, Mapping):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [without_none(v) for v in value]
    return value


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id for a built response, so replays compare equal."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()
    return f"{prefix}{digest[:24]}"
