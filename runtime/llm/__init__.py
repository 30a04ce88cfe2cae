"""The LLM-facing side: meta-tools a model calls, in any provider's format.

Data flow: a model's tool request (parsed by ``runtime.llm.providers``) ->
``Conversation.handle`` -> the code-action tool (a script in a fresh
``Sandbox`` with the granted tools), the batch tool (concurrent host-side
calls), the tool-search tool (BM25 or regex over deferred tools) or a direct
tool call -> a ``ToolResponse`` -> the provider's tool-result message.

``Toolkit`` decides how each ToolSet is exposed (direct, deferred behind
search, or only as code); ``ScriptedModel`` is a model double that replays a
conversation offline.
"""

from ._agent import AgentRun, run_agent
from ._conversation import Conversation, Handled
from ._report import report
from ._scripted_model import ScriptedModel, Seen, Turn, call
from ._search import SearchHit, ToolIndex
from ._spec import ToolRequest, ToolResponse, ToolSpec, canonical_name, wire_name
from ._stubs import python_stubs
from ._toolkit import Toolkit

__all__ = [
    "AgentRun",
    "Conversation",
    "Handled",
    "ScriptedModel",
    "SearchHit",
    "Seen",
    "ToolIndex",
    "ToolRequest",
    "ToolResponse",
    "ToolSpec",
    "Toolkit",
    "Turn",
    "call",
    "canonical_name",
    "python_stubs",
    "report",
    "run_agent",
    "wire_name",
]
