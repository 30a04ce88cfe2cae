"""The agent loop every ``*_agent.py`` example runs, in any provider's format.

The model finds the CRM's tools with tool search, tags every active
candidate in one code action, and reads back only the aggregate. Offline,
the model is a ``ScriptedModel`` that replays that conversation; pass your
own ``model(messages=..., tools=...)`` returning the provider's response
body to run the same loop against a real one.
"""

from collections.abc import Callable, Mapping
from typing import Any

from host_functions import ExampleCRM
from runtime.llm import ScriptedModel, Toolkit, Turn, call
from runtime.llm.providers import ProviderFormat

SCRIPT = """\
cands = crm.list_candidates(status="active", page_size=500)
await asyncio.gather(*(crm.tag_candidate(c["id"], "reviewed") for c in cands))
print(f"tagged {len(cands)} candidates")
"""


def scripted_model(provider: ProviderFormat) -> ScriptedModel:
    """It asks for tools, writes a code action, and reads the result."""
    return ScriptedModel(
        provider,
        [
            Turn(text="Let me find the CRM tools.", calls=[call("tool_search", query="list and tag candidates", k=3)]),
            Turn(calls=[call("execute_code", code=SCRIPT)]),
            lambda seen: Turn(text=f"Done: {seen.results[-1].content.strip()}."),
        ],
    )


def main(provider: ProviderFormat, model: Callable[..., Mapping[str, Any]] | None = None) -> None:
    crm = ExampleCRM(active=200)
    model = model or scripted_model(provider)
    calls = 0
    with Toolkit(deferred=crm.toolset(namespace="crm")) as kit:
        chat = kit.conversation()
        tools = provider.tools(chat.specs())  # the same list on every call: the prompt cache holds
        messages = provider.user_message("Tag the 200 active candidates as reviewed.")
        while True:
            response = model(messages=messages, tools=tools)
            calls += 1
            messages += provider.assistant_message(response)
            requests = provider.tool_requests(response)
            if not requests:
                break
            for request in requests:
                print(f"-> {request.name}({request.arguments[:60]}...)")
            messages += provider.tool_results(chat.handle_all(requests))
    print(provider.text(response))
    print(f"[host] {len(crm.tagged('reviewed'))} candidates tagged, in {calls} model calls")
