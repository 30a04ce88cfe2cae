"""What crosses between a model and the meta-tools, whatever the provider.

A provider adapter (``runtime.llm.providers``) turns ``ToolSpec``s into that
provider's tool definitions, a provider response into ``ToolRequest``s, and
``ToolResponse``s into that provider's tool-result message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from host_functions import Tool

__all__ = ["ToolRequest", "ToolResponse", "ToolSpec", "canonical_name", "wire_name"]

_WIRE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def wire_name(name: str) -> str:
    """A tool name as every provider accepts it: ``crm.list_candidates`` is sent
    as ``crm-list_candidates`` (a hyphen never occurs in a Python name, so the
    mapping is reversible). Raises ``ValueError`` for a name no provider takes."""
    wire = name.replace(".", "-")
    if not _WIRE_NAME.match(wire):
        raise ValueError(
            f"tool name {name!r} cannot be sent to a model: providers accept 1-64 characters "
            "from letters, digits, '_' and '-' (a namespace dot is sent as '-'); shorten it"
        )
    return wire


def canonical_name(wire: str) -> str:
    """The tool name a provider's ``wire`` name stands for (see ``wire_name``)."""
    return wire.replace("-", ".")


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """A tool as a model sees it: the provider-neutral definition."""

    name: str
    """The tool's name (dotted for a namespace; adapters send ``wire_name(name)``)."""
    description: str
    """What the tool does, written for the model."""
    parameters: dict[str, Any]
    """JSON Schema (an object) of the arguments."""
    returns: dict[str, Any] | None = None
    """JSON Schema of the result, when known (MCP's ``outputSchema`` when it is an object)."""

    @classmethod
    def from_tool(cls, tool: Tool) -> ToolSpec:
        """The spec of an application tool, as a direct tool for the model."""
        return cls(name=tool.name, description=tool.description, parameters=tool.parameters, returns=tool.returns)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolRequest:
    """A model asking for one tool call."""

    id: str
    """The provider's id for the call, echoed in the result (adapters make one
    up where the provider has none)."""
    name: str
    """The tool's canonical name (``canonical_name`` of what the model sent)."""
    arguments: str
    """The arguments as JSON text, exactly as the model wrote them (not
    validated: that happens on the host, against the tool's schema)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolResponse:
    """What goes back to the model for one ``ToolRequest``."""

    id: str
    """The ``ToolRequest.id`` this answers."""
    name: str
    """The tool's canonical name."""
    content: str
    """The text the model reads (for a code action: output, value and any error report)."""
    is_error: bool = False
    """True when the call failed; the content then says why and how to fix it."""
    data: Any = field(default=None, compare=False)
    """The structured result, for adapters that carry one besides the text
    (MCP ``structuredContent``); ``None`` when there is none."""
