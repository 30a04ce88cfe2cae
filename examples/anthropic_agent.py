"""The agent loop (agent_loop.py) in Anthropic's Messages format, offline.

With a real model, pass ``model``::

    client = anthropic.Anthropic()

    def model(*, messages, tools):
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=4096, messages=messages, tools=tools
        ).model_dump()

    main(anthropic, model)
"""

from agent_loop import main

from runtime.llm.providers import anthropic

main(anthropic)
