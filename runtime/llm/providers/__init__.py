"""Provider adapters: our neutral tool types in each LLM provider's JSON.

``openai_chat``, ``openai_responses``, ``anthropic`` and ``gemini`` are
``ProviderFormat``s (tool definitions, tool calls out of a response, history
messages, scripted responses); ``mcp`` serves tools over the Model Context
Protocol. All work on plain dicts as the HTTP APIs send them: no SDK needed.
"""

from ._anthropic import Anthropic as _Anthropic
from ._base import ProviderFormat
from ._gemini import Gemini as _Gemini
from ._mcp import mcp
from ._openai_chat import OpenAIChat as _OpenAIChat
from ._openai_responses import OpenAIResponses as _OpenAIResponses

__all__ = ["PROVIDERS", "ProviderFormat", "anthropic", "by_name", "gemini", "mcp", "openai_chat", "openai_responses"]

openai_chat: ProviderFormat = _OpenAIChat()
openai_responses: ProviderFormat = _OpenAIResponses()
anthropic: ProviderFormat = _Anthropic()
gemini: ProviderFormat = _Gemini()

_FORMATS: dict[str, ProviderFormat] = {f.name: f for f in (openai_chat, openai_responses, anthropic, gemini)}

PROVIDERS: tuple[str, ...] = tuple(_FORMATS)
"""The names of the chat formats, as ``by_name`` takes them."""


def by_name(name: str) -> ProviderFormat:
    """The chat format called ``name``; raises ``ValueError`` listing the valid names."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown provider format {name!r}; expected one of {', '.join(PROVIDERS)}") from None
